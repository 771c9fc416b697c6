"""Timestream's timeseries type and functions, on DuckDB.

A timeseries is ``LIST(STRUCT(time TIMESTAMP_NS, value T))`` ordered by time (Timestream's
``timeseries[row(timestamp, T)]``); results carry it as TimeSeriesMeasureValueColumnInfo/TimeSeriesValue.
The functions are DuckDB macros (``MACROS``, created in the coordinator's final-stage database), so they
take any value type as Timestream's do:

- ``create_time_series(time, value)``: the aggregate that builds one (rows with a NULL time or value are
  left out, as Timestream refuses them; no row gives NULL).
- ``interpolate_linear|interpolate_locf(ts, times)``, ``interpolate_fill(ts, times, fill)``: the series at
  ``times`` (an array, e.g. ``sequence(a, b, 15s)``, or one timestamp, which gives the value alone).
  Linear and LOCF interpolation do not extrapolate: a time before the first point (and, for linear, after
  the last) is left out. ``fill`` takes the value at an exact time and ``fill`` elsewhere.
- ``derivative_linear(ts, interval)``: for each point after the first, (v[i] - v[i-1]) / (t[i] - t[i-1]),
  per ``interval``; ``non_negative_derivative_linear`` leaves out the negative ones (counter resets).
- ``integral_trapezoidal(ts [, interval])``: the trapezoidal integral per ``interval`` (default 1 s); a
  single point integrates to 0.
- ``correlate_pearson(ts1, ts2)``, ``correlate_spearman(ts1, ts2)``: over the values pairwise (the series
  must have as many points; NULL otherwise or when a series is constant).
- ``UNNEST(ts) AS t (time, value)`` in FROM: one row per point (see :func:`unnest`).

Not yet: ``interpolate_spline_cubic`` and ``correlate_kendall`` are refused with a ValidationError (an
error, never an approximation).
"""

from __future__ import annotations

from sqlglot import exp

from tessera.errors import ValidationError

_DEFINITIONS: dict[str, str] = {
    "create_time_series(t, v)": (
        "list({'time': t, 'value': v} ORDER BY t) FILTER (WHERE t IS NOT NULL AND v IS NOT NULL)"
    ),
    "_ts_interval_ns(unit)": "epoch_ns(TIMESTAMP_NS '1970-01-01 00:00:00' + unit)",
    "_ts_before(ts, t)": "list_last(list_filter(ts, lambda p: p.time <= t))",
    "_ts_after(ts, t)": "list_filter(ts, lambda p: p.time >= t)[1]",
    "_ts_lerp(t, p, n)": (
        "CASE WHEN p IS NULL OR n IS NULL THEN NULL WHEN p.time = n.time THEN {'time': t, 'value': "
        "CAST(p.value AS DOUBLE)} ELSE {'time': t, 'value': CAST(p.value AS DOUBLE) + CAST(n.value - "
        'p.value AS DOUBLE) * (epoch_ns(t) - epoch_ns(p.time)) / (epoch_ns(n.time) - epoch_ns(p.time))} '
        'END'
    ),
    "interpolate_linear(ts, times)": (
        'list_filter(list_transform(times, lambda t: _ts_lerp(t, _ts_before(ts, t), _ts_after(ts, t))), '
        'lambda y: y IS NOT NULL)'
    ),
    "_ts_carry(t, p)": "CASE WHEN p IS NULL THEN NULL ELSE {'time': t, 'value': p.value} END",
    "interpolate_locf(ts, times)": (
        'list_filter(list_transform(times, lambda t: _ts_carry(t, _ts_before(ts, t))), lambda y: y IS NOT'
        ' NULL)'
    ),
    "interpolate_fill(ts, times, fill)": (
        "list_transform(times, lambda t: {'time': t, 'value': coalesce(list_filter(ts, lambda p: p.time ="
        ' t)[1].value, fill)})'
    ),
    "_ts_slope(ts, i, unit)": (
        'CAST(ts[i].value - ts[i - 1].value AS DOUBLE) / (epoch_ns(ts[i].time) - epoch_ns(ts[i - '
        '1].time)) * _ts_interval_ns(unit)'
    ),
    "derivative_linear(ts, unit)": (
        "list_transform(generate_series(2, len(ts)), lambda i: {'time': ts[i].time, 'value': "
        '_ts_slope(ts, i, unit)})'
    ),
    "non_negative_derivative_linear(ts, unit)": "list_filter(derivative_linear(ts, unit), lambda p: p.value >= 0)",
    "integral_trapezoidal(ts, unit)": (
        'CASE WHEN ts IS NULL THEN NULL ELSE coalesce(list_sum(list_transform(generate_series(2, '
        'len(ts)), lambda i: CAST(ts[i].value + ts[i - 1].value AS DOUBLE) / 2 * (epoch_ns(ts[i].time) - '
        'epoch_ns(ts[i - 1].time)) / _ts_interval_ns(unit))), 0.0) END'
    ),
    "_ts_values(ts)": "list_transform(ts, lambda p: CAST(p.value AS DOUBLE))",
    "_ts_pearson(x, y)": (
        'CASE WHEN len(x) <> len(y) OR len(x) < 2 THEN NULL ELSE (SELECT corr(a, b) FROM (SELECT '
        'unnest(x) AS a, unnest(y) AS b)) END'
    ),
    "correlate_pearson(ts1, ts2)": "_ts_pearson(_ts_values(ts1), _ts_values(ts2))",
    "_ts_ranks(x)": (
        'list_transform(x, lambda v: len(list_filter(x, lambda w: w < v)) + (len(list_filter(x, lambda w:'
        ' w = v)) + 1) / 2.0)'
    ),
    "correlate_spearman(ts1, ts2)": "_ts_pearson(_ts_ranks(_ts_values(ts1)), _ts_ranks(_ts_values(ts2)))",
}
MACROS: tuple[str, ...] = tuple(f"CREATE OR REPLACE MACRO {signature} AS {body}"
                                for signature, body in _DEFINITIONS.items())

