"""What a person types into the search box, as an FTS5 query that cannot fail.

FTS5 has its own query language (``AND``, ``OR``, ``NOT``, ``NEAR``, ``*``, ``^``,
``"``, parentheses, ``column:``); a user who types ``c++ (draft)`` or ``"quote`` must get
matches, not a syntax error. So every whitespace-separated term becomes a quoted string
(inner quotes doubled), which FTS5 reads as a phrase of that term's tokens; terms are
ANDed (FTS5's implicit operator), and the last term is a prefix match (``"ter"*``) so
search-as-you-type finds "terminal" while the word is half typed. A term with no letter
or digit (``*``, ``--``) would be an empty phrase and is dropped; nothing left means no
query at all (the store answers ``[]``).
"""

from __future__ import annotations

__all__ = ["fts_query"]


def fts_query(text: str) -> str | None:
    """``text`` as a safe FTS5 MATCH expression, or None when nothing searchable is left."""
    terms = [term for term in text.split() if any(ch.isalnum() for ch in term)]
    if not terms:
        return None
    quoted = ['"' + term.replace('"', '""') + '"' for term in terms]
    quoted[-1] += "*"
    return " ".join(quoted)
