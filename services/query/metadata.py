"""Timestream's metadata statements: ``SHOW DATABASES``, ``SHOW TABLES``, ``SHOW MEASURES`` and ``DESCRIBE``.

They are answered from the catalog (databases, tables, each table's columns), except ``SHOW MEASURES``, which
lists the measure names present in the table's rows and so runs as a query over them. Result shapes, as
Timestream's (and what Grafana's Timestream plugin reads):

- ``SHOW DATABASES [LIKE 'p']``: one column ``Database``.
- ``SHOW TABLES FROM db [LIKE 'p']`` (``IN`` too): one column ``Table``.
- ``DESCRIBE db.tbl``: ``Column``, ``Type``, ``Timestream attribute type`` (DIMENSION, MEASURE_NAME,
  TIMESTAMP, MULTI for a multi-measure attribute, MEASURE_VALUE for ``measure_value::<type>``).
- ``SHOW MEASURES FROM db.tbl [LIKE 'p']``: ``measure_name``, ``data_type`` (the measure's type, ``multi``
  for multi-measure records), ``Dimensions`` (an array of rows ``(dimension_name, data_type)``: the
  dimensions present in that measure's rows).

``LIKE`` patterns are SQL's (``%`` any run, ``_`` one character), case-sensitive as in Trino. Names may be
quoted (``"my-db"."my-table"``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from tessera import layout
from tessera.errors import ValidationError
from tessera.v1 import common_pb2

_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z0-9_\-]+)'
_LIKE = r"(?:\s+LIKE\s+'(?P<like>(?:[^']|'')*)')?"
_END = r"\s*;?\s*$"
_STATEMENTS = {
    "databases": re.compile(r"^\s*SHOW\s+DATABASES" + _LIKE + _END, re.IGNORECASE),
    "tables": re.compile(r"^\s*SHOW\s+TABLES(?:\s+(?:FROM|IN)\s+(?P<db>" + _NAME + r"))?" + _LIKE + _END,
                         re.IGNORECASE),
    "measures": re.compile(r"^\s*SHOW\s+MEASURES\s+(?:FROM|IN)\s+(?P<db>" + _NAME + r")\.(?P<table>" + _NAME + r")"
                           + _LIKE + _END, re.IGNORECASE),
    "describe": re.compile(r"^\s*(?:DESCRIBE|DESC)\s+(?P<db>" + _NAME + r")\.(?P<table>" + _NAME + r")" + _END,
                           re.IGNORECASE),
}
_METADATA_START = re.compile(r"^\s*(?:SHOW|DESCRIBE|DESC)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Statement:
    """A parsed metadata statement."""

    kind: str  # databases | tables | measures | describe
    database: str = ""
    table: str = ""
    like: str | None = None


class Catalog(Protocol):
    async def list_databases(self) -> list[str]: ...
    async def list_tables(self, database: str) -> list[str]: ...
    async def columns(self, database: str, table: str) -> Sequence[common_pb2.Column]: ...


class Names(Protocol):
    async def list_databases(self) -> list[str]: ...
    async def list_tables(self, db: str) -> list[str]: ...


class Routes(Protocol):
    async def get(self, db: str, table: str, min_epoch: int = 0) -> common_pb2.TableRoute: ...
    def invalidate(self, db: str, table: str) -> None: ...


class DiscoveryCatalog:
    """The catalog as the coordinator sees it: names from discovery, columns from the cached routes."""

    def __init__(self, names: Names, routes: Routes) -> None:
        self._names = names
        self._routes = routes

    async def list_databases(self) -> list[str]:
        return await self._names.list_databases()

    async def list_tables(self, database: str) -> list[str]:
        return await self._names.list_tables(database)

    async def columns(self, database: str, table: str) -> Sequence[common_pb2.Column]:
        # Fresh, not the cache's possibly stale copy: these statements are rare and must show every column.
        self._routes.invalidate(database, table)
        return list((await self._routes.get(database, table)).columns)


Query = Callable[[str], Awaitable[pa.Table]]
"""Runs a SELECT through the query engine (SHOW MEASURES)."""


def _name(text: str | None) -> str:
    if text is None:
        return ""
    return text[1:-1].replace('""', '"') if text.startswith('"') else text


# Possessive: skipped in linear time whatever follows (a backtracking ``(\s+|…)*`` before a keyword took
# exponential time on blank lines).
_LEADING_COMMENTS = re.compile(r"^(?:\s++|--[^\n]*+|/\*.*?\*/)*+", re.DOTALL)


def without_leading_comments(sql: str) -> str:
    """``sql`` from its first token on (blanks and comments before it skipped)."""
    return sql[_LEADING_COMMENTS.match(sql).end():]  # type: ignore[union-attr]  # matches the empty string


def parse(sql: str) -> Statement | None:
    """The metadata statement ``sql`` is, None if it is not one; ValidationError for a malformed one."""
    sql = without_leading_comments(sql)
    if not _METADATA_START.match(sql):
        return None
    for kind, pattern in _STATEMENTS.items():
        m = pattern.match(sql)
        if m is None:
            continue
        groups = m.groupdict()
        like = groups.get("like")
        if kind == "tables" and not groups.get("db"):
            raise ValidationError("SHOW TABLES needs the database: SHOW TABLES FROM <database> [LIKE 'pattern']")
        return Statement(kind, _name(groups.get("db")), _name(groups.get("table")),
                         None if like is None else like.replace("''", "'"))
    raise ValidationError("unsupported statement; the metadata statements are SHOW DATABASES [LIKE 'p'], "
                          "SHOW TABLES FROM db [LIKE 'p'], SHOW MEASURES FROM db.table [LIKE 'p'] and "
                          "DESCRIBE db.table")


def like_matcher(pattern: str | None) -> Callable[[str], bool]:
    """A test of SQL LIKE (``%``, ``_``; case-sensitive) against a name."""
    if pattern is None:
        return lambda _: True
    regex = re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern), re.DOTALL)
    return lambda name: regex.fullmatch(name) is not None


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def run(statement: Statement, catalog: Catalog, query: Query) -> pa.Table:
    """The statement's result."""
    matches = like_matcher(statement.like)
    if statement.kind == "databases":
        names = sorted(n for n in await catalog.list_databases() if matches(n))
        return pa.table({"Database": pa.array(names, pa.string())})
    if statement.kind == "tables":
        names = sorted(n for n in await catalog.list_tables(statement.database) if matches(n))
        return pa.table({"Table": pa.array(names, pa.string())})
    columns = await catalog.columns(statement.database, statement.table)
    if statement.kind == "describe":
        return _describe(columns)
    return await _measures(statement, columns, query)


