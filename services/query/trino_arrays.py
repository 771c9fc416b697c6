"""Array functions of Trino (hence Timestream) whose DuckDB namesakes answer differently, or that DuckDB
names differently.

- ``array_distinct(a)``: Trino keeps the first occurrence of each element, in order, and one NULL; DuckDB's
  ``list_distinct`` returns them in hash order and drops NULLs.
- ``array_union(a, b)``, ``array_intersect(a, b)``, ``array_except(a, b)``: distinct elements (a NULL counts
  as one element), in the order they first appear in ``a`` (then ``b`` for a union).
- ``arrays_overlap(a, b)``, ``zip(a, b, ...)``, ``codepoint(s)``: DuckDB's ``list_has_any``, ``list_zip``
  (padding the shorter arrays with NULL, as Trino does) and ``unicode``.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

# ``list_position`` finds NULL too (``IS NOT DISTINCT FROM``), so a NULL element is kept once.
_DISTINCT = "list_filter(__a, lambda x, i: list_position(__a, x) = i)"
_TEMPLATES = {
    "distinct": _DISTINCT,
    "union": _DISTINCT.replace("__a", "list_concat(__a, __b)"),
    "intersect": f"list_filter({_DISTINCT}, lambda x: list_position(__b, x) IS NOT NULL)",
    "except": f"list_filter({_DISTINCT}, lambda x: list_position(__b, x) IS NULL)",
}


def _fill(template: str, **args: exp.Expr) -> exp.Expr:
    tree = sqlglot.parse_one(template, read="duckdb")
    return tree.transform(lambda n: exp.paren(args[n.name[2:]].copy())
                          if isinstance(n, exp.Column) and n.name.startswith("__") else n)


def set_operation(kind: str, a: exp.Expr, b: exp.Expr | None = None) -> exp.Expr:
    """``array_<kind>`` (distinct, union, intersect or except) with Trino's order and NULL handling."""
    return _fill(_TEMPLATES[kind], a=a, **({"b": b} if b is not None else {}))


def rename(name: str, args: list[exp.Expr]) -> exp.Expr:
    """A function DuckDB has under another name."""
    return exp.Anonymous(this={"arrays_overlap": "list_has_any", "zip": "list_zip", "codepoint": "unicode"}[name],
                         expressions=[a.copy() for a in args])
