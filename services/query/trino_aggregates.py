"""Aggregate functions whose DuckDB namesakes answer differently from Trino (hence Timestream).

- ``count_if(c)``: 0 over no rows (DuckDB: NULL).
- ``max_by(x, y[, n])``, ``min_by(x, y[, n])``: the ``x`` of the row(s) with the largest (smallest) ``y``,
  NULL where that ``x`` is NULL; DuckDB's ``arg_max`` skips rows whose ``x`` is NULL (``arg_max_null`` does
  not, but takes no ``n``).
- ``corr``, ``regr_slope``, ``regr_intercept``: NULL where the value is not a number (a constant column, one
  row); DuckDB gives NaN.
- ``skewness(x)``: the population skewness ``m3 / m2^1.5`` that Trino computes; DuckDB's is the sample
  skewness, ``sqrt(n (n - 1)) / (n - 2)`` times larger. Its ``kurtosis`` already agrees with Trino's.
"""

from __future__ import annotations

from sqlglot import exp

from services.query import sql_templates


def count_if(node: exp.CountIf) -> exp.Expr:
    """``count_if(c)``, 0 over no rows."""
    return exp.func("coalesce", node.copy(), exp.Literal.number(0))


def arg_extreme(node: exp.ArgMax | exp.ArgMin) -> exp.Expr:
    """``max_by(x, y[, n])`` / ``min_by(x, y[, n])`` keeping a NULL ``x``: DuckDB's ``arg_max_null`` for one
    value; for ``n`` values each ``x`` travels inside a one-field struct (never NULL itself), unwrapped after."""
    count = node.args.get("count")
    if count is None:
        name = "arg_max_null" if isinstance(node, exp.ArgMax) else "arg_min_null"
        return exp.Anonymous(this=name, expressions=[node.this.copy(), node.expression.copy()])
    name = "arg_max" if isinstance(node, exp.ArgMax) else "arg_min"
    return sql_templates.duckdb(f"list_transform({name}(struct_pack(v := __x), __y, __n), lambda tessera_s: tessera_s.v)",
                                x=node.this, y=node.expression, n=count)


def null_if_nan(node: exp.Expr) -> exp.Expr:
    """An aggregate whose NaN (no defined value) Trino reports as NULL."""
    return sql_templates.duckdb("CASE WHEN isnan(__v) THEN NULL ELSE __v END", v=node.copy())


def skewness(node: exp.Skewness) -> exp.Expr:
    """Trino's population skewness from DuckDB's sample skewness."""
    return sql_templates.duckdb("skewness(__x) * (count(__x) - 2) / sqrt(count(__x) * (count(__x) - 1))",
                                x=node.this)
