"""Aggregate functions whose DuckDB namesakes answer differently from Trino (hence Timestream).

- ``count_if(c)``: 0 over no rows (DuckDB: NULL).
- ``max_by(x, y[, n])``, ``min_by(x, y[, n])``: the ``x`` of the row(s) with the largest (smallest) ``y``,
  NULL where that ``x`` is NULL; DuckDB's ``arg_max`` skips rows whose ``x`` is NULL (``arg_max_null`` does
  not, but takes no ``n``).
- ``corr``, ``regr_slope``, ``regr_intercept``: NULL where the value is not a number (a constant column, one
  row); DuckDB gives NaN.
- ``approx_percentile(x, p)``: the value at 0-based position ``min(floor(p * n), n - 1)`` of the n non-NULL
  values in order, which is what Trino's digests answer exactly while they hold every value (its t-digest for
  DOUBLE keeps single values apart up to some 70 of them, its q-digest for BIGINT up to 100; beyond, Trino's
  answer is an estimate near this one). DuckDB's ``approx_quantile`` interpolates between values, and with a
  FLOAT fraction (``approx_percentile(x, 0.3)`` over 1..4 gave 1.7000000476837158 where Trino gives 2).
  The position is computed in DOUBLE arithmetic, as Trino does; an array of percentiles gets an array of them.
- ``approx_percentile(x, w, p)``: DuckDB has no weighted quantile; the exact weighted percentile is computed.
- ``approx_distinct(x[, e])``: the exact distinct count, which every error bound admits. Trino's sparse
  HyperLogLog is exact for small sets; DuckDB's estimate is not (16 distinct values counted 15).
- ``skewness(x)``: the population skewness ``m3 / m2^1.5`` that Trino computes; DuckDB's is the sample
  skewness, ``sqrt(n (n - 1)) / (n - 2)`` times larger. Its ``kurtosis`` already agrees with Trino's.

Each rule holds under ``FILTER (WHERE …)`` and ``OVER (…)`` too: the wrapper goes around the whole window.

A window aggregate over DISTINCT values is refused, as Trino refuses it.

Window offsets: ``nth_value(x, n)`` is Trino's error for an ``n`` below 1 (DuckDB: NULL); ``lag``/``lead`` for
a negative offset (DuckDB looks the other way) or a NULL one (DuckDB: NULL).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from services.query import sql_templates
from tessera.errors import ValidationError

REWRITTEN = (exp.CountIf, exp.ArgMax, exp.ArgMin, exp.Corr, exp.RegrSlope, exp.RegrIntercept, exp.Skewness,
             exp.ApproxDistinct, exp.ApproxQuantile)
"""The aggregates rewritten here: ``rewrite`` is called on the outermost of the aggregate, its ``FILTER``
and its ``OVER`` (the wrappers go around all three, and every aggregate a rewrite adds gets them too)."""
_CONTEXTS = (exp.Window, exp.Filter)


def refuse_distinct_window(node: exp.Window) -> None:
    """Trino refuses DISTINCT in a window aggregate (``count(DISTINCT x) OVER ()``); DuckDB answered it."""
    inner = node.this
    while isinstance(inner, exp.Filter):
        inner = inner.this
    if isinstance(inner, exp.AggFunc) and isinstance(inner.this, exp.Distinct):
        raise ValidationError("DISTINCT in window function parameters not yet supported: "
                              f"{inner.sql(dialect='trino')}")


def aggregate_of(node: exp.Expr) -> exp.Expr | None:
    """The aggregate this rewrite handles at ``node`` (``node`` itself, or the aggregate under its FILTER and
    OVER), or None; None too when ``node`` is itself inside such a FILTER or OVER (its outermost is next)."""
    if isinstance(node.parent, _CONTEXTS) and node.arg_key == "this":
        return None
    inner = node
    while isinstance(inner, _CONTEXTS):
        inner = inner.this
    return inner if isinstance(inner, REWRITTEN) else None


def rewrite(node: exp.Expr, aggregate: exp.Expr) -> exp.Expr:
    """``node`` (``aggregate``, possibly under FILTER/OVER) with Trino's semantics (module docstring)."""

    def framed(replacement: exp.Expr) -> exp.Expr:
        """``replacement`` (an aggregate) under a copy of ``node``'s FILTER and OVER."""
        if node is aggregate:
            return replacement
        outer = node.copy()
        inner = outer
        while isinstance(inner, _CONTEXTS):
            inner = inner.this
        inner.replace(replacement)
        return outer

    if isinstance(aggregate, exp.CountIf):
        return exp.func("coalesce", framed(aggregate.copy()), exp.Literal.number(0))
    if isinstance(aggregate, (exp.ArgMax, exp.ArgMin)):
        return _arg_extreme(aggregate, framed)
    if isinstance(aggregate, exp.ApproxDistinct):
        _check_standard_error(aggregate.args.get("accuracy"))
        return framed(exp.Count(this=exp.Distinct(expressions=[aggregate.this.copy()])))
    if isinstance(aggregate, exp.ApproxQuantile):
        return _approx_percentile(node, aggregate, framed)
    if isinstance(aggregate, exp.Skewness):
        x = aggregate.this
        return sql_templates.duckdb("__s * (__n - 2) / sqrt(__n * (__n - 1))",
                                    s=framed(exp.Skewness(this=x.copy())), n=framed(exp.Count(this=x.copy())))
    return sql_templates.duckdb("CASE WHEN isnan(__v) THEN NULL ELSE __v END", v=framed(aggregate.copy()))