FUNCTIONS = frozenset(signature.split("(")[0] for signature in _DEFINITIONS)
"""Every macro name: they exist only in the coordinator's final stage, so no predicate calling one is pushed
to a storage replica."""
_INTERPOLATIONS = ("interpolate_linear", "interpolate_locf", "interpolate_fill")
_UNSUPPORTED = {
    "interpolate_spline_cubic": "interpolate_spline_cubic is not supported yet: use interpolate_linear",
    "correlate_kendall": "correlate_kendall is not supported yet: use correlate_pearson or correlate_spearman",
}
_ARRAY_MAKERS = ("sequence", "generate_series", "array_agg", "filter", "list_filter", "transform",
                 "list_transform", "concat", "array_concat", "slice")


def _name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower() if isinstance(node, exp.Func) else ""


def _is_array(node: exp.Expr) -> bool:
    """Whether an interpolation's time argument is an array (else one timestamp). Types are not known at
    translation, so an array must be written as one: ARRAY[...], sequence(...), a function making arrays."""
    return isinstance(node, (exp.Array, exp.GenerateSeries, exp.ArrayAgg, exp.ArrayFilter, exp.Transform,
                             exp.ArrayConcat, exp.ArraySlice)) or _name(node) in _ARRAY_MAKERS


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of a timeseries function call, or None when ``node`` is not one."""
    name = _name(node)
    if name in _UNSUPPORTED:
        raise ValidationError(_UNSUPPORTED[name])
    if name == "integral_trapezoidal" and isinstance(node, exp.Anonymous) and len(node.expressions) == 1:
        return exp.Anonymous(this="integral_trapezoidal",
                             expressions=[node.expressions[0], exp.Interval(this=exp.Literal.string("1"),
                                                                            unit=exp.var("SECOND"))])
    if name in _INTERPOLATIONS and isinstance(node, exp.Anonymous) and len(node.expressions) >= 2:
        times = node.expressions[1]
        if not _is_array(times):  # one timestamp: the value there, not a series of one point
            args = [a.copy() for a in node.expressions]
            args[1] = exp.Array(expressions=[times.copy()])
            series = exp.Anonymous(this=name, expressions=args)
            first = exp.Bracket(this=series, expressions=[exp.Literal.number(1)], offset=1)  # 1-based
            return exp.Dot(this=first, expression=exp.to_identifier("value"))
    return None


def reduce_finish(node: exp.Reduce) -> exp.Expr | None:
    """Trino's ``reduce(array, initial, (s, x) -> …, s -> output)``: DuckDB's list_reduce has no output
    function, so it is applied to the reduced state here (through a one-element list_transform, DuckDB's
    way to call a lambda); the identity ``s -> s`` is simply dropped."""
    finish = node.args.get("finish")
    if not isinstance(finish, exp.Lambda):
        return None
    reduced = node.copy()
    reduced.set("finish", None)
    params = finish.expressions
    if len(params) == 1 and isinstance(finish.this, (exp.Column, exp.Identifier)) and finish.this.name == params[0].name:
        return reduced
    applied = exp.Anonymous(this="list_transform", expressions=[exp.Array(expressions=[reduced]), finish.copy()])
    return exp.Bracket(this=applied, expressions=[exp.Literal.number(1)], offset=1)


def unnest(node: exp.Unnest) -> exp.Expr | None:
    """``UNNEST(ts) AS t (time, value)`` (one array, two column names, or none) as DuckDB's recursive unnest
    in a lateral subquery, so a timeseries (or any array of rows) gives one column per field, named as
    Timestream names them (``time``, ``value`` by default). Other UNNESTs are left as they are."""
    alias = node.args.get("alias")
    columns = alias.columns if isinstance(alias, exp.TableAlias) else []
    if len(node.expressions) != 1 or len(columns) not in (0, 2) or node.args.get("offset"):
        return None
    if not columns and not isinstance(node.parent, exp.Join):
        return None
    inner = exp.select(exp.Anonymous(this="unnest", expressions=[
        node.expressions[0].copy(), exp.PropertyEQ(this=exp.to_identifier("recursive"), expression=exp.true())]))
    table_alias = exp.TableAlias(this=exp.to_identifier(alias.name if isinstance(alias, exp.TableAlias) and alias.name
                                                         else "unnested"),
                                 columns=[c.copy() for c in columns])
    return exp.Lateral(this=exp.Subquery(this=inner), alias=table_alias)
