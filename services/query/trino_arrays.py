"""Array functions of Trino (hence Timestream) whose DuckDB namesakes answer differently, or that DuckDB
names differently.

- ``array_distinct(a)``: Trino keeps the first occurrence of each element, in order, and one NULL; DuckDB's
  ``list_distinct`` returns them in hash order and drops NULLs.
- ``array_union(a, b)``, ``array_intersect(a, b)``, ``array_except(a, b)``: distinct elements (a NULL counts
  as one element), in the order they first appear in ``a`` (then ``b`` for a union).
- ``arrays_overlap(a, b)``: true on a common non-NULL element, else NULL when either array holds a NULL,
  else false (DuckDB's ``list_has_any`` ignores NULLs).
- ``zip(a, b)``: DuckDB's ``list_zip`` (the shorter array padded with NULL, as Trino does); NULL for a NULL
  array. ``codepoint(s)``: ``unicode``, for exactly one character (Trino refuses anything else).
- ``slice(a, start, length)``: Trino's third argument is a length (sqlglot reads it as an end index, so
  DuckDB's ``list_slice`` took ``slice(a, 2, 2)`` for one element); a negative start counts from the end,
  one before the first element gives an empty array, 0 and negative lengths are Trino's errors.
"""

from __future__ import annotations

from sqlglot import exp

from services.query import sql_templates

# ``list_position`` finds NULL too (``IS NOT DISTINCT FROM``), so a NULL element is kept once. A NULL array
# argument gives NULL, as in Trino.
_DISTINCT = "list_filter(__a, lambda x, i: list_position(__a, x) = i)"
_NULL_IF_ANY = "CASE WHEN __a IS NULL OR __b IS NULL THEN NULL ELSE {} END"
_HAS_NULL = "list_position({}, NULL) IS NOT NULL"
_TEMPLATES = {
    "distinct": _DISTINCT,
    "union": _NULL_IF_ANY.format(_DISTINCT.replace("__a", "list_concat(__a, __b)")),
    # Trino walks the longer array and keeps its order (ArrayIntersectFunction swaps the arguments).
    "intersect": _NULL_IF_ANY.format(
        "CASE WHEN len(__a) < len(__b) "
        f"THEN list_filter({_DISTINCT.replace('__a', '__b')}, lambda x: list_position(__a, x) IS NOT NULL) "
        f"ELSE list_filter({_DISTINCT}, lambda x: list_position(__b, x) IS NOT NULL) END"),
    "except": _NULL_IF_ANY.format(f"list_filter({_DISTINCT}, lambda x: list_position(__b, x) IS NULL)"),
    # true on a common non-NULL element; else NULL when either holds a NULL; else false.
    "overlap": _NULL_IF_ANY.format(
        f"CASE WHEN list_has_any(__a, __b) THEN true WHEN {_HAS_NULL.format('__a')} OR {_HAS_NULL.format('__b')} "
        "THEN NULL ELSE false END"),
    "zip": _NULL_IF_ANY.format("list_zip(__a, __b)"),
    "slice": "CASE WHEN __b = 0 THEN error('SQL array indices start at 1') "
             "WHEN __c < 0 THEN error('length must be greater than or equal to 0') "
             "WHEN (CASE WHEN __b > 0 THEN __b ELSE len(__a) + __b + 1 END) < 1 THEN list_slice(__a, 1, 0) "
             "ELSE list_slice(__a, CASE WHEN __b > 0 THEN __b ELSE len(__a) + __b + 1 END, "
             "(CASE WHEN __b > 0 THEN __b ELSE len(__a) + __b + 1 END) + __c - 1) END",
    "codepoint": "CASE WHEN length(__a) = 1 THEN unicode(__a) "
                 "ELSE error('codepoint: the argument must be a single character, got ' || length(__a)) END",
}


def rewrite(kind: str, args: list[exp.Expr]) -> exp.Expr:
    """The Trino function ``kind`` (distinct, union, intersect, except, overlap, zip, slice or codepoint)
    over ``args`` (one to three expressions), as DuckDB SQL with Trino's order and NULL rules."""
    return sql_templates.duckdb(_TEMPLATES[kind], **dict(zip(("a", "b", "c"), args)))
