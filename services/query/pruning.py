"""Partition-key pruning: which hash ranges (hence cells and tiles) one table scan has to read.

A table with a partition key places every record by the hash of that one attribute
(``tessera.partition_key``), so a scan whose WHERE pins the key to a few values reads only the ranges
those values hash to. "Pins" means a top-level conjunct of the pushed-down predicate (the WHERE on that
table alone, see ``translate.TableScan.predicate``) of the form ``key = 'v'``, ``'v' = key`` or
``key IN ('v', 'w')`` with string literals; several such conjuncts intersect. Anything else (an OR, a
function of the key, NOT, a non-string literal, a subquery) pins nothing, and the scan reads every range.

Rows lacking the key all sit in the range of ``layout.ABSENT_KEY_HASH``; an equality never matches them
(NULL = 'v' is not true), so they need no range of their own.

Cells follow from ranges (a range's readers). Tiles follow too, but only while the table's routing is the
one it was created with (epoch 1): every tile then starts at a current range's ``lo``. After SplitTable a
former owner's tiles start at old boundaries, so such a cell is read whole (still only the cells the pinned
ranges name).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from services.query.conditions import conjuncts
from services.query.literals import literal_ns
from services.query.translate import TableScan
from tessera import layout, partition_key, placement, sqlsession
from tessera.v1 import common_pb2

INITIAL_EPOCH = 1
"""The routing epoch of a table as created (``routing_map.initial``/``spread``): no range has moved yet."""


@dataclass(frozen=True)
class RangePlan:
    """The ranges one table scan reads, and what follows from them."""

    ranges: tuple[common_pb2.HashRange, ...]
    """The ranges to read, in hash order (every range of the route unless pruned)."""
    total: int
    """How many ranges the route has."""
    values: tuple[str, ...] | None
    """The partition-key values the WHERE pins, which chose ``ranges``; None = not pruned."""
    exact_tiles: bool
    """Every tile of the table starts at a current range's lo, so tiles can be chosen by range."""
    any_range_merges: bool = False
    """Some range of the whole route has several readers (versions of one key may sit in several cells)."""

    @property
    def pruned(self) -> bool:
        """Whether a partition-key predicate narrowed the ranges."""
        return self.values is not None

    @property
    def cells(self) -> list[str]:
        """Every cell that may hold rows of the chosen ranges (owners and former owners), sorted."""
        return sorted({c for r in self.ranges for c in (r.readers or [r.cell])})

    @property
    def merge_cells(self) -> bool:
        """Whether rows read may hold versions of one key from several cells.

        Without exact tiles a chosen cell is read whole, other ranges' tiles included, so a range that was
        not chosen but has several readers counts too (a key's older version in one cell, its upsert in another).
        """
        if any(len(r.readers) > 1 for r in self.ranges):
            return True
        return self.pruned and not self.exact_tiles and self.any_range_merges

    def range_los(self, cell: str) -> tuple[int, ...]:
        """The ``range_lo`` of the tiles to read in ``cell``; () = every tile of the table there."""
        if not self.pruned or not self.exact_tiles:
            return ()
        return tuple(r.lo for r in self.ranges if cell in (r.readers or [r.cell]))


def plan(route: common_pb2.TableRoute, scan: TableScan) -> RangePlan:
    """The ranges ``scan`` must read of the table ``route`` describes."""
    everything = RangePlan(tuple(route.ranges), len(route.ranges), None, route.epoch == INITIAL_EPOCH)
    key = partition_key.of_route(route)
    if key is None or not _registered(route, key):
        return everything
    values = pinned_values(scan.predicate, key.column)
    if values is None:
        return everything
    chosen = {placement.range_for(route.ranges, key.hash_of(v)).lo for v in values}
    ranges = tuple(r for r in route.ranges if r.lo in chosen)
    return RangePlan(ranges, len(route.ranges), tuple(sorted(values)), route.epoch == INITIAL_EPOCH,
                     any(len(r.readers) > 1 for r in route.ranges))


