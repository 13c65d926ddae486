"""Who writes a ledger row: the team member and the machine (``llm_usage.member``, ``host``).

A studio shares one budget, so every attempt names the member who sent it and the host it
ran from; ``sparklio spend`` sums them per member and a member may have a monthly limit
inside the team budget (core/budget.py). The member is, in this order:

1. ``$SPARKLIO_MEMBER`` (a shell, a CI job or a shared workstation's login script sets it);
2. the setting ``team.member`` (passed in by whoever read the settings: this module reads
   no file, so the ledger's quick reader stays free of pydantic);
3. the OS login name (``getpass.getuser``), or ``unknown`` when the OS has none.

A member name is short printable text (1 to :data:`MEMBER_NAME_LIMIT` characters, no
control characters, no surrounding spaces); the same rule checks the setting, the
environment variable and the names of ``team.member_limits``. Rows written before
migration ``m008_member_host`` belong to the OS user who wrote them (their ``user``
column, which the default member is too) and have no host (``NULL``).
"""

from __future__ import annotations

import functools
import getpass
import os
import socket
from collections.abc import Mapping

from sparklio_desktop.core.errors import SparklioError

MEMBER_ENV = "SPARKLIO_MEMBER"
MEMBER_NAME_LIMIT = 64
HOST_LIMIT = 255
UNKNOWN = "unknown"

__all__ = [
    "HOST_LIMIT",
    "MEMBER_ENV",
    "MEMBER_NAME_LIMIT",
    "MemberNameError",
    "member_name_problem",
    "resolve_member",
    "this_host",
]


class MemberNameError(SparklioError):
    """``$SPARKLIO_MEMBER`` holds something that is not a member name."""


def member_name_problem(value: object) -> str | None:
    """Why ``value`` is not a member name, or None when it is one."""
    if not isinstance(value, str):
        return f"a member name is text, not {type(value).__name__}"
    if not value or not value.strip():
        return "a member name cannot be empty"
    if len(value) > MEMBER_NAME_LIMIT:
        return f"a member name is at most {MEMBER_NAME_LIMIT} characters"
    if value != value.strip():
        return "a member name cannot start or end with spaces"
    if not value.isprintable():
        return "a member name is printable text (no tabs, newlines or control characters)"
    return None


@functools.lru_cache(maxsize=1)
def current_user() -> str:
    """The OS user name, the default owner of a ledger row and the default member (looked up
    once: a passwd look-up on every attempt row sat on the first-token path)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers) and no USER variable
        return os.environ.get("USERNAME") or "unknown"


def _os_member() -> str:
    name = current_user()
    return name if member_name_problem(name) is None else UNKNOWN


def resolve_member(setting: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The member this process writes as: ``$SPARKLIO_MEMBER``, else ``setting`` (the
    validated ``team.member``), else the OS user. A malformed variable is refused with a
    one-line :class:`MemberNameError`, never silently replaced."""
    env = os.environ if environ is None else environ
    raw = env.get(MEMBER_ENV)
    if raw is not None and raw != "":
        problem = member_name_problem(raw)
        if problem is not None:
            raise MemberNameError(f"{MEMBER_ENV}={raw!r} is not a member name: {problem}")
        return raw
    if setting is not None:
        return setting
    return _os_member()


@functools.lru_cache(maxsize=1)
def this_host() -> str:
    """This machine's name (``socket.gethostname``), looked up once; ``unknown`` without one."""
    try:
        name = socket.gethostname()
    except OSError:
        name = ""
    name = "".join(ch for ch in name if ch.isprintable()).strip()[:HOST_LIMIT]
    return name or UNKNOWN