def _describe(columns: Sequence[common_pb2.Column]) -> pa.Table:
    """The columns in ``SELECT *``'s order (``layout.select_star_order``)."""
    stored = {**dict(layout.stored_columns(columns)), layout.MEASURE_NAME: "VARCHAR", layout.TIME: "TIMESTAMP"}
    kinds = {c.name: c.kind for c in columns if c.kind != "MEASURE"}
    attribute = {layout.MEASURE_NAME: "MEASURE_NAME", layout.TIME: "TIMESTAMP", **{
        n: "DIMENSION" if k == "DIMENSION" else "MULTI" for n, k in kinds.items()}}
    rows = [(name, stored[name].lower(), attribute.get(name, "MEASURE_VALUE"))
            for name in layout.select_star_order(columns)]
    return pa.table({"Column": [r[0] for r in rows], "Type": [r[1] for r in rows],
                     "Timestream attribute type": [r[2] for r in rows]})


_DIMENSION_TYPE = pa.struct([("dimension_name", pa.string()), ("data_type", pa.string())])


async def _measures(statement: Statement, columns: Sequence[common_pb2.Column], query: Query) -> pa.Table:
    dimensions = [c for c in columns if c.kind == "DIMENSION"]
    single_types = sorted({c.type for c in columns if c.kind == "MEASURE"})
    multi = [c for c in columns if c.kind == "MULTI"]
    counts = [f"count({_quoted(c.name)}) AS {_quoted('d:' + c.name)}" for c in dimensions]
    counts += [f"count({_quoted(layout.SINGLE_VALUE_COLUMNS[t])}) AS {_quoted('s:' + t)}" for t in single_types]
    counts += [f"count({_quoted(c.name)}) AS {_quoted('m:' + c.name)}" for c in multi]
    source = f"{_quoted(statement.database)}.{_quoted(statement.table)}"
    sql = f"SELECT measure_name{''.join(', ' + c for c in counts)} FROM {source} GROUP BY measure_name"
    if statement.like is not None:
        sql += f" HAVING measure_name LIKE {_sql_string(statement.like)}"
    found = (await query(sql)).to_pylist()
    names, types, dims = [], [], []
    for row in sorted(found, key=lambda r: str(r["measure_name"])):
        name = row["measure_name"]
        if name is None:
            continue
        kinds = [t.lower() for t in single_types if row["s:" + t]]
        names.append(name)
        types.append("multi" if any(row["m:" + c.name] for c in multi) else ",".join(kinds) or "unknown")
        dims.append([{"dimension_name": c.name, "data_type": c.type.lower()} for c in dimensions
                     if row["d:" + c.name]])
    return pa.table({"measure_name": pa.array(names, pa.string()), "data_type": pa.array(types, pa.string()),
                     "Dimensions": pa.array(dims, pa.list_(_DIMENSION_TYPE))})