def _registered(route: common_pb2.TableRoute, key: partition_key.PartitionKey) -> bool:
    # Until a row carries the key dimension the table has no such column, and a WHERE naming it may bind to
    # a SELECT alias of that name instead (DuckDB allows it): then it says nothing about where rows are.
    # A column whose name differs from another only in case is bound by DuckDB to either: then the WHERE
    # may mean the other column, and it says nothing about where rows are either.
    if case_collides(route, key.column):
        return False
    return key.column == layout.MEASURE_NAME or any(
        c.name == key.column and c.kind == partition_key.DIMENSION for c in route.columns)


def case_collides(route: common_pb2.TableRoute, column: str) -> bool:
    """Whether another column of the table has the same name but for case (DuckDB cannot tell them apart)."""
    folded = sqlsession.fold(column)
    names = {name for name, _ in layout.stored_columns(route.columns)} | {layout.TIME, layout.MEASURE_NAME}
    return any(n != column and sqlsession.fold(n) == folded for n in names)


@functools.lru_cache(maxsize=256)
def _top_levelconjuncts(predicate: str) -> tuple[exp.Expr, ...] | None:
    """The parsed top-level conjuncts of a predicate, parsed once for every column asked about (a query's
    predicate carries its own time literal, so each query parses it once, not once per column). Read only."""
    try:
        return tuple(conjuncts(sqlglot.parse_one(predicate, read="duckdb")))
    except SqlglotError:
        return None


@functools.lru_cache(maxsize=1024)
def pinned_values(predicate: str, column: str) -> frozenset[str] | None:
    """The string values the top-level conjuncts of ``predicate`` (DuckDB SQL) restrict ``column`` to, or
    None when none of them restricts it to a list of string literals."""
    conjuncts = _top_levelconjuncts(predicate) if predicate else None
    if conjuncts is None:
        return None
    found: frozenset[str] | None = None
    for conjunct in conjuncts:
        values = _equality_values(conjunct, column)
        if values is not None:
            found = values if found is None else found & values
    return found


_TIME_COMPARISONS = (exp.GT, exp.GTE, exp.LT, exp.LTE)


def covered_by_key_filters(predicate: str, key_columns: frozenset[str]) -> bool:
    """Whether every top-level conjunct of ``predicate`` is one a replica's read already applies exactly:
    ``time`` compared with a timestamp literal (the scan's time range holds it), or a ``key_columns`` column
    (dimensions and measure_name sent as key filters) ``= 'v'`` / ``IN ('a', …)``. The replica then need
    not run the predicate through DuckDB. (The coordinator's final stage applies the whole WHERE anyway.)"""
    conjuncts = _top_levelconjuncts(predicate) if predicate else None
    if not conjuncts:
        return False
    for conjunct in conjuncts:
        if isinstance(conjunct, _TIME_COMPARISONS):
            sides = (conjunct.this, conjunct.expression)
            if any(_is_column(a, layout.TIME) and literal_ns(b.unnest()) is not None for a, b in (sides, sides[::-1])):
                continue
            return False
        if isinstance(conjunct, exp.Between) and _is_column(conjunct.this, layout.TIME):
            if literal_ns(conjunct.args["low"].unnest()) is not None and literal_ns(
                    conjunct.args["high"].unnest()) is not None:
                continue
            return False
        if not any(_equality_values(conjunct, column) is not None for column in key_columns):
            return False
    return True


def _is_column(node: exp.Expr, column: str) -> bool:
    node = node.unnest()
    return isinstance(node, exp.Column) and not node.table and node.name == column


def _string(node: exp.Expr) -> str | None:
    node = node.unnest()
    return node.this if isinstance(node, exp.Literal) and node.is_string else None


def _equality_values(conjunct: exp.Expr, column: str) -> frozenset[str] | None:
    """The values one conjunct allows ``column`` to take, when it is ``column = 'v'`` or ``column IN (...)``."""
    if isinstance(conjunct, exp.EQ):
        for side, other in ((conjunct.this, conjunct.expression), (conjunct.expression, conjunct.this)):
            value = _string(other)
            if _is_column(side, column) and value is not None:
                return frozenset([value])
        return None
    if isinstance(conjunct, exp.In) and _is_column(conjunct.this, column):
        if conjunct.args.get("query") or conjunct.args.get("unnest") or conjunct.args.get("field"):
            return None
        values = [_string(e) for e in conjunct.expressions]
        if not values or any(v is None for v in values):
            return None
        return frozenset(v for v in values if v is not None)
    return None
