"""Families: the policy names a line of models (``family/claude-sonnet``) and gets its
newest member the creator can use.

The seed's task table names models by family ("Claude Sonnet", "Gemini Flash"); the
providers keep releasing and retiring members. A family reference resolves to the newest
member (by release date, then version) that has the task's capability and is usable:
not retired, priced, and available on this machine (key present, local model installed,
not found missing this session). When no member is usable the newest one that is not
retired stands in, so the decision still shows why it cannot run.

Resolution happens when the catalog, the policy or the machine's facts change (the route
planner keeps the resolved policy, core/routing/planner.py), never per decision: the
router only ever sees model ids. docs/routing.md ("Families") writes the rules down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sparklio_desktop.core.policy.catalog import FAMILY_PREFIX, Capability, Catalog, ModelSpec
from sparklio_desktop.core.policy.routing_policy import Policy, TaskSpec

PREFIX = FAMILY_PREFIX

# Why a member cannot be used now, or ``None`` when it can.
Usable = Callable[[ModelSpec], "str | None"]


def is_family_ref(ref: str) -> bool:
    return ref.startswith(PREFIX)


def family_id(ref: str) -> str:
    return ref[len(PREFIX) :]


@dataclass(frozen=True)
class Resolution:
    """One family reference resolved for one capability."""

    ref: str  # "family/claude-sonnet"
    family: str  # the family's display name
    model_id: str | None  # None: the family has no member with the capability
    why: str  # "Claude Sonnet → claude-sonnet-4-5-20250929, the newest Sonnet your key can use"
    skipped: tuple[tuple[str, str], ...] = ()  # newer members passed over: (id, why)

    def to_dict(self) -> dict[str, object]:
        return {
            "ref": self.ref,
            "family": self.family,
            "model": self.model_id,
            "why": self.why,
            "skipped": [{"model": m, "why": w} for m, w in self.skipped],
        }


def _usable_word(member: ModelSpec, live: bool) -> str:
    if not live:
        return "in the catalog"
    return "installed" if member.local else "your key can use"


def resolve(
    catalog: Catalog,
    ref: str,
    capability: Capability,
    usable: Usable,
    *,
    exclude: frozenset[str] = frozenset(),
    live: bool = True,
) -> Resolution:
    """The member ``ref`` stands for when the task needs ``capability``."""
    fid = family_id(ref)
    family = catalog.families.get(fid)
    name = family.name if family is not None else fid
    word = family.member_word if family is not None else fid
    members = [m for m in catalog.members(fid) if m.has(capability) and m.id not in exclude]
    if not members:
        return Resolution(ref, name, None, f"{name} has no member that can do {capability.value}")
    skipped: list[tuple[str, str]] = []
    for member in members:
        why_not = usable(member)
        if why_not is None:
            text = f"{name} → {member.api_name}, the newest {word} {_usable_word(member, live)}"
            if skipped:
                text += " (" + "; ".join(f"{catalog[m].api_name}: {w}" for m, w in skipped) + ")"
            return Resolution(ref, name, member.id, text, tuple(skipped))
        skipped.append((member.id, why_not))
    standing = next((m for m in members if m.id not in catalog.retired), members[0])
    reasons = "; ".join(f"{catalog[m].api_name}: {w}" for m, w in skipped)
    text = f"{name} → {standing.api_name}: no {word} can be used now ({reasons})"
    return Resolution(ref, name, standing.id, text, tuple(skipped))


def catalog_usable(catalog: Catalog, unavailable: Mapping[str, tuple[object, str]] | None = None) -> Usable:
    """The usual test: not retired, priced, and not unavailable on this machine."""

    def usable(member: ModelSpec) -> str | None:
        retired = catalog.retired.get(member.id)
        if retired is not None:
            return f"retired {retired.since.isoformat()}"
        if member.unpriced:
            return "unpriced"
        gone = (unavailable or {}).get(member.id)
        if gone is not None:
            rule, detail = gone
            label = getattr(rule, "text", str(rule))
            return f"{label}: {detail}" if detail else label
        return None

    return usable


@dataclass(frozen=True)
class ResolvedPolicy:
    """The policy with every family reference replaced by a model id, and how each resolved."""

    policy: Policy
    resolutions: Mapping[str, tuple[Resolution, ...]]  # task name -> its chain's family references


def uses_families(policy: Policy) -> bool:
    refs = [ref for task in policy.tasks.values() for ref in task.chain]
    for tier in policy.budget_tiers.values():
        refs += [*tier.primary, *tier.avoid, *(tier.occasional.models if tier.occasional else [])]
    return any(is_family_ref(ref) for ref in refs)


def resolve_policy(policy: Policy, catalog: Catalog, usable: Usable, *, live: bool = True) -> ResolvedPolicy:
    """Every family reference in ``policy`` resolved against ``catalog``.

    In a task's chain a reference becomes its member for the task's capability (a model
    named twice, directly and through a family, keeps its first place). In a budget
    tier's lists it stands for every member: avoiding "Claude Opus" avoids them all.
    ``live``: ``usable`` knows the machine (keys, installed models), so the reasons say so.
    """
    if not uses_families(policy):
        return ResolvedPolicy(policy, {})
    tasks: dict[str, TaskSpec] = {}
    resolutions: dict[str, tuple[Resolution, ...]] = {}
    for name, task in policy.tasks.items():
        chain: list[str] = []
        found: list[Resolution] = []
        for ref in task.chain:
            model_id: str | None = ref
            if is_family_ref(ref):
                resolution = resolve(catalog, ref, task.capability, usable, live=live)
                found.append(resolution)
                model_id = resolution.model_id
            if model_id is not None and model_id not in chain:
                chain.append(model_id)
        if found:
            resolutions[name] = tuple(found)
            primary, *fallbacks = chain or [task.primary]
            task = task.model_copy(update={"primary": primary, "fallbacks": fallbacks})
        tasks[name] = task
    tiers = {
        tier_name: tier.model_copy(
            update={
                "primary": _expand(tier.primary, catalog),
                "avoid": _expand(tier.avoid, catalog),
                "occasional": (
                    tier.occasional.model_copy(update={"models": _expand(tier.occasional.models, catalog)})
                    if tier.occasional
                    else None
                ),
            }
        )
        for tier_name, tier in policy.budget_tiers.items()
    }
    resolved = policy.model_copy(update={"tasks": tasks, "budget_tiers": tiers})
    return ResolvedPolicy(resolved, resolutions)


def _expand(refs: list[str], catalog: Catalog) -> list[str]:
    out: list[str] = []
    for ref in refs:
        ids = [m.id for m in catalog.members(family_id(ref))] if is_family_ref(ref) else [ref]
        out += [i for i in ids if i not in out]
    return out


def family_picks(catalog: Catalog, usable: Usable, *, live: bool = True) -> dict[str, Resolution]:
    """Each family's pick for its first capability, by family id: what the catalog view
    shows as the member a family "resolves to" (``sparklio catalog``, the Catalog tab)."""
    return {
        family.id: resolve(catalog, PREFIX + family.id, family.capabilities[0], usable, live=live)
        for family in catalog.families.values()
    }


def successor(
    catalog: Catalog, model_id: str, capability: Capability, usable: Usable, exclude: frozenset[str]
) -> Resolution | None:
    """The member to try next after ``model_id`` answered "model not found" (``None``:
    it has no family, or no other member is usable)."""
    model = catalog.get(model_id)
    if model is None or model.family is None:
        return None
    resolution = resolve(catalog, PREFIX + model.family, capability, usable, exclude=exclude | {model_id})
    if resolution.model_id is None or usable(catalog[resolution.model_id]) is not None:
        return None
    return resolution
