"""What a person types into the search box, as a full-text query that cannot fail.

FTS5 (the file, :func:`fts_query`) and PostgreSQL's ``to_tsquery`` (the team database,
:func:`tsquery_text`) each have a query language (FTS5: ``AND``, ``OR``, ``NOT``,
``NEAR``, ``*``, ``^``, ``"``, parentheses, ``column:``; tsquery: ``&``, ``|``, ``!``,
``<->``, ``:*``, quotes, parentheses); a user who types ``c++ (draft)`` or ``"quote`` must
get matches, not a syntax error. The same reading on both: whitespace-separated terms,
ANDed; a term is a phrase of its words; the last term is a prefix match (``"ter"*``,
``'ter':*``) so search-as-you-type finds "terminal" while the word is half typed. A term
with no letter or digit (``*``, ``--``) is dropped; nothing left means no query at all
(the store answers ``[]``).
"""

from __future__ import annotations

import re

__all__ = ["fts_query", "tsquery_text"]

_WORD = re.compile(r"[^\W_]+")


def _terms(text: str) -> list[str]:
    return [term for term in text.split() if any(ch.isalnum() for ch in term)]


def fts_query(text: str) -> str | None:
    """``text`` as a safe FTS5 MATCH expression, or None when nothing searchable is left.

    Every term becomes a quoted string (inner quotes doubled), which FTS5 reads as a
    phrase of that term's tokens."""
    terms = _terms(text)
    if not terms:
        return None
    quoted = ['"' + term.replace('"', '""') + '"' for term in terms]
    quoted[-1] += "*"
    return " ".join(quoted)


def tsquery_text(text: str) -> str | None:
    """``text`` as a safe ``to_tsquery`` argument, or None when nothing searchable is left.

    Each term's words (runs of letters and digits: nothing else reaches the query, so no
    operator or quote can) are quoted lexemes joined by ``<->`` (a phrase, as FTS5 reads a
    quoted term); terms are joined by ``&``; the last word gets ``:*``."""
    phrases = [words for words in (_WORD.findall(term) for term in _terms(text)) if words]
    if not phrases:
        return None
    parts = [" <-> ".join(f"'{word}'" for word in words) for words in phrases]
    parts[-1] += ":*"
    return " & ".join(f"({part})" for part in parts)
