"""The monthly budget guard: paid requests reserve their worst case before they run.

A request's final cost is known only after it streams, so checking "spent < budget"
before sending lets twenty concurrent requests all pass the check and overshoot
together. Instead each paid request *reserves* its worst-case cost (from the
estimator) in the ledger file, in one ``BEGIN IMMEDIATE`` transaction that checks
``spent + outstanding reservations + worst case <= budget`` and inserts the
reservation. That transaction is atomic across threads and processes (GUI and CLI
share the file), so the sum of admitted worst cases never passes the budget.

Lifecycle, for the dispatcher::

    reservation = guard.reserve(request_id, worst_case, start=first_attempt)  # raises BudgetExceeded
    try:
        ... call the provider; store.finish_attempt(...) each attempt (later ones
        started with store.start_attempt(...)) ...
    finally:
        guard.settle(reservation)   # after the attempt rows, which carry the real cost

``start`` (the first attempt, outcome ``in_flight``) is written in the reservation's
own transaction, so starting a paid attempt adds no database write before the call.
Settling after recording means the cost is counted twice for an instant (safe)
rather than not at all (unsafe). A reservation lives exactly as long as its request,
however long that is (one reservation covers all of a model's retries): it names its
process, and only when that process is gone (PID ended, or reused by another process)
is it reclaimed, by the next reservation or the next opening of the ledger. No clock
ever expires it. An in-flight attempt's cost counts through its reservation, not its
row. Local (zero-cost) requests need no reservation and are never refused. Months
are UTC.

A team member may have a monthly limit of their own inside the budget (the setting
``team.member_limits``; the member is the store's, core/ledger/members.py). The same
reservation checks it in the same transaction: the member's spent + held + worst case
must stay within their limit, so concurrent requests overshoot neither the budget nor
the limit. A request the limit refuses raises :class:`MemberLimitExceeded`, a
:class:`BudgetExceeded` that names the limit, and the at-cap rule applies as at the cap.

In team mode the terms (:class:`BudgetTerms`: the monthly amount, the at-cap rule, the
alert threshold) are the team's, kept in the shared database and re-read every few seconds
(core/team_budget.py), so every install enforces the same budget on the same spend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from sparklio_desktop.core.errors import BudgetError, UnknownNameError
from sparklio_desktop.core.ledger import (
    AttemptRecord,
    current_month,
    month_bounds,
    month_of,
    to_picodollars,
    utcnow,
)
from sparklio_desktop.core.money import format_usd_distinct

if TYPE_CHECKING:  # `sparklio spend` asks status() of a LedgerReader: no SQLAlchemy
    from sparklio_desktop.core.ledger import LedgerStore
    from sparklio_desktop.core.ledger.owners import ProcessOwner

AtCapPolicy = Literal["local_only", "stop"]
AT_CAP_POLICIES: frozenset[str] = frozenset(get_args(AtCapPolicy))
THRESHOLD_ALERT = "threshold"


@dataclass(frozen=True)
class BudgetStatus:
    month: str
    budget_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal  # held by requests in flight
    percent: Decimal  # spent as a percentage of the budget, to 0.1
    alert: bool  # spent has reached the alert threshold
    capped: bool  # nothing left for another paid request

    @property
    def left_usd(self) -> Decimal:
        return max(Decimal(0), self.budget_usd - self.spent_usd - self.reserved_usd)


def month_status(
    month: str, budget_usd: Decimal, alert_threshold: Decimal, spent_usd: Decimal, reserved_usd: Decimal
) -> BudgetStatus:
    """The month against the budget, from its spend and outstanding reservations read
    together: by :meth:`BudgetGuard.status` from its store, by ``sparklio spend`` through
    the read-only reader (core/ledger/reader.py)."""
    if budget_usd > 0:
        percent = (spent_usd * 100 / budget_usd).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    else:
        percent = Decimal(100)
    return BudgetStatus(
        month=month,
        budget_usd=budget_usd,
        spent_usd=spent_usd,
        reserved_usd=reserved_usd,
        percent=percent,
        alert=budget_usd > 0 and spent_usd >= budget_usd * alert_threshold,
        capped=spent_usd + reserved_usd >= budget_usd,
    )


GaugeLevel = Literal["ok", "amber", "red"]


def gauge_level(
    spent_usd: Decimal, budget_usd: Decimal, alert_threshold: Decimal, projection_usd: Decimal
) -> GaugeLevel:
    """The budget gauge's colour, one rule for the spend panel and the status bar: red at
    the cap, amber from the alert threshold or when the month-end projection passes the
    budget (a warning while there is still time to act), otherwise ok."""
    if spent_usd >= budget_usd:
        return "red"
    if spent_usd >= budget_usd * alert_threshold or projection_usd > budget_usd:
        return "amber"
    return "ok"


@dataclass(frozen=True)
class Reservation:
    """Money held for one request; ``id`` is None for a free request (nothing held)."""

    id: int | None
    request_id: str
    month: str
    amount_usd: Decimal


class BudgetExceeded(BudgetError):
    """A paid request would take the month past its budget."""

    def __init__(self, message: str, *, month: str, requested_usd: Decimal, left_usd: Decimal, at_cap: str) -> None:
        super().__init__(message)
        self.month = month
        self.requested_usd = requested_usd
        self.left_usd = left_usd
        self.at_cap = at_cap


class MemberLimitExceeded(BudgetExceeded):
    """A paid request would take this team member past their own monthly limit."""

    def __init__(self, message: str, *, member: str, limit_usd: Decimal, **rest: Any) -> None:
        super().__init__(message, **rest)
        self.member = member
        self.limit_usd = limit_usd


@dataclass(frozen=True)
class MemberStatus:
    """One member's month against their own limit (None: no limit of their own)."""

    member: str
    limit_usd: Decimal | None
    spent_usd: Decimal
    reserved_usd: Decimal

    @property
    def left_usd(self) -> Decimal | None:
        if self.limit_usd is None:
            return None
        return max(Decimal(0), self.limit_usd - self.spent_usd - self.reserved_usd)


