"""``GROUP BY ALL …`` and ``GROUP BY DISTINCT …`` with Trino's meaning (hence Timestream's).

In Trino the set quantifier says what happens to the grouping sets that ``ROLLUP``, ``CUBE`` and
``GROUPING SETS`` produce when a GROUP BY crosses several of them: ``ALL`` (the default) keeps repeated sets,
so their groups appear more than once; ``DISTINCT`` keeps each set once. DuckDB keeps them all too, but reads
``GROUP BY ALL`` as "group by every non-aggregate column" and has no ``GROUP BY DISTINCT``: the quantifier
is dropped for ALL, and for DISTINCT the grouping sets are spelled out, each once, as ``GROUPING SETS``.
"""

from __future__ import annotations

import itertools

from sqlglot import exp

from tessera.errors import ValidationError

MAX_GROUPING_SETS = 4096


def quantified_group(node: exp.Group) -> exp.Expr | None:
    """``node`` without its quantifier (DuckDB's GROUP BY); None when it has none."""
    quantifier = node.args.get("all")
    if quantifier is None:
        return None
    group = node.copy()
    group.set("all", None)
    if quantifier:  # ALL: Trino's default, which DuckDB's plain GROUP BY already is
        return group
    sets: list[list[exp.Expr]] = [[]]
    for element in node.expressions:
        crossed = []
        for left, right in itertools.product(sets, _sets_of(element)):
            crossed.append(_union(left, right))
            if len(crossed) > MAX_GROUPING_SETS:
                raise ValidationError(f"GROUP BY DISTINCT expands to more than {MAX_GROUPING_SETS} grouping sets")
        sets = crossed
    unique: dict[frozenset[str], list[exp.Expr]] = {}
    for members in sets:
        unique.setdefault(frozenset(m.sql() for m in members), members)
    group.set("expressions", [exp.GroupingSets(expressions=[exp.Tuple(expressions=[m.copy() for m in members])
                                                            for members in unique.values()])])
    return group


def _sets_of(element: exp.Expr) -> list[list[exp.Expr]]:
    """The grouping sets one GROUP BY element stands for."""
    if isinstance(element, exp.Rollup):
        parts = [_columns(e) for e in element.expressions]
        return [[c for part in parts[:n] for c in part] for n in range(len(parts), -1, -1)]
    if isinstance(element, exp.Cube):
        parts = [_columns(e) for e in element.expressions]
        if len(parts) > 12:
            raise ValidationError("CUBE takes at most 12 elements (2^12 grouping sets)")
        return [[c for part in chosen for c in part] for n in range(len(parts), -1, -1)
                for chosen in itertools.combinations(parts, n)]
    if isinstance(element, exp.GroupingSets):
        return [_columns(e) for e in element.expressions]
    return [[element]]


def _columns(element: exp.Expr) -> list[exp.Expr]:
    """The expressions of one grouping-set member: ``(a, b)``, ``(a)``, ``()`` or ``a``."""
    if isinstance(element, exp.Tuple):
        return list(element.expressions)
    if isinstance(element, exp.Paren):
        return [element.this]
    return [element]


def _union(left: list[exp.Expr], right: list[exp.Expr]) -> list[exp.Expr]:
    members = list(left)
    seen = {e.sql() for e in left}
    for e in right:
        if e.sql() not in seen:
            seen.add(e.sql())
            members.append(e)
    return members