def _at_percentile(p: str) -> str:
    """DuckDB SQL of the value at Trino's position for percentile ``p`` (SQL text) among ``__values`` (the
    group's list of x) with ``__n`` non-NULL values; Trino's error for a percentile outside [0, 1]."""
    return (f"CASE WHEN CAST({p} AS DOUBLE) < 0 OR CAST({p} AS DOUBLE) > 1 "
            "THEN error('approx_percentile: percentile must be between 0 and 1') "
            "ELSE (list_sort(list_filter(__values, lambda tessera_v: tessera_v IS NOT NULL)))["
            f"least(CAST(floor(CAST({p} AS DOUBLE) * __n) AS BIGINT), __n - 1) + 1] END")


_PERCENTILE = _at_percentile("__p")
_PERCENTILES = f"CASE WHEN __n > 0 THEN list_transform(__ps, lambda tessera_p: {_at_percentile('tessera_p')}) END"


def _approx_percentile(node: exp.Expr, aggregate: exp.ApproxQuantile, framed: Callable[[exp.Expr], exp.Expr]
                       ) -> exp.Expr:
    """``approx_percentile`` (module docstring): ``(x, p)``, ``(x, p, accuracy)``, ``(x, w, p)``."""
    percentile, weight = aggregate.args["quantile"], aggregate.args.get("weight")
    if weight is not None:
        if not (isinstance(weight, exp.Literal) and not weight.is_string and not weight.name.isdigit()):
            return weighted_percentile(aggregate)
        # approx_percentile(x, percentage, accuracy): sqlglot reads the percentage as a weight; the accuracy
        # asks for no more than the exact value gives.
        percentile = weight
    x = aggregate.this
    values, n = framed(exp.func("list", x.copy())), framed(exp.Count(this=x.copy()))
    if isinstance(percentile, exp.Array):  # one answer per percentile, in an array
        return sql_templates.duckdb(_PERCENTILES, ps=percentile, values=values, n=n)
    return sql_templates.duckdb(_PERCENTILE, p=percentile, values=values, n=n)


_STANDARD_ERROR = (0.0040625, 0.26)


def _check_standard_error(accuracy: exp.Expr | None) -> None:
    """Trino's bounds on approx_distinct's maximum standard error, when it is a number in the query."""
    while isinstance(accuracy, exp.Cast):  # a decimal literal reaches here typed as a DOUBLE
        accuracy = accuracy.this
    if accuracy is None or not isinstance(accuracy, exp.Literal) or accuracy.is_string:
        return
    if not _STANDARD_ERROR[0] <= float(accuracy.name) <= _STANDARD_ERROR[1]:
        raise ValidationError(f"approx_distinct: max standard error must be in [{_STANDARD_ERROR[0]}, "
                              f"{_STANDARD_ERROR[1]:.5f}], got {accuracy.name}")


