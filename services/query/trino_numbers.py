"""Numeric and boolean functions of Trino (hence Timestream) that DuckDB lacks or names differently.

- ``nan()``: DuckDB has no such function; ``CAST('NaN' AS DOUBLE)`` is the same value.
- ``width_bucket(x, bound1, bound2, n)``: Trino's equi-width histogram bucket (0 below the range, n + 1 at or
  above its end, either direction of bounds), which DuckDB lacks; NULL in, NULL out.
- ``every(condition)``: Trino's alias of ``bool_and``.
"""

from __future__ import annotations

from sqlglot import exp


def _call(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _double(node: exp.Expr) -> exp.Expr:
    return exp.cast(exp.paren(node.copy()), exp.DType.DOUBLE)


def nan() -> exp.Expr:
    """Not-a-number, as a DOUBLE."""
    return exp.cast(exp.Literal.string("NaN"), exp.DType.DOUBLE)


def width_bucket(node: exp.WidthBucket) -> exp.Expr:
    """Trino's ``width_bucket``: the bucket (1..n) of x among n equal buckets from bound1 to bound2."""
    x, low, high = (_double(node.args[k]) for k in ("this", "min_value", "max_value"))
    n = exp.cast(exp.paren(node.args["num_buckets"].copy()), exp.DType.BIGINT)
    fail = _call("error", exp.Literal.string("width_bucket: the bucket count must be positive and the bounds "
                                             "different and finite"))
    ascending = exp.LT(this=low.copy(), expression=high.copy())
    # Within the range: floor((x - low) * n / (high - low)) + 1, which also holds for descending bounds.
    inside = exp.Add(this=exp.cast(_call("floor", exp.Div(
        this=exp.Mul(this=exp.paren(exp.Sub(this=x.copy(), expression=low.copy())), expression=n.copy()),
        expression=exp.paren(exp.Sub(this=high.copy(), expression=low.copy())))), exp.DType.BIGINT),
        expression=exp.Literal.number(1))
    below = exp.If(this=exp.or_(exp.and_(ascending.copy(), exp.LT(this=x.copy(), expression=low.copy())),
                                exp.and_(exp.not_(ascending.copy()), exp.GT(this=x.copy(), expression=low.copy()))),
                   true=exp.Literal.number(0))
    above = exp.If(this=exp.or_(exp.and_(ascending.copy(), exp.GTE(this=x.copy(), expression=high.copy())),
                                exp.and_(exp.not_(ascending.copy()), exp.LTE(this=x.copy(), expression=high.copy()))),
                   true=exp.Add(this=n.copy(), expression=exp.Literal.number(1)))
    invalid = exp.If(this=exp.or_(exp.LTE(this=n.copy(), expression=exp.Literal.number(0)),
                                  exp.EQ(this=low.copy(), expression=high.copy()),
                                  exp.not_(_call("isfinite", low.copy())), exp.not_(_call("isfinite", high.copy()))),
                     true=fail)
    nulls = exp.If(this=exp.or_(*(exp.Is(this=v.copy(), expression=exp.null()) for v in (x, low, high, n))),
                   true=exp.cast(exp.null(), exp.DType.BIGINT))
    return exp.Case(ifs=[nulls, invalid, below, above], default=inside)


def every(argument: exp.Expr) -> exp.Expr:
    """``every(condition)`` as DuckDB's ``bool_and``."""
    return _call("bool_and", argument.copy())