def member_limit(limits: Mapping[str, Decimal], member: str) -> Decimal | None:
    """``member``'s monthly limit from ``team.member_limits`` (None: not listed)."""
    value = limits.get(member)
    return None if value is None else Decimal(str(value))


@dataclass(frozen=True)
class BudgetTerms:
    """What the budget is: the monthly amount, what happens at the cap, the alert threshold."""

    monthly_usd: Decimal
    at_cap: AtCapPolicy
    alert_threshold: Decimal


def checked_terms(monthly_usd: Decimal, at_cap: str, alert_threshold: Decimal) -> BudgetTerms:
    """The terms, or ValueError / UnknownNameError for terms no budget can have."""
    to_picodollars(monthly_usd)  # exact Decimal or int, or raise now
    if monthly_usd < 0:
        raise ValueError("the monthly budget cannot be negative")
    if at_cap not in AT_CAP_POLICIES:
        raise UnknownNameError("at-cap policy", at_cap, AT_CAP_POLICIES)
    if not 0 < Decimal(str(alert_threshold)) <= 1:
        raise ValueError("alert_threshold is a share of the budget, above 0 and at most 1")
    return BudgetTerms(Decimal(monthly_usd), cast("AtCapPolicy", at_cap), Decimal(str(alert_threshold)))