def _arg_extreme(node: exp.ArgMax | exp.ArgMin, framed: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
    """``max_by(x, y[, n])`` / ``min_by(x, y[, n])`` keeping a NULL ``x``: DuckDB's ``arg_max_null`` for one
    value; for ``n`` values each ``x`` travels inside a one-field struct (never NULL itself), unwrapped after."""
    count = node.args.get("count")
    if count is None:
        name = "arg_max_null" if isinstance(node, exp.ArgMax) else "arg_min_null"
        return framed(exp.Anonymous(this=name, expressions=[node.this.copy(), node.expression.copy()]))
    name = "arg_max" if isinstance(node, exp.ArgMax) else "arg_min"
    inner = sql_templates.duckdb(f"{name}(struct_pack(v := __x), __y, __n)", x=node.this, y=node.expression, n=count)
    return sql_templates.duckdb("list_transform(__a, lambda tessera_s: tessera_s.v)", a=framed(inner))


# The smallest x whose running weight, in x order, reaches p of the total: over the multiset in which each x
# appears w times (what Trino's weighted digest estimates). The running total is a fold over the sorted
# pairs; ``(list(x))[0]`` is a NULL of x's type, so the answer keeps x's type.
_WEIGHTED_PERCENTILE = """
CASE WHEN __p < 0 OR __p > 1 THEN error('approx_percentile: percentile must be between 0 and 1')
     WHEN min(__w) FILTER (WHERE __x IS NOT NULL) < 1 THEN error('approx_percentile: weight must be at least 1')
     ELSE list_reduce(
       list_sort(list({'x': __x, 'w': __w}) FILTER (WHERE __x IS NOT NULL AND __w IS NOT NULL)),
       lambda tessera_s, tessera_e: CASE WHEN tessera_s.a IS NOT NULL THEN tessera_s ELSE {'c': tessera_s.c + tessera_e.w,
         'a': CASE WHEN tessera_s.c + tessera_e.w >= __p * sum(__w) FILTER (WHERE __x IS NOT NULL) THEN tessera_e.x END} END,
       {'c': CAST(0 AS DOUBLE), 'a': (list(__x))[0]}).a END
"""


def weighted_percentile(node: exp.ApproxQuantile) -> exp.Expr:
    """``approx_percentile(x, w, p[, accuracy])``: the weighted percentile, exactly (Trino estimates it;
    the estimate's error bound covers the exact value). One percentile, not an array of them."""
    percentile = node.args["quantile"]
    if isinstance(percentile, exp.Array):
        raise ValidationError("approx_percentile(x, w, ARRAY[…]) is not supported: ask for one percentile at a time")
    if isinstance(node.parent, (exp.Window, exp.Filter)):
        raise ValidationError("approx_percentile(x, w, p) with a weight cannot take FILTER or OVER in Tessera yet")
    return sql_templates.duckdb(_WEIGHTED_PERCENTILE, x=node.this, w=node.args["weight"], p=percentile)


def _positive_literal(node: exp.Expr, least: int) -> bool:
    node = node.unnest()
    return isinstance(node, exp.Literal) and not node.is_string and node.name.isdigit() and int(node.name) >= least


def checked_offset(node: exp.NthValue | exp.Lag | exp.Lead) -> None:
    """The window function's offset checked as Trino checks it (module docstring), in place; a literal offset
    in range is left as it is."""
    offset = node.args.get("offset")
    least = 1 if isinstance(node, exp.NthValue) else 0
    if offset is None or _positive_literal(offset, least):
        return
    if isinstance(node, exp.NthValue):
        check = "CASE WHEN __o < 1 THEN error('Offset must be at least 1') ELSE __o END"
    else:
        check = ("CASE WHEN __o IS NULL THEN error('Offset must not be null') "
                 "WHEN __o < 0 THEN error('Offset must be at least 0') ELSE __o END")
    node.set("offset", sql_templates.duckdb(check, o=offset))
