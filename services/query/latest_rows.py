"""Last-point pushdown: a table read for the newest rows of each group needs only each series' newest rows.

Dashboards and TSBS's ``lastpoint`` ask for the latest reading per host as

    SELECT … FROM (SELECT …, row_number() OVER (PARTITION BY hostname ORDER BY time DESC) AS rn
                   FROM "db"."cpu" WHERE …) WHERE rn = 1

Every column of a PARTITION BY that holds only dimensions and ``measure_name`` is constant within a series,
and a series has one row a time, so a row ranked k-th of its partition by ``time DESC`` is at best the k-th
newest of its own series. The rows ranked 1..k therefore all lie among the k newest rows of each series,
and over just those rows they keep their ranks (``row_number``, ``rank`` and ``dense_rank`` alike: every
row ahead of a kept row is kept), while a row ranked after k still ranks after k. So the replicas may
return only the k newest rows of each series that passed the WHERE, and the final stage, which runs the
query unchanged, gives the same answer.

That holds only when nothing but the ranked rows is used. ``detect`` accepts a table occurrence when:

1. its SELECT reads that table alone (no join), with no GROUP BY, HAVING, DISTINCT, aggregate, LIMIT or
   OFFSET, and every conjunct of its WHERE is evaluated on the replicas (``all_pushed``): a filter applied
   only later could drop a series' newest row and leave its next one as the answer;
2. that SELECT has exactly one window function, ``row_number``, ``rank`` or ``dense_rank``, ordered by the
   table's ``time`` descending first, partitioned by plain columns (the caller checks they are
   dimensions or ``measure_name``), and no output column renames another expression ``time``;
3. that SELECT is a FROM subquery or a CTE used once, neither renaming its columns (``AS s(a, b)``), and
   the SELECT reading it keeps only rows whose rank is at most k, as a top-level conjunct of its WHERE
   (``rn = 1``, ``rn <= k``, ``rn < k`` or ``rn = k``; qualified by the subquery's alias unless it is the
   only source), where ``rn`` names the rank alone: no other output column of the window's SELECT has
   that name (with a ``*`` among its outputs, the caller checks the table's columns).

Ties: ``row_number`` over rows of several series at the same time picks any of them, with or without the
pushdown; the answer may name another of the tied rows, as two runs of the query over every row may.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from services.query.conditions import conjuncts

MAX_ROWS_PER_SERIES = 1000
"""Beyond this a rank filter saves little: the pushdown is not used."""
_RANKING = (exp.RowNumber, exp.Rank, exp.DenseRank)


@dataclass(frozen=True)
class LatestRows:
    """The replicas may return only the ``per_series`` newest rows of each series, if every column of
    ``partition_by`` is a dimension or ``measure_name`` of the table."""

    per_series: int
    partition_by: tuple[str, ...]
    rank_column: str = ""
    """The rank's output name, when the SELECT also outputs ``*``: the caller checks that no column of the
    table has that name (a consumer's reference to it would mean the first of the two)."""


def detect(select: exp.Expr, table: exp.Table, all_pushed: bool) -> LatestRows | None:
    """The last-point pushdown for ``table`` read by ``select`` (its scope's SELECT), or None."""
    if not all_pushed or not isinstance(select, exp.Select) or not _plain(select, table):
        return None
    windows = list(select.find_all(exp.Window))
    if len(windows) != 1 or windows[0].find_ancestor(exp.Select) is not select:
        return None
    window = windows[0]
    partition = _partition_columns(window, table)
    if partition is None or not _ordered_by_time_desc(window, table) or _renames_time(select):
        return None
    alias = window.parent
    if not isinstance(alias, exp.Alias) or alias.parent is not select or _named_twice(select, alias.alias):
        return None
    limit = _rank_limit(select, alias.alias)
    if limit is None or not 1 <= limit <= MAX_ROWS_PER_SERIES:
        return None
    star = any(isinstance(p, exp.Star) or isinstance(p, exp.Column) and isinstance(p.this, exp.Star)
               for p in select.expressions)
    return LatestRows(limit, partition, alias.alias if star else "")


def _named_twice(select: exp.Select, name: str) -> bool:
    """Another output column of the SELECT has the rank's name (DuckDB would bind a reference to the first;
    names compare without case, as DuckDB compares them)."""
    return sum(1 for p in select.expressions if p.alias_or_name.lower() == name.lower()) > 1


def _plain(select: exp.Select, table: exp.Table) -> bool:
    """Reads ``table`` alone, row by row: nothing that sees rows the rank filter drops."""
    if getattr(select.args.get("from_"), "this", None) is not table:
        return False
    for arg in ("joins", "laterals", "group", "having", "distinct", "limit", "offset", "qualify", "windows"):
        if select.args.get(arg):
            return False
    return not any(isinstance(node, exp.AggFunc) and node.find_ancestor(exp.Window) is None
                   for node in select.find_all(exp.AggFunc))


def _partition_columns(window: exp.Window, table: exp.Table) -> tuple[str, ...] | None:
    if not isinstance(window.this, _RANKING) or window.this.expressions or window.args.get("spec") is not None:
        return None
    names = []
    for item in window.args.get("partition_by") or ():
        if not isinstance(item, exp.Column) or not _of_table(item, table):
            return None
        names.append(item.name)
    return tuple(names)


def _ordered_by_time_desc(window: exp.Window, table: exp.Table) -> bool:
    order = window.args.get("order")
    keys = order.expressions if order is not None else []
    if not keys or not isinstance(keys[0], exp.Ordered) or not keys[0].args.get("desc"):
        return False
    first = keys[0].this
    return isinstance(first, exp.Column) and first.name.lower() == "time" and _of_table(first, table)


def _renames_time(select: exp.Select) -> bool:
    """An output column called ``time`` that is not the table's: an ORDER BY time could mean it."""
    return any(p.alias_or_name.lower() == "time" and not (isinstance(p.unalias(), exp.Column)
                                                           and p.unalias().name.lower() == "time")
               for p in select.expressions)


def _of_table(column: exp.Column, table: exp.Table) -> bool:
    qualifier = column.table
    return not qualifier or qualifier.lower() == table.alias_or_name.lower()


def _rank_limit(select: exp.Select, rank_name: str) -> int | None:
    """k when the SELECT reading ``select``'s rows keeps only those ranked at most k."""
    consumer, source_alias, only_source = _consumer(select)
    if consumer is None or consumer.args.get("where") is None:
        return None
    best: int | None = None
    for conjunct in conjuncts(consumer.args["where"].this):
        limit = _limit_of(conjunct, rank_name, source_alias, only_source)
        if limit is not None:
            best = limit if best is None else min(best, limit)
    return best


def _consumer(select: exp.Select) -> tuple[exp.Select | None, str, bool]:
    """The SELECT whose FROM or JOIN reads ``select`` (as a subquery, or as a CTE referenced once), the
    name it reads it under, and whether it is that SELECT's only source."""
    parent = select.parent
    if _renames_columns(parent):
        return None, "", False  # `AS s(a, b, …)` renames the outputs by position: `rn` may be another column
    if isinstance(parent, exp.Subquery):
        holder = parent.parent
        name = parent.alias_or_name
    elif isinstance(parent, exp.CTE):
        with_ = parent.parent
        query = with_.parent if with_ is not None else None
        if query is None:
            return None, "", False
        uses = [t for t in query.find_all(exp.Table) if not t.args.get("db") and t.name.lower() == parent.alias.lower()]
        if len(uses) != 1 or _renames_columns(uses[0]):
            return None, "", False
        holder = uses[0].parent
        name = uses[0].alias_or_name
    else:
        return None, "", False
    if not isinstance(holder, (exp.From, exp.Join)) or not isinstance(holder.parent, exp.Select):
        return None, "", False
    consumer = holder.parent
    return consumer, name, not consumer.args.get("joins") and not consumer.args.get("laterals")


def _renames_columns(node: exp.Expr | None) -> bool:
    alias = node.args.get("alias") if node is not None else None
    return isinstance(alias, exp.TableAlias) and bool(alias.columns)


def _limit_of(conjunct: exp.Expr, rank_name: str, source: str, only_source: bool) -> int | None:
    if not isinstance(conjunct, (exp.EQ, exp.LT, exp.LTE, exp.GT, exp.GTE)):
        return None
    left, right = conjunct.this.unnest(), conjunct.expression.unnest()
    flipped = False
    if isinstance(right, exp.Column) and not isinstance(left, exp.Column):
        left, right, flipped = right, left, True
    if not isinstance(left, exp.Column) or left.name.lower() != rank_name.lower():
        return None
    if left.table and left.table.lower() != source.lower():
        return None
    if not left.table and not only_source:
        return None
    if not isinstance(right, exp.Literal) or right.is_string:
        return None
    try:
        value = int(right.this)
    except ValueError:
        return None
    kind: type[exp.Expr] = type(conjunct)
    if flipped:
        kind = _FLIPPED.get(kind, kind)
    if kind is exp.EQ or kind is exp.LTE:
        return value
    if kind is exp.LT:
        return value - 1
    return None


_FLIPPED: dict[type[exp.Expr], type[exp.Expr]] = {exp.LT: exp.GT, exp.LTE: exp.GTE, exp.GT: exp.LT, exp.GTE: exp.LTE}
