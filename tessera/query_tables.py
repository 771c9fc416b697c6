"""The ``database.table`` names a query's FROM and JOIN clauses mention, found without parsing the SQL,
so that the SDK can send the query to a coordinator of the cell that holds them (a coordinator elsewhere
would forward it there: one more hop). A miss only costs that hop, never a wrong answer: the coordinator
plans from the real parse."""

from __future__ import annotations

import re

_NAME = r'("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_]*)'
_TABLE = re.compile(rf"\b(?:FROM|JOIN)\s+{_NAME}\s*\.\s*{_NAME}", re.IGNORECASE)
_QUOTED_TEXT = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.DOTALL)
# FROM that does not start a table list: x IS [NOT] DISTINCT FROM y, EXTRACT(unit FROM t), trim([BOTH|LEADING|
# TRAILING] [chars] FROM s).
_NOT_A_TABLE = re.compile(r"\bDISTINCT\s+FROM\b|\bEXTRACT\s*\(\s*\w+\s+FROM\b|\b(?:BOTH|LEADING|TRAILING)\s+FROM\b"
                          r"|\(\s*FROM\b", re.IGNORECASE)


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def named_tables(sql: str) -> list[tuple[str, str]]:
    """``(database, table)`` pairs after FROM or JOIN, outside string literals and comments, in order,
    without repeats."""
    text = _NOT_A_TABLE.sub(" ", _QUOTED_TEXT.sub(" ", sql))
    return list(dict.fromkeys((_unquote(db), _unquote(table)) for db, table in _TABLE.findall(text)))
