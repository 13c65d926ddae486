"""Every conversation: one store, two backends (the data folder's file, or the team database).

:class:`ConversationStore` holds everything a conversation store does that does not depend
on where the rows live: the checks on what a caller passes, titles, the turn tree and its
versions, the context economy's summary, record building, and the merge of turn and title
matches into one ranked hit per conversation. Its SQL is written once, in the portable
subset both backends speak (``?`` placeholders, recursive CTEs, no ``IS`` between columns,
no named parameters). What differs lives in a backend module each, behind a few small
hooks (``_tx``, ``_insert_id``, ``_prefix_match``, the search hooks):

* ``sqlite_store.py``: ``conversations.sqlite`` in the data folder (plain ``sqlite3``,
  FTS5 with ``snippet()``, ``lastrowid``, ``IS``, ``GLOB``, ``json_each``), as before team
  mode; the file is one person's, so nothing is filtered by member.
* ``postgres_store.py``: the team's PostgreSQL (SQLAlchemy's engine of the ledger,
  ``tsvector`` with ``ts_headline``, ``RETURNING``, ``IS NOT DISTINCT FROM``, ``LIKE``,
  ``= ANY``); every conversation records its member and host, and a member sees only
  their own (another member's id is "not found", as per-user chats in Open WebUI).

``ConversationStore(target)`` (or :meth:`ConversationStore.open`) picks the backend from
``target``: a path is the file, a ``postgresql+psycopg://`` URL the team database;
:meth:`ConversationStore.open_default` follows the ledger (core/ledger/location.py
``database_url``). The turns of a conversation form a tree (see schema.py): an edit or a
regeneration is a sibling of the turn it replaces, and the thread shown is the path from
the root to the conversation's ``current_leaf``. :meth:`select_version` moves the leaf to
another sibling's newest descendants, so earlier versions stay browsable.

One store may be used by one thread at a time (the window calls it through its serial
database executor, the CLI directly).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self

from sparklio_desktop.core.conversations.records import (
    FEEDBACK_KINDS,
    ROLES,
    Conversation,
    ConversationContext,
    ConversationNotFound,
    ConversationSummary,
    SearchHit,
    Turn,
)
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.history import HistorySummary
from sparklio_desktop.core.money import from_picodollars, to_picodollars
from sparklio_desktop.core.providers.base import Message

if TYPE_CHECKING:
    from sparklio_desktop.core.settings.config import Settings

__all__ = ["FILENAME", "SEARCH_WINDOW", "TITLE_MAX", "ConversationStore", "Rows", "derive_title"]

FILENAME = "conversations.sqlite"
TITLE_MAX = 60
MIN_PREFIX = 4
# How many of the newest matching turns (and titles) a search ranks (see search()).
SEARCH_WINDOW = 2000

_CONVERSATION_COLUMNS = (
    "c.id, c.title, c.task, c.pinned, c.created_at, c.updated_at, COALESCE(l.depth, 0), c.options_json"
)
_TURN_COLUMNS = (
    "t.id, t.conversation_id, t.parent_id, t.role, t.content, t.created_at, t.model, t.request_id,"
    " t.task, t.cost_usd, t.meta_json, t.attachments_json"
)
# The path from a turn (the one parameter; NULL: no turn) up to its root.
_PATH_UP = """WITH RECURSIVE path(id) AS (
    SELECT id FROM turns WHERE id = ?
    UNION ALL
    SELECT p.parent_id FROM turns p JOIN path ON p.id = path.id WHERE p.parent_id IS NOT NULL
)"""


class Rows(Protocol):
    """What a backend's ``execute`` returns: ``sqlite3.Cursor`` and SQLAlchemy's result both are."""

    def fetchone(self) -> Any: ...
    def fetchall(self) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """One transaction's connection as the shared logic uses it: SQL with ``?`` placeholders."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