class BudgetGuard:
    """Enforces one monthly budget over the ledger at ``store`` (and, with
    ``member_limit_usd``, the store's member's own monthly limit inside it).

    ``shared_terms`` (team mode, core/team_budget.py): given this install's terms, the terms
    in force (the team's values in their place), asked on each use (it re-reads the team
    database at most every few seconds), so a budget set on one install is what every
    install enforces."""

    def __init__(
        self,
        store: LedgerStore,
        monthly_usd: Decimal,
        at_cap: AtCapPolicy,
        alert_threshold: Decimal = Decimal("0.8"),
        *,
        clock: Callable[[], datetime] = utcnow,
        member_limit_usd: Decimal | None = None,
        shared_terms: Callable[[BudgetTerms], BudgetTerms] | None = None,
    ) -> None:
        if member_limit_usd is not None and to_picodollars(member_limit_usd) < 0:
            raise ValueError("a member's monthly limit cannot be negative")
        self._own_terms = checked_terms(monthly_usd, at_cap, alert_threshold)
        self._shared_terms = shared_terms
        self.store = store
        self._own_member_limit = None if member_limit_usd is None else Decimal(member_limit_usd)
        self._clock = clock

    @property
    def member_limit_usd(self) -> Decimal | None:
        """The store's member's own monthly limit in force: in team mode the team's
        ``team.member_limits`` once the team has set them (core/team_budget.py), else this
        install's. None: no limit of their own."""
        limit = getattr(self._shared_terms, "member_limit", None)
        if limit is None:
            return self._own_member_limit
        return cast("Decimal | None", limit(self._own_member_limit, self.member))

    @member_limit_usd.setter
    def member_limit_usd(self, value: Decimal | None) -> None:
        """This install's own limit for its member (the settings view-model applies a saved
        settings.json this way; the team's limits still win in team mode)."""
        if value is not None and to_picodollars(value) < 0:
            raise ValueError("a member's monthly limit cannot be negative")
        self._own_member_limit = None if value is None else Decimal(value)

    def member_limits_last_read(self, own: Mapping[str, Decimal]) -> Mapping[str, Decimal]:
        """Every member's limit in force as last read, without a query (a view on the UI
        thread asks this): the team's once the team has set them, else ``own``."""
        last_read = getattr(self._shared_terms, "limits_last_read", None)
        team = None if last_read is None else last_read()
        return own if team is None else cast("Mapping[str, Decimal]", team)

    def terms_last_read(self) -> BudgetTerms:
        """The terms in force as last read: no query (a view on the UI thread asks this)."""
        last_read = getattr(self._shared_terms, "last_read", None)
        return self._own_terms if last_read is None else cast("BudgetTerms", last_read(self._own_terms))

    def refresh_terms(self) -> BudgetTerms:
        """Read the team's terms now (after a change made here); blocking, for an executor."""
        refresh = getattr(self._shared_terms, "refresh", None)
        if refresh is not None:
            refresh()
        return self.terms

    @property
    def shared(self) -> bool:
        """Whether the terms are the team's (team mode), not this install's settings."""
        return self._shared_terms is not None

    @property
    def terms(self) -> BudgetTerms:
        """The terms in force: the team's where it has set them (team mode), else this install's."""
        return self._own_terms if self._shared_terms is None else self._shared_terms(self._own_terms)

    # Reading one gives the term in force; setting one changes this install's own (the
    # settings view-model applies a saved settings.json this way; the team's still win).
    @property
    def monthly_usd(self) -> Decimal:
        return self.terms.monthly_usd

    @monthly_usd.setter
    def monthly_usd(self, value: Decimal) -> None:
        own = self._own_terms
        self._own_terms = checked_terms(value, own.at_cap, own.alert_threshold)

    @property
    def at_cap(self) -> AtCapPolicy:
        return self.terms.at_cap

    @at_cap.setter
    def at_cap(self, value: AtCapPolicy) -> None:
        own = self._own_terms
        self._own_terms = checked_terms(own.monthly_usd, value, own.alert_threshold)

    @property
    def alert_threshold(self) -> Decimal:
        return self.terms.alert_threshold

    @alert_threshold.setter
    def alert_threshold(self, value: Decimal) -> None:
        own = self._own_terms
        self._own_terms = checked_terms(own.monthly_usd, own.at_cap, value)

    @property
    def member(self) -> str:
        """The member whose limit applies: the one the store writes as."""
        return self.store.member

    def member_status(self, month: str | None = None) -> MemberStatus:
        """This member's month: spent, held, and their limit (None: none of their own)."""
        month = month or current_month(self._clock())
        spent, reserved = self.store.member_snapshot(month)
        return MemberStatus(self.member, self.member_limit_usd, spent, reserved)

    def status(self, month: str | None = None) -> BudgetStatus:
        now = self._clock()
        month = month or current_month(now)
        spent, reserved = self.store.budget_snapshot(month)
        return month_status(month, self.monthly_usd, self.alert_threshold, spent, reserved)

    def reserve(
        self,
        request_id: str,
        worst_case_usd: Decimal,
        *,
        start: AttemptRecord | Sequence[AttemptRecord] | None = None,
        owner: ProcessOwner | None = None,
    ) -> Reservation:
        """Hold ``worst_case_usd`` for a request, or raise :class:`BudgetExceeded`.

        A zero worst case (a local model) holds nothing and always succeeds. ``start``,
        an ``in_flight`` attempt (or a provider batch job's many), is written with the
        reservation (in its transaction), or alone for a zero worst case; when the
        reservation is refused it is not. ``owner``: who holds it, when not this process
        (a provider batch job, core/ledger/owners.py).
        """
        if to_picodollars(worst_case_usd) < 0:
            raise ValueError("a worst-case cost cannot be negative")
        now = self._clock()
        month = month_of(now)
        if worst_case_usd == 0:
            for record in [] if start is None else [start] if isinstance(start, AttemptRecord) else start:
                self.store.start_attempt(record)
            return Reservation(None, request_id, month, Decimal(0))
        member_limit_usd = self.member_limit_usd  # read once: the team may change it meanwhile
        outcome = self.store.try_reserve(
            request_id=request_id,
            month=month,
            amount_usd=worst_case_usd,
            limit_usd=self.monthly_usd,
            now=now,
            start=start,
            owner=owner,
            member_limit_usd=member_limit_usd,
        )
        if outcome.refused_by == "member":
            assert member_limit_usd is not None  # only a member limit refuses as "member"
            spent = outcome.member_spent_usd or Decimal(0)
            reserved = outcome.member_reserved_usd or Decimal(0)
            left = max(Decimal(0), member_limit_usd - spent - reserved)
            raise MemberLimitExceeded(
                self._member_refusal(month, worst_case_usd, left, member_limit_usd, spent, reserved),
                member=self.member,
                limit_usd=member_limit_usd,
                month=month,
                requested_usd=worst_case_usd,
                left_usd=left,
                at_cap=self.at_cap,
            )
        if outcome.reservation_id is None:
            left = max(Decimal(0), self.monthly_usd - outcome.spent_usd - outcome.reserved_usd)
            raise BudgetExceeded(
                self._refusal(month, worst_case_usd, left, outcome.spent_usd, outcome.reserved_usd),
                month=month,
                requested_usd=worst_case_usd,
                left_usd=left,
                at_cap=self.at_cap,
            )
        return Reservation(outcome.reservation_id, request_id, month, worst_case_usd)

    def settle(self, reservation: Reservation) -> None:
        """Release the hold once the attempts are recorded. Safe to call twice."""
        if reservation.id is not None:
            self.store.release_reservation(reservation.id)

    def alert_due(self, month: str | None = None) -> bool:
        """True exactly once per month: the first call after spend reaches the threshold."""
        now = self._clock()
        month = month or current_month(now)
        if self.monthly_usd <= 0:
            return False
        if self.store.month_spend(month) < self.monthly_usd * self.alert_threshold:
            return False
        return self.store.record_alert(month, THRESHOLD_ALERT, now)

    def _member_refusal(
        self, month: str, wanted: Decimal, left: Decimal, limit: Decimal, spent: Decimal, reserved: Decimal
    ) -> str:
        """As :meth:`_refusal`, naming the member's own limit (``team.member_limits``)."""
        resets = month_bounds(month)[1].date().isoformat()
        wanted_t, left_t, limit_t, spent_t, reserved_t = format_usd_distinct(wanted, left, limit, spent, reserved)
        who = self.member
        held = f", {reserved_t} held by requests in progress" if reserved else ""
        raise_it = "until the limit is raised (team.member_limits)"
        if self.at_cap == "local_only":
            then = f"Sparklio uses local models only for {who} until {resets} (UTC) or {raise_it}"
        else:
            then = f"{who}'s paid requests stop until {resets} (UTC) or {raise_it}; local models still run"
        if left <= 0:
            return (
                f"Member limit reached: {who}'s {limit_t} monthly limit for {month} is used up "
                f"({spent_t} spent{held}). {then}."
            )
        if self.at_cap == "local_only":
            then = "Sparklio moves on to a cheaper or local model; raise the limit (team.member_limits) for this one"
        else:
            then = "choose a cheaper or local model, or raise the limit (team.member_limits)"
        return (
            f"Not enough of {who}'s member limit left: this request may cost up to {wanted_t} but only "
            f"{left_t} of {who}'s {limit_t} monthly limit for {month} is left ({spent_t} spent{held}); "
            f"{then}. The limit resets on {resets} (UTC)."
        )

    def _refusal(self, month: str, wanted: Decimal, left: Decimal, spent: Decimal, reserved: Decimal) -> str:
        """ "Monthly budget reached" only when nothing is left; near the cap, how much is left
        and what the request may cost, never two figures that read the same (issue 12)."""
        resets = month_bounds(month)[1].date().isoformat()
        wanted_t, left_t, budget_t, spent_t, reserved_t = format_usd_distinct(
            wanted, left, self.monthly_usd, spent, reserved
        )
        held = f", {reserved_t} held by requests in progress" if reserved else ""
        if left <= 0:
            if self.at_cap == "local_only":
                then = f"Sparklio uses local models only until {resets} (UTC) or until you raise the budget"
            else:
                then = f"paid requests stop until {resets} (UTC) or until you raise the budget; local models still run"
            return (
                f"Monthly budget reached: the {budget_t} budget for {month} is used up "
                f"({spent_t} spent{held}). At the cap {then}."
            )
        if self.at_cap == "local_only":
            then = "Sparklio moves on to a cheaper or local model; raise the budget to allow this one"
        else:
            then = "choose a cheaper or local model, or raise the budget"
        return (
            f"Not enough budget left: this request may cost up to {wanted_t} but only {left_t} of the "
            f"{budget_t} budget for {month} is left ({spent_t} spent{held}); {then}. "
            f"The budget resets on {resets} (UTC)."
        )
