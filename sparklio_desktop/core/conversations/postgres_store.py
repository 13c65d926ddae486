"""A team's conversations on its PostgreSQL: the ledger's database, each member's own.

The PostgreSQL half of the backend split (store.py holds the shared logic and its SQL):
the same tables as ``conversations.sqlite``, created by the ledger's Alembic revision
0003 (core/ledger/alembic/versions/v0003_conversations.py), which the same upgrade the
ledger runs brings in (core/ledger/schema_upgrade.py: in a transaction, under an advisory
lock), so opening conversations first on an empty team database works. The engine is the
ledger's (core/ledger/engine.py ``create_postgres_engine``): a server that cannot be
reached, a refused login or a missing database is one line
(:class:`~sparklio_desktop.core.ledger.server_errors.DatabaseServerError`), never a
traceback.

What differs from the file, here and only here: ``?`` placeholders become the driver's
``%s``; ``IS NOT DISTINCT FROM`` for null-safe equality; ``RETURNING id`` for a new
turn's id; ``LIKE`` for an id prefix; ``= ANY(...)`` for a list of ids; and search:
``tsvector`` columns with GIN indexes matched by ``to_tsquery`` (fts_query.py
``tsquery_text``: any text is safe), ranked by ``ts_rank`` (negated: lower is better, as
FTS5's bm25 rank), snippets by ``ts_headline`` with the file's ``[`` ``]`` markers and a
``…`` where text was cut.

Team semantics (docs/team.md, "Conversations"): each conversation records its member
(core/ledger/members.py) and host; every read is limited to the store's member, so a
member lists, searches and opens only their own conversations; another member's id is
"not found". Two installs of one member (two data folders, two machines) share them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sparklio_desktop.core.conversations.fts_query import tsquery_text
from sparklio_desktop.core.conversations.store import _CONVERSATION_COLUMNS, ConversationStore
from sparklio_desktop.core.ledger.members import resolve_member, this_host

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = ["LABEL", "SEARCH_CONFIG", "WRITE_LOCK", "PostgresConversationStore", "team_conversations_state"]

LABEL = "conversations database"
SEARCH_CONFIG = "conversations_search"  # the text search configuration revision 0003 creates
_HEADLINE_OPTIONS = "StartSel=[, StopSel=], MaxWords=14, MinWords=6"
_QUERY = f"to_tsquery('{SEARCH_CONFIG}', ?)"
# pg_advisory_xact_lock's first key for "a member's conversations are being written" (the
# second is the member's hashtext); any fixed int4 apart from the ledger's keys. ASCII "conv".
WRITE_LOCK = 0x636F6E76


@lru_cache(maxsize=256)
def _driver_sql(sql: str) -> str:
    """The shared SQL's ``?`` placeholders as psycopg's ``%s`` (the SQL holds no ``%``)."""
    return sql.replace("?", "%s")


class _PgConnection:
    """One transaction on the engine, with the small interface the shared logic uses."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        return self._conn.exec_driver_sql(_driver_sql(sql), tuple(parameters))


def _ellipsised(headline: str, content: str) -> str:
    """``ts_headline``'s fragment with ``…`` where it starts after, or ends before, the text
    (FTS5's ``snippet()`` does that; ``ts_headline`` does not)."""
    plain = " ".join(re.sub(r"[\[\]]", "", headline).split())
    whole = " ".join(re.sub(r"[\[\]]", "", content).split())
    text = headline.strip()
    if plain and not whole.startswith(plain):
        text = "…" + text
    if plain and not whole.endswith(plain):
        text += "…"
    return text