def _now_text(now: datetime | None = None) -> str:
    utc = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}Z"


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def derive_title(content: str) -> str:
    """A title from the first user turn: its first non-empty line, spaces collapsed, cut
    at a word boundary to at most :data:`TITLE_MAX` characters (with an ellipsis)."""
    line = next((ln for ln in content.splitlines() if ln.strip()), "")
    text = re.sub(r"\s+", " ", line).strip()
    if len(text) <= TITLE_MAX:
        return text
    cut = text[: TITLE_MAX - 1]
    if " " in cut[TITLE_MAX // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"


def _options_json(options: Mapping[str, str | None] | None) -> str:
    clean: dict[str, str | None] = {}
    for key, value in (options or {}).items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str)):
            raise SparklioError(f"a conversation option must be text: {key!r}={value!r}")
        clean[key] = value
    return json.dumps(clean, sort_keys=True)


# backend name -> the store class for it (filled by ConversationStore.__init_subclass__).
_BACKENDS: dict[str, type[ConversationStore]] = {}


class ConversationStore:
    """The conversation store; ``ConversationStore(target)`` opens the backend ``target``
    names (see the module docstring). Use it as a context manager or call :meth:`close`."""

    # -- what a backend says -------------------------------------------------------------
    # SQLite's null-safe equality between two expressions (``IS``; PostgreSQL: ``IS NOT
    # DISTINCT FROM``).
    _NULL_SAFE_EQ: ClassVar[str] = "IS"
    # ``AND <condition on c, the conversations row>`` limiting every read to the member's
    # own conversations, and its parameters (the file: none; it is one person's).
    _scope: str = ""
    _scope_params: tuple[Any, ...] = ()
    # Where the store is: the file's path, or the team database's redacted URL.
    target: Path | str
    # The member whose conversations these are (None: the file, which is one person's).
    member: str | None = None
    # What :meth:`open` takes to open this store again (the team database's URL keeps its
    # password here: never show it; ``target`` is the form to show).
    reopen_target: Path | str

    # The backend a subclass is ("sqlite", "postgresql"): each registers itself in
    # :data:`_BACKENDS` when its module is imported (the package's ``__init__`` imports
    # both), so this module never imports its own subclasses and no import cycle forms.
    backend: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.backend is not None:
            _BACKENDS[cls.backend] = cls

    def __new__(cls, target: Path | str | None = None, *args: Any, **kwargs: Any) -> ConversationStore:
        if cls is ConversationStore:
            from sparklio_desktop.core.ledger.location import is_database_url

            cls = _BACKENDS["postgresql" if is_database_url(target) else "sqlite"]
        return object.__new__(cls)

    @classmethod
    def open(cls, target: Path | str, *, member: str | None = None) -> ConversationStore:
        """The store at ``target``: a path (the conversations file) or a team database URL.
        ``member`` (team database only): the setting ``team.member``; ``$SPARKLIO_MEMBER``
        wins over it and the OS user is the default, as for the ledger (core/ledger/members.py)."""
        from sparklio_desktop.core.ledger.location import is_database_url

        if is_database_url(target):
            return ConversationStore(target, member=member)
        return ConversationStore(Path(target))

    @classmethod
    def open_default(cls, settings: Settings | None = None) -> ConversationStore:
        """The team database when one is set (``$SPARKLIO_DATABASE_URL`` or
        ``storage.database_url``, as the ledger), as the member ``team.member`` names;
        else ``conversations.sqlite`` in the data folder."""
        from sparklio_desktop.core.ledger.location import database_url, is_database_url, settings_in_force
        from sparklio_desktop.core.settings import paths

        settings = settings_in_force(settings)  # the file read once, for the URL and the member
        url = database_url(settings)
        if url is None or not is_database_url(url):  # a shared ledger *file* is not a team database
            return ConversationStore(paths.data_dir() / FILENAME)
        return ConversationStore(url, member=settings.team.member if settings is not None else None)

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the backend's hooks ----------------------------------------------------------------

    def _tx(self, write: bool = False) -> AbstractContextManager[Any]:
        """One transaction; yields a :class:`Connection`."""
        raise NotImplementedError

    def _insert_conversation(self, conn: Any, values: tuple[Any, ...]) -> bool:
        """Insert (id, title, task, options_json, created_at, updated_at); False when the
        random id is taken (the caller draws again)."""
        raise NotImplementedError

    def _insert_id(self, conn: Any, sql: str, params: tuple[Any, ...]) -> int:
        """Run the INSERT ``sql``; the new row's id."""
        raise NotImplementedError

    def _prefix_match(self, prefix: str) -> tuple[str, str]:
        """The condition on ``c.id`` that finds ids starting with ``prefix`` (hex digits),
        and its parameter."""
        raise NotImplementedError

    def _search_query(self, text: str) -> str | None:
        """What the person typed as the backend's safe full-text query (None: nothing to find)."""
        raise NotImplementedError

    def _turn_matches(self, conn: Any, match: str, window: int) -> Iterable[Sequence[Any]]:
        """The best matching turn of each of the member's conversations among the ``window``
        newest matching turns: rows (conversation id, seq, turn id, score; lower is better)."""
        raise NotImplementedError

    def _title_matches(self, conn: Any, match: str, window: int) -> Iterable[Sequence[Any]]:
        """The ``window`` newest matching titles: rows (conversation id, seq, score)."""
        raise NotImplementedError

    def _live_summaries(self, conn: Any, ids: Sequence[str]) -> list[Sequence[Any]]:
        """``_CONVERSATION_COLUMNS`` of the live (not deleted) conversations among ``ids``."""
        raise NotImplementedError

    def _snippets(
        self, conn: Any, match: str, turn_ids: Sequence[int], title_seqs: Sequence[int]
    ) -> tuple[dict[int, str], dict[int, str]]:
        """Snippets (``[`` ``]`` around the matches, ``…`` where text was cut) of turns and
        titles, by turn id and by conversation seq."""
        raise NotImplementedError

    # -- shared SQL ----------------------------------------------------------------------------

    def _version_columns(self) -> str:
        """The version of a turn among its siblings (same conversation, parent and role) and their number."""
        same = (
            f"s.conversation_id = t.conversation_id AND s.parent_id {self._NULL_SAFE_EQ} t.parent_id"
            " AND s.role = t.role"
        )
        return (
            f"(SELECT COUNT(*) FROM turns s WHERE {same} AND s.id <= t.id), (SELECT COUNT(*) FROM turns s WHERE {same})"
        )

    # -- conversations ----------------------------------------------------------------

    def create(self, task: str, *, title: str = "", options: Mapping[str, str | None] | None = None) -> Conversation:
        """A new, empty conversation for ``task``."""
        if not isinstance(task, str) or not task.strip():
            raise SparklioError("a conversation needs a task name")
        options_json = _options_json(options)
        now = _now_text()
        with self._tx(write=True) as conn:
            new_id = secrets.token_hex(6)
            # 48 random bits collided: draw again.
            while not self._insert_conversation(conn, (new_id, title.strip(), task.strip(), options_json, now, now)):
                new_id = secrets.token_hex(6)
            return self._conversation(conn, new_id)

    def _resolve(self, conn: Any, conversation_id: str, *, deleted: bool = False) -> str:
        """The full id ``conversation_id`` names (a unique prefix of at least 4 characters)
        among the member's conversations."""
        wanted = conversation_id.strip().lower() if isinstance(conversation_id, str) else ""
        if not wanted:
            raise ConversationNotFound(
                str(conversation_id), "a conversation id is needed (sparklio conversations list shows them)"
            )
        row = conn.execute(
            f"SELECT c.id, c.deleted_at FROM conversations c WHERE c.id = ?{self._scope}", (wanted, *self._scope_params)
        ).fetchone()
        if row is None and len(wanted) >= MIN_PREFIX and re.fullmatch(r"[0-9a-f]+", wanted):
            condition, pattern = self._prefix_match(wanted)
            rows = conn.execute(
                f"SELECT c.id, c.deleted_at FROM conversations c WHERE {condition}{self._scope} LIMIT 2",
                (pattern, *self._scope_params),
            ).fetchall()
            if len(rows) > 1:
                raise ConversationNotFound(
                    wanted, f"the id prefix {wanted} names several conversations; give more of the id"
                )
            row = rows[0] if rows else None
        if row is None:
            raise ConversationNotFound(conversation_id.strip())
        if row[1] is not None and not deleted:
            raise ConversationNotFound(
                row[0], f"conversation {row[0]} is deleted (sparklio conversations restore {row[0]} brings it back)"
            )
        return str(row[0])

    def _conversation(self, conn: Any, full_id: str) -> Conversation:
        row = conn.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c LEFT JOIN turns l ON l.id = c.current_leaf"
            " WHERE c.id = ?",
            (full_id,),
        ).fetchone()
        summary = self._summary(row)
        return Conversation(**summary.__dict__, options=json.loads(row[7]))

    @staticmethod
    def _summary(row: Sequence[Any]) -> ConversationSummary:
        return ConversationSummary(
            id=row[0],
            title=row[1],
            task=row[2],
            pinned=bool(row[3]),
            created_at=_parse_time(row[4]),
            updated_at=_parse_time(row[5]),
            turns=int(row[6]),
        )

    def get(self, conversation_id: str) -> Conversation:
        """The conversation; raises :class:`ConversationNotFound` (a unique id prefix works)."""
        with self._tx() as conn:
            return self._conversation(conn, self._resolve(conn, conversation_id))

    def count(self) -> int:
        with self._tx() as conn:
            return int(
                conn.execute(
                    f"SELECT COUNT(*) FROM conversations c WHERE c.deleted_at IS NULL{self._scope}", self._scope_params
                ).fetchone()[0]
            )

    def rename(self, conversation_id: str, title: str) -> None:
        self._update(conversation_id, "title = ?", (title.strip(),))

    def set_pinned(self, conversation_id: str, pinned: bool) -> None:
        # Pinning reorders the sidebar but is not activity: updated_at stays.
        with self._tx(write=True) as conn:
            full_id = self._resolve(conn, conversation_id)
            conn.execute("UPDATE conversations SET pinned = ? WHERE id = ?", (int(bool(pinned)), full_id))

    def set_task(self, conversation_id: str, task: str, options: Mapping[str, str | None] | None = None) -> None:
        """Change the task (and, when given, the route options) later turns run with."""
        if not isinstance(task, str) or not task.strip():
            raise SparklioError("a conversation needs a task name")
        if options is None:
            self._update(conversation_id, "task = ?", (task.strip(),))
        else:
            self._update(conversation_id, "task = ?, options_json = ?", (task.strip(), _options_json(options)))

    def _update(self, conversation_id: str, assignments: str, values: tuple[Any, ...]) -> None:
        with self._tx(write=True) as conn:
            full_id = self._resolve(conn, conversation_id)
            conn.execute(
                f"UPDATE conversations SET {assignments}, updated_at = ? WHERE id = ?",
                (*values, _now_text(), full_id),
            )

    def delete(self, conversation_id: str) -> str:
        """Soft delete: the conversation leaves the list and search; :meth:`restore` undoes it.
        Returns the full id (the caller may have given a prefix)."""
        with self._tx(write=True) as conn:
            full_id = self._resolve(conn, conversation_id)
            conn.execute("UPDATE conversations SET deleted_at = ? WHERE id = ?", (_now_text(), full_id))
        return full_id

    def restore(self, conversation_id: str) -> str:
        """Undo a :meth:`delete` (a no-op on a live conversation); returns the full id."""
        with self._tx(write=True) as conn:
            full_id = self._resolve(conn, conversation_id, deleted=True)
            conn.execute("UPDATE conversations SET deleted_at = NULL WHERE id = ?", (full_id,))
        return full_id

    def purge_deleted(self, older_than: timedelta = timedelta(0)) -> int:
        """Remove for good the (member's) conversations deleted at least ``older_than`` ago; how many."""
        cutoff = _now_text(datetime.now(UTC) - older_than)
        with self._tx(write=True) as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT c.id FROM conversations c WHERE c.deleted_at IS NOT NULL AND c.deleted_at <= ?"
                    + self._scope,
                    (cutoff, *self._scope_params),
                ).fetchall()
            ]
            for full_id in ids:
                self._remove(conn, full_id)
        return len(ids)

    def purge(self, conversation_id: str) -> str:
        """Remove one conversation for good, deleted or not (``sparklio conversations rm
        --purge``); returns its full id. Its turns, their index entries and feedback go too."""
        with self._tx(write=True) as conn:
            full_id = self._resolve(conn, conversation_id, deleted=True)
            self._remove(conn, full_id)
        return full_id

    @staticmethod
    def _remove(conn: Any, full_id: str) -> None:
        conn.execute(
            "DELETE FROM feedback WHERE turn_id IN (SELECT id FROM turns WHERE conversation_id = ?)", (full_id,)
        )
        conn.execute("UPDATE conversations SET current_leaf = NULL WHERE id = ?", (full_id,))
        conn.execute("DELETE FROM turns WHERE conversation_id = ?", (full_id,))
        conn.execute("DELETE FROM conversations WHERE id = ?", (full_id,))

    # -- turns ---------------------------------------------------------------------------

    def add_turn(
        self,
        conversation_id: str,
        role: str,
        content: str,
        *,
        parent_id: int | None | Literal["leaf"] = "leaf",
        model: str | None = None,
        request_id: str | None = None,
        task: str | None = None,
        cost_usd: Decimal | None = None,
        meta: Mapping[str, Any] | None = None,
        attachments: Sequence[str] = (),
    ) -> Turn:
        """Add a turn; it becomes the current leaf. ``"leaf"`` appends after the current
        leaf; an explicit ``parent_id`` (None: a new root) makes an edit or a regeneration,
        a sibling of the turns already under that parent."""
        if role not in ROLES:
            raise SparklioError(f"a turn's role is user or assistant, not {role!r}")
        if not isinstance(content, str):
            raise SparklioError("a turn's content must be text")
        try:
            cost = to_picodollars(cost_usd) if cost_usd is not None else None
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise SparklioError(f"a turn's cost must be an exact Decimal of USD: {exc}") from None
        meta_json = json.dumps(dict(meta or {}), sort_keys=True, default=str)
        attachments_json = json.dumps([str(a) for a in attachments])
        now = _now_text()
        with self._tx(write=True) as conn:
            full_id = self._resolve(conn, conversation_id)
            if parent_id == "leaf":
                parent = conn.execute("SELECT current_leaf FROM conversations WHERE id = ?", (full_id,)).fetchone()[0]
            else:
                parent = parent_id
            depth = 1
            if parent is not None:
                row = conn.execute("SELECT conversation_id, depth FROM turns WHERE id = ?", (parent,)).fetchone()
                if row is None or row[0] != full_id:
                    raise SparklioError(f"turn {parent} is not in conversation {full_id}")
                depth = int(row[1]) + 1
            turn_id = self._insert_id(
                conn,
                "INSERT INTO turns (conversation_id, parent_id, depth, role, content, model, request_id, task,"
                " cost_usd, meta_json, attachments_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (full_id, parent, depth, role, content, model, request_id, task, cost, meta_json,
                 attachments_json, now),
            )  # fmt: skip
            conn.execute(
                "UPDATE conversations SET current_leaf = ?, updated_at = ? WHERE id = ?", (turn_id, now, full_id)
            )
            if role == "user" and parent is None:
                conn.execute(
                    "UPDATE conversations SET title = ? WHERE id = ? AND title = ''", (derive_title(content), full_id)
                )
            return self._turn(conn, turn_id)

    @staticmethod
    def _turn_from_row(row: Sequence[Any]) -> Turn:
        return Turn(
            id=int(row[0]),
            conversation_id=row[1],
            parent_id=int(row[2]) if row[2] is not None else None,
            role=row[3],
            content=row[4],
            created_at=_parse_time(row[5]),
            model=row[6],
            request_id=row[7],
            task=row[8],
            cost_usd=from_picodollars(row[9]) if row[9] is not None else None,
            meta=json.loads(row[10]),
            attachments=tuple(json.loads(row[11])),
            version=int(row[12]),
            versions=int(row[13]),
        )

    def _turn(self, conn: Any, turn_id: int) -> Turn:
        """The turn ``turn_id`` of one of the member's conversations."""
        row = conn.execute(
            f"SELECT {_TURN_COLUMNS}, {self._version_columns()} FROM turns t"
            f" JOIN conversations c ON c.id = t.conversation_id WHERE t.id = ?{self._scope}",
            (turn_id, *self._scope_params),
        ).fetchone()
        if row is None:
            raise SparklioError(f"no turn {turn_id} in {self._where}")
        return self._turn_from_row(row)

    @property
    def _where(self) -> str:
        return "the conversations file"

    def _path(self, conn: Any, start: int | None) -> list[Turn]:
        rows = conn.execute(
            f"{_PATH_UP} SELECT {_TURN_COLUMNS}, {self._version_columns()} FROM path JOIN turns t ON t.id = path.id"
            " ORDER BY t.depth",
            (start,),
        ).fetchall()
        return [self._turn_from_row(row) for row in rows]

    def thread(self, conversation_id: str) -> list[Turn]:
        """The current path, oldest first, each turn with its version and versions."""
        with self._tx() as conn:
            full_id = self._resolve(conn, conversation_id)
            leaf = conn.execute("SELECT current_leaf FROM conversations WHERE id = ?", (full_id,)).fetchone()[0]
            return self._path(conn, leaf)

    def siblings(self, turn_id: int) -> list[Turn]:
        """The versions of a turn (itself included), oldest first."""
        with self._tx() as conn:
            turn = self._turn(conn, turn_id)
            rows = conn.execute(
                f"SELECT {_TURN_COLUMNS}, {self._version_columns()} FROM turns t WHERE t.conversation_id = ?"
                f" AND t.parent_id {self._NULL_SAFE_EQ} ? AND t.role = ? ORDER BY t.id",
                (turn.conversation_id, turn.parent_id, turn.role),
            ).fetchall()
        return [self._turn_from_row(row) for row in rows]

    def select_version(self, turn_id: int) -> list[Turn]:
        """Make that version current: the thread becomes the path through it and, below it,
        its newest child at each step down to a leaf. Returns the new thread."""
        with self._tx(write=True) as conn:
            turn = self._turn(conn, turn_id)
            self._resolve(conn, turn.conversation_id)  # a deleted conversation is not edited
            leaf = conn.execute(
                """WITH RECURSIVE down(id, step) AS (
                    SELECT id, 0 FROM turns WHERE id = ?
                    UNION ALL
                    SELECT (SELECT MAX(c.id) FROM turns c WHERE c.parent_id = down.id), step + 1
                    FROM down WHERE EXISTS (SELECT 1 FROM turns c WHERE c.parent_id = down.id)
                ) SELECT id FROM down ORDER BY step DESC LIMIT 1""",
                (turn.id,),
            ).fetchone()[0]
            conn.execute("UPDATE conversations SET current_leaf = ? WHERE id = ?", (leaf, turn.conversation_id))
            return self._path(conn, leaf)

    def _start_before(self, conn: Any, full_id: str, before_turn: int) -> int | None:
        """The parent of ``before_turn``, which must be in conversation ``full_id``."""
        row = conn.execute("SELECT conversation_id, parent_id FROM turns WHERE id = ?", (before_turn,)).fetchone()
        if row is None or row[0] != full_id:
            raise SparklioError(f"turn {before_turn} is not in conversation {full_id}")
        return row[1]  # type: ignore[no-any-return]

    def history(self, conversation_id: str, *, before_turn: int | None = None) -> tuple[Message, ...]:
        """The current thread as provider messages (user and assistant text); with
        ``before_turn``, the turns on that turn's path before it (what a regeneration or an
        edit of it sends)."""
        with self._tx() as conn:
            full_id = self._resolve(conn, conversation_id)
            if before_turn is None:
                start = conn.execute("SELECT current_leaf FROM conversations WHERE id = ?", (full_id,)).fetchone()[0]
            else:
                start = self._start_before(conn, full_id, before_turn)
            rows = conn.execute(
                f"{_PATH_UP} SELECT t.role, t.content FROM path JOIN turns t ON t.id = path.id ORDER BY t.depth",
                (start,),
            ).fetchall()
        return tuple(Message(role="user" if role == "user" else "assistant", content=content) for role, content in rows)

    # -- the context economy ---------------------------------------------------------------

    def set_send_everything(self, conversation_id: str, on: bool) -> None:
        """The conversation's opt-out: ``True`` sends every turn, no trimming, no summary."""
        with self._tx(write=True) as conn:
            full_id = self._resolve(conn, conversation_id)
            conn.execute("UPDATE conversations SET send_everything = ? WHERE id = ?", (int(bool(on)), full_id))

    def save_summary(
        self,
        conversation_id: str,
        summary: HistorySummary,
        through_turn: int,
        *,
        model: str | None = None,
        request_id: str | None = None,
    ) -> None:
        """Keep the running summary of the thread's first ``summary.turns`` turns, the last
        of which is ``through_turn`` (core/history_summary.py writes it)."""
        if not isinstance(summary.text, str) or not summary.text.strip() or summary.turns < 1:
            raise SparklioError("a conversation summary needs text and at least one turn")
        with self._tx(write=True) as conn:
            full_id = self._resolve(conn, conversation_id)
            row = conn.execute("SELECT conversation_id FROM turns WHERE id = ?", (through_turn,)).fetchone()
            if row is None or row[0] != full_id:
                raise SparklioError(f"turn {through_turn} is not in conversation {full_id}")
            conn.execute(
                "UPDATE conversations SET summary_text = ?, summary_turns = ?, summary_through = ?,"
                " summary_model = ?, summary_request_id = ?, summary_at = ? WHERE id = ?",
                (summary.text.strip(), summary.turns, through_turn, model, request_id, _now_text(), full_id),
            )

    def context(self, conversation_id: str, *, before_turn: int | None = None) -> ConversationContext:
        """The thread (or, with ``before_turn``, that turn's path before it) with its turn
        ids and attachments, the running summary when it still matches the thread (the
        turn it ends on is where it was), and the opt-out."""
        with self._tx() as conn:
            full_id = self._resolve(conn, conversation_id)
            leaf, everything, text, turns, through = conn.execute(
                "SELECT current_leaf, send_everything, summary_text, summary_turns, summary_through"
                " FROM conversations WHERE id = ?",
                (full_id,),
            ).fetchone()
            if before_turn is not None:
                leaf = self._start_before(conn, full_id, before_turn)
            rows = conn.execute(
                f"{_PATH_UP} SELECT t.id, t.role, t.content, t.attachments_json FROM path"
                " JOIN turns t ON t.id = path.id ORDER BY t.depth",
                (leaf,),
            ).fetchall()
        ids = tuple(int(r[0]) for r in rows)
        summary = None
        if text and turns and 0 < int(turns) <= len(ids) and ids[int(turns) - 1] == through:
            summary = HistorySummary(str(text), int(turns))
        return ConversationContext(
            conversation_id=full_id,
            history=tuple(Message(role="user" if r[1] == "user" else "assistant", content=r[2]) for r in rows),
            turn_ids=ids,
            attachments=tuple(tuple(str(a) for a in json.loads(r[3])) for r in rows),
            summary=summary,
            send_everything=bool(everything),
        )

    # -- search ----------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        """Conversations whose turns or title match, best match first (then the latest),
        one hit per conversation with a snippet of its best match. Any text is safe.

        Only the :data:`SEARCH_WINDOW` newest matching turns (and titles) are ranked: a
        word found in half of 60,000 turns took 0.3 s to rank in full on the file; the
        newest few thousand take a few milliseconds. A word rarer than that is ranked over
        the whole history; older matches of a very common one are not shown.
        """
        match = self._search_query(query) if isinstance(query, str) else None
        if match is None or limit <= 0:
            return []
        with self._tx() as conn:
            # conversation id -> (score, best turn id or None, conversation seq)
            best: dict[str, tuple[float, int | None, int]] = {}
            for cid, seq, tid, rank in self._turn_matches(conn, match, SEARCH_WINDOW):
                best[cid] = (float(rank), int(tid), int(seq))
            for cid, seq, rank in self._title_matches(conn, match, SEARCH_WINDOW):
                # A title match counts double (the title says what the whole conversation is
                # about) in the order; the snippet stays the best turn's when a turn matched,
                # so the window can jump to it (a derived title repeats the first turn).
                score = 2.0 * float(rank)
                if cid not in best:
                    best[cid] = (score, None, int(seq))
                elif score < best[cid][0]:
                    best[cid] = (score, best[cid][1], int(seq))
            ranked = sorted(best, key=lambda cid: best[cid][0])
            chosen: list[ConversationSummary] = []
            # Only the hits shown become summaries: take candidates in score order, a batch
            # at a time, until ``limit`` live (not deleted) ones are found.
            batch = limit + 16
            for start in range(0, len(ranked), batch):
                chosen += [self._summary(row) for row in self._live_summaries(conn, ranked[start : start + batch])]
                if len(chosen) >= limit:
                    break
            # Best score first; among equal scores, the latest activity.
            chosen.sort(key=lambda s: (best[s.id][0], -s.updated_at.timestamp()))
            chosen = chosen[:limit]
            turn_ids = [tid for s in chosen if (tid := best[s.id][1]) is not None]
            title_seqs = [best[s.id][2] for s in chosen if best[s.id][1] is None]
            turn_snippets, title_snippets = self._snippets(conn, match, turn_ids, title_seqs)
        hits: list[SearchHit] = []
        for summary in chosen:
            _score, turn_id, seq = best[summary.id]
            snippet = turn_snippets.get(turn_id, "") if turn_id is not None else title_snippets.get(seq, "")
            hits.append(SearchHit(summary, str(snippet), turn_id))
        return hits

    # -- implicit feedback ---------------------------------------------------------------------

    def record_feedback(self, turn_id: int, kind: str) -> None:
        """Record that the user copied, regenerated or edited around an answer. Kept apart
        from explicit stars and votes (docs/conversations.md says what reads it). ``turn_id``
        is the answer (copy, regenerate) or the question edited (edit: the feedback goes on
        that question's newest answer)."""
        if kind not in FEEDBACK_KINDS:
            raise SparklioError(f"implicit feedback is one of {', '.join(FEEDBACK_KINDS)}, not {kind!r}")
        with self._tx(write=True) as conn:
            row = conn.execute(
                "SELECT t.request_id, t.role FROM turns t JOIN conversations c ON c.id = t.conversation_id"
                f" WHERE t.id = ?{self._scope}",
                (turn_id, *self._scope_params),
            ).fetchone()
            if row is None:
                raise SparklioError(f"no turn {turn_id} in {self._where}")
            target, request_id = turn_id, row[0]
            if row[1] == "user":
                # An edit is given the question edited; the feedback is on the answer it
                # replaces: that question's newest answer (none yet: kept on the question).
                answer = conn.execute(
                    "SELECT id, request_id FROM turns WHERE parent_id = ? AND role = 'assistant'"
                    " ORDER BY id DESC LIMIT 1",
                    (turn_id,),
                ).fetchone()
                if answer is not None:
                    target, request_id = answer
            conn.execute(
                "INSERT INTO feedback (turn_id, request_id, kind, at) VALUES (?, ?, ?, ?)",
                (target, request_id, kind, _now_text()),
            )

    def feedback(self, *, request_id: str | None = None) -> dict[str, int]:
        """Counts by kind (every kind present, zeros included), for one request or all (of
        the member's conversations)."""
        sql = "SELECT f.kind, COUNT(*) FROM feedback f"
        params: tuple[Any, ...] = ()
        if self._scope:
            sql += " JOIN turns t ON t.id = f.turn_id JOIN conversations c ON c.id = t.conversation_id"
        sql += " WHERE 1 = 1" + self._scope
        params += self._scope_params
        if request_id is not None:
            sql += " AND f.request_id = ?"
            params += (request_id,)
        with self._tx() as conn:
            counts = {str(kind): int(n) for kind, n in conn.execute(sql + " GROUP BY f.kind", params).fetchall()}
        return {kind: int(counts.get(kind, 0)) for kind in FEEDBACK_KINDS}

    def list(self, *, limit: int = 200, offset: int = 0) -> list[ConversationSummary]:
        """The sidebar: pinned first, then the latest; deleted ones are left out. (Last in
        the class: a method named ``list`` would shadow the type in later annotations.)"""
        with self._tx() as conn:
            rows = conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c LEFT JOIN turns l ON l.id = c.current_leaf"
                f" WHERE c.deleted_at IS NULL{self._scope} ORDER BY c.pinned DESC, c.updated_at DESC, c.seq DESC"
                " LIMIT ? OFFSET ?",
                (*self._scope_params, max(0, int(limit)), max(0, int(offset))),
            ).fetchall()
        return [self._summary(row) for row in rows]