class PostgresConversationStore(ConversationStore):
    """The member's conversations in the team database at ``url`` (a ``postgresql+psycopg://`` URL)."""

    backend = "postgresql"

    _NULL_SAFE_EQ = "IS NOT DISTINCT FROM"

    def __init__(self, url: str, *, member: str | None = None) -> None:
        from sparklio_desktop.core.ledger.engine import create_postgres_engine
        from sparklio_desktop.core.ledger.location import redacted_url
        from sparklio_desktop.core.ledger.schema_upgrade import upgrade_ledger

        self.member = resolve_member(member)  # a malformed $SPARKLIO_MEMBER is refused before opening
        self.host = this_host()
        self.reopen_target = url
        self.target = redacted_url(url)
        self._scope = " AND c.member = ?"
        self._scope_params = (self.member,)
        engine: Engine = create_postgres_engine(url, LABEL)
        try:
            upgrade_ledger(engine, label=LABEL)
        except BaseException:
            engine.dispose()
            raise
        self._engine = engine

    def close(self) -> None:
        self._engine.dispose()

    @property
    def _where(self) -> str:
        return "your conversations"

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[_PgConnection]:
        """One transaction; a write first takes the member's transaction-scoped advisory lock,
        so one member's writes from several installs take turns as the file's
        ``BEGIN IMMEDIATE`` makes them (two turns sent at once after the same leaf would
        otherwise both read it and become siblings); other members never wait."""
        with self._engine.begin() as conn:
            session = _PgConnection(conn)
            if write:
                session.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK}, hashtext(?))", (self.member,))
            yield session

    # -- the backend's hooks ----------------------------------------------------------------

    def _insert_conversation(self, conn: _PgConnection, values: tuple[Any, ...]) -> bool:
        result = conn.execute(
            "INSERT INTO conversations (id, title, task, options_json, created_at, updated_at, member, host)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (*values, self.member, self.host),
        )
        return bool(result.rowcount)

    def _insert_id(self, conn: _PgConnection, sql: str, params: tuple[Any, ...]) -> int:
        return int(conn.execute(sql + " RETURNING id", params).scalar_one())

    def _prefix_match(self, prefix: str) -> tuple[str, str]:
        return "c.id LIKE ?", prefix + "%"

    def _search_query(self, text: str) -> str | None:
        return tsquery_text(text)

    def _turn_matches(self, conn: _PgConnection, match: str, window: int) -> Iterable[Sequence[Any]]:
        # A plan for this query's words, never a generic one: psycopg prepares a statement
        # run five times, and PostgreSQL's generic plan for ``@@ to_tsquery($1)`` scans every
        # turn (80 ms over 20,000 turns instead of 7). SET LOCAL ends with the transaction.
        conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        # The window first (newest matching turns of the member's conversations), then one
        # best turn per conversation: DISTINCT ON keeps the first row of each in that order.
        return list(
            conn.execute(
                f"""WITH m AS MATERIALIZED (
                    SELECT t.id, t.conversation_id, c.seq, t.content_tsv FROM turns t
                    JOIN conversations c ON c.id = t.conversation_id
                    WHERE t.content_tsv @@ {_QUERY} AND c.member = ? ORDER BY t.id DESC LIMIT ?
                ) SELECT DISTINCT ON (m.conversation_id) m.conversation_id, m.seq, m.id,
                    -ts_rank(m.content_tsv, {_QUERY}, 1) AS r
                FROM m ORDER BY m.conversation_id, r, m.id DESC""",
                (match, self.member, window, match),
            ).fetchall()
        )

    def _title_matches(self, conn: _PgConnection, match: str, window: int) -> Iterable[Sequence[Any]]:
        return list(
            conn.execute(
                f"""SELECT c.id, c.seq, -ts_rank(c.title_tsv, {_QUERY}, 1) FROM conversations c
                WHERE c.title_tsv @@ {_QUERY} AND c.member = ? ORDER BY c.seq DESC LIMIT ?""",
                (match, match, self.member, window),
            ).fetchall()
        )

    def _live_summaries(self, conn: _PgConnection, ids: Sequence[str]) -> list[Sequence[Any]]:
        return list(
            conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c LEFT JOIN turns l ON l.id = c.current_leaf"
                " WHERE c.deleted_at IS NULL AND c.id = ANY(?) AND c.member = ?",
                (list(ids), self.member),
            ).fetchall()
        )

    def _snippets(
        self, conn: _PgConnection, match: str, turn_ids: Sequence[int], title_seqs: Sequence[int]
    ) -> tuple[dict[int, str], dict[int, str]]:
        def headlines(sql: str, keys: Sequence[int]) -> dict[int, str]:
            if not keys:
                return {}
            rows = conn.execute(sql, (match, _HEADLINE_OPTIONS, list(keys))).fetchall()
            return {int(key): _ellipsised(str(head), str(text)) for key, head, text in rows}

        turns = headlines(
            f"SELECT t.id, ts_headline('{SEARCH_CONFIG}', t.content, {_QUERY}, ?), t.content"
            " FROM turns t WHERE t.id = ANY(?)",
            turn_ids,
        )
        titles = headlines(
            f"SELECT c.seq, ts_headline('{SEARCH_CONFIG}', c.title, {_QUERY}, ?), c.title"
            " FROM conversations c WHERE c.seq = ANY(?)",
            title_seqs,
        )
        return turns, titles


def team_conversations_state(url: str, member: str | None = None) -> str:
    """What ``sparklio doctor`` says of the conversations in the team database at ``url``,
    changing nothing (no upgrade: the first install to open them creates the tables): the
    member's conversations and turns, and everyone's. Raises the one-line
    ``DatabaseServerError`` when the server cannot be used."""
    from sparklio_desktop.core.ledger.engine import create_postgres_engine

    who = resolve_member(member)
    engine = create_postgres_engine(url, LABEL)
    try:
        with engine.connect() as conn:
            exists = conn.exec_driver_sql("SELECT to_regclass('conversations') IS NOT NULL").scalar_one()
            if not exists:
                return "none yet: the first install to open them creates their tables"
            mine, turns, everyone = conn.exec_driver_sql(
                "SELECT COUNT(*) FILTER (WHERE c.member = %s AND c.deleted_at IS NULL),"
                " (SELECT COUNT(*) FROM turns t JOIN conversations m ON m.id = t.conversation_id"
                " WHERE m.member = %s), COUNT(*) FROM conversations c",
                (who, who),
            ).one()
    finally:
        engine.dispose()
    return f"{mine} conversation(s) and {turns} turn(s) of {who}; {everyone} in the team database"
