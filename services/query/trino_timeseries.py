"""Timestream's timeseries type and functions, on DuckDB.

A timeseries is ``LIST(STRUCT(time TIMESTAMP_NS, value T))`` ordered by time (Timestream's
``timeseries[row(timestamp, T)]``); results carry it as TimeSeriesMeasureValueColumnInfo/TimeSeriesValue.
The functions are DuckDB macros (``MACROS``, created in the coordinator's final-stage database), so they
take any value type as Timestream's do:

- ``create_time_series(time, value)``: the aggregate that builds one (rows with a NULL time or value are
  left out, as Timestream refuses them; no row gives NULL).
- ``interpolate_linear|interpolate_locf|interpolate_spline_cubic(ts, times)``, ``interpolate_fill(ts, times,
  fill)``: the series at ``times`` (an array, e.g. ``sequence(a, b, 15s)``, or one timestamp, which gives the
  value alone). Linear, spline and LOCF interpolation do not extrapolate: a time before the first point
  (and, for linear and spline, after the last) is left out. The spline is the natural cubic one (through
  two points it is the straight line; at most ``SPLINE_MAX_POINTS`` points, in strictly increasing time).
  ``fill`` takes the value at an exact time and ``fill`` elsewhere.
- ``derivative_linear(ts, interval)``: for each point after the first, (v[i] - v[i-1]) / (t[i] - t[i-1]),
  per ``interval``; ``non_negative_derivative_linear`` leaves out the negative ones (counter resets).
- ``integral_trapezoidal(ts [, interval])``: the trapezoidal integral per ``interval`` (default 1 s); a
  single point integrates to 0.
- ``correlate_pearson(ts1, ts2)``, ``correlate_spearman(ts1, ts2)``, ``correlate_kendall(ts1, ts2)``
  (tau-b): over the values pairwise (the series must have as many points; NULL otherwise or when a series
  is constant).
- ``UNNEST(ts) AS t (time, value)`` in FROM: one row per point (see :func:`unnest`).
"""

from __future__ import annotations

from sqlglot import exp

SPLINE_MAX_POINTS = 200
"""The spline's macros take time quadratic (or worse) in the points: 200 points ~2 s on one core, 1,000 points
~55 s. Longer series are refused with an error naming the limit rather than holding a coordinator."""

# Lambda parameters are named tessera_*: DuckDB binds a qualified ``p.time`` to a table aliased ``p`` in the
# user's query before the lambda's own ``p`` (interpolations then read the table's time, silently).
_DEFINITIONS: dict[str, str] = {
    "create_time_series(t, v)": (
        "list({'time': t, 'value': v} ORDER BY t) FILTER (WHERE t IS NOT NULL AND v IS NOT NULL)"
    ),
    "_ts_interval_ns(unit)": "epoch_ns(TIMESTAMP_NS '1970-01-01 00:00:00' + unit)",
    "_ts_before(ts, t)": "list_last(list_filter(ts, lambda tessera_p: tessera_p.time <= t))",
    "_ts_after(ts, t)": "list_filter(ts, lambda tessera_p: tessera_p.time >= t)[1]",
    "_ts_lerp(t, tessera_p, n)": (
        "CASE WHEN tessera_p IS NULL OR n IS NULL THEN NULL WHEN tessera_p.time = n.time THEN {'time': t, 'value': "
        "CAST(tessera_p.value AS DOUBLE)} ELSE {'time': t, 'value': CAST(tessera_p.value AS DOUBLE) + CAST(n.value - "
        'tessera_p.value AS DOUBLE) * (epoch_ns(t) - epoch_ns(tessera_p.time)) / (epoch_ns(n.time) - epoch_ns(tessera_p.time))} '
        'END'
    ),
    "interpolate_linear(ts, times)": (
        'list_filter(list_transform(times, lambda t: _ts_lerp(t, _ts_before(ts, t), _ts_after(ts, t))), '
        'lambda y: y IS NOT NULL)'
    ),
    "_ts_carry(t, tessera_p)": "CASE WHEN tessera_p IS NULL THEN NULL ELSE {'time': t, 'value': tessera_p.value} END",
    "interpolate_locf(ts, times)": (
        'list_filter(list_transform(times, lambda t: _ts_carry(t, _ts_before(ts, t))), lambda y: y IS NOT'
        ' NULL)'
    ),
    "interpolate_fill(ts, times, fill)": (
        "list_transform(times, lambda t: {'time': t, 'value': coalesce(list_filter(ts, lambda tessera_p: tessera_p.time ="
        ' t)[1].value, fill)})'
    ),
    # Natural cubic spline (second derivative 0 at both ends, as Commons Math's SplineInterpolator): times in
    # seconds after the first point, second derivatives m by the Thomas algorithm over the interior rows
    # (a forward sweep, then back substitution), each time evaluated on its interval; no extrapolation.
    "_sp_x(ts)": "list_transform(ts, lambda tessera_p: CAST(epoch_ns(tessera_p.time) - epoch_ns(ts[1].time) AS DOUBLE) / 1e9)",
    "_sp_y(ts)": "list_transform(ts, lambda tessera_p: CAST(tessera_p.value AS DOUBLE))",
    "_sp_sweep(x, y)": (
        "list_reduce(generate_series(2, len(x) - 1), lambda tessera_acc, i: {'cp': list_append(tessera_acc.cp, "
        "(x[i + 1] - x[i]) / (2 * (x[i + 1] - x[i - 1]) - (x[i] - x[i - 1]) * tessera_acc.cp[-1])), 'dp': list_append("
        "tessera_acc.dp, (6 * ((y[i + 1] - y[i]) / (x[i + 1] - x[i]) - (y[i] - y[i - 1]) / (x[i] - x[i - 1])) - "
        "(x[i] - x[i - 1]) * tessera_acc.dp[-1]) / (2 * (x[i + 1] - x[i - 1]) - (x[i] - x[i - 1]) * tessera_acc.cp[-1]))}, "
        "{'cp': [0.0], 'dp': [0.0]})"
    ),
    "_sp_back(s, n)": (
        'list_prepend(0.0, list_reduce(generate_series(n - 1, 2, -1), lambda tessera_acc, i: '
        'list_prepend(s.dp[i] - s.cp[i] * tessera_acc[1], tessera_acc), [0.0]))'
    ),
    "_sp_m(x, y)": "CASE WHEN len(x) < 3 THEN list_transform(x, lambda v: 0.0) ELSE _sp_back(_sp_sweep(x, y), len(x)) END",
    "_sp_at(x, y, m, t)": (
        'list_transform([len(list_filter(x, lambda v: v <= t))], lambda k: CASE WHEN k = 0 OR t > x[-1] THEN NULL '
        'WHEN k = len(x) THEN y[k] ELSE m[k] * pow(x[k + 1] - t, 3) / (6 * (x[k + 1] - x[k])) '
        '+ m[k + 1] * pow(t - x[k], 3) / (6 * (x[k + 1] - x[k])) '
        '+ (y[k] / (x[k + 1] - x[k]) - m[k] * (x[k + 1] - x[k]) / 6) * (x[k + 1] - t) '
        '+ (y[k + 1] / (x[k + 1] - x[k]) - m[k + 1] * (x[k + 1] - x[k]) / 6) * (t - x[k]) END)[1]'
    ),
    "_sp_eval(ts, x, y, m, times)": (
        "list_filter(list_transform(times, lambda t: {'time': t, 'value': _sp_at(x, y, m, "
        "CAST(epoch_ns(t) - epoch_ns(ts[1].time) AS DOUBLE) / 1e9)}), lambda tessera_p: tessera_p.value IS NOT NULL)"
    ),
    # Each derived list is bound once as a lambda argument: a macro argument is re-expanded wherever it is
    # used, so passing _sp_x(ts) down recomputed it inside every lambda (25 points took 2.5 s).
    "_sp_checked(ts, x, y, times)": (
        f"CASE WHEN len(x) > {SPLINE_MAX_POINTS} THEN error('interpolate_spline_cubic takes series of at most "
        f"{SPLINE_MAX_POINTS} points; this one has ' || len(x) || ': interpolate_linear has no such limit') "
        "WHEN list_bool_or(list_transform(generate_series(2, len(x)), lambda i: x[i] <= x[i - 1])) "
        "THEN error('interpolate_spline_cubic: the series'' times must be strictly increasing') "
        "ELSE list_transform([_sp_m(x, y)], lambda tessera_sp_m: _sp_eval(ts, x, y, tessera_sp_m, times))[1] END"
    ),
    "interpolate_spline_cubic(ts, times)": (
        "CASE WHEN ts IS NULL OR times IS NULL THEN NULL ELSE "
        "list_transform([{'x': _sp_x(ts), 'y': _sp_y(ts)}], lambda tessera_sp_xy: _sp_checked(ts, tessera_sp_xy.x, tessera_sp_xy.y, times))[1] END"
    ),
    "_ts_slope(ts, i, unit)": (
        'CAST(ts[i].value - ts[i - 1].value AS DOUBLE) / (epoch_ns(ts[i].time) - epoch_ns(ts[i - '
        '1].time)) * _ts_interval_ns(unit)'
    ),
    "derivative_linear(ts, unit)": (
        "list_transform(generate_series(2, len(ts)), lambda i: {'time': ts[i].time, 'value': "
        '_ts_slope(ts, i, unit)})'
    ),
    "non_negative_derivative_linear(ts, unit)": "list_filter(derivative_linear(ts, unit), lambda tessera_p: tessera_p.value >= 0)",
    "integral_trapezoidal(ts, unit)": (
        'CASE WHEN ts IS NULL THEN NULL ELSE coalesce(list_sum(list_transform(generate_series(2, '
        'len(ts)), lambda i: CAST(ts[i].value + ts[i - 1].value AS DOUBLE) / 2 * (epoch_ns(ts[i].time) - '
        'epoch_ns(ts[i - 1].time)) / _ts_interval_ns(unit))), 0.0) END'
    ),
    "_ts_values(ts)": "list_transform(ts, lambda tessera_p: CAST(tessera_p.value AS DOUBLE))",
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
    # Kendall's tau-b over every pair i < j: (concordant - discordant) / sqrt((n0 - ties in x) * (n0 - ties
    # in y)), n0 = n(n-1)/2; a pair tied in both counts in both ties (as Commons Math and SciPy count).
    "_ts_concordance(x, y)": (
        'list_sum(list_transform(generate_series(1, len(x)), lambda i: coalesce(list_sum(list_transform('
        'generate_series(i + 1, len(x)), lambda j: sign(x[i] - x[j]) * sign(y[i] - y[j]))), 0)))'
    ),
    "_ts_tied(x)": (
        'list_sum(list_transform(generate_series(1, len(x)), lambda i: coalesce(list_sum(list_transform('
        'generate_series(i + 1, len(x)), lambda j: CASE WHEN x[i] = x[j] THEN 1 ELSE 0 END)), 0)))'
    ),
    "_ts_tau(s, n0, tx, ty)": (
        'CASE WHEN (n0 - tx) * (n0 - ty) = 0 THEN NULL ELSE s / sqrt(CAST((n0 - tx) * (n0 - ty) AS DOUBLE)) END'
    ),
    "_ts_kendall(x, y)": (
        'CASE WHEN len(x) <> len(y) OR len(x) < 2 THEN NULL ELSE _ts_tau(_ts_concordance(x, y), '
        'CAST(len(x) AS BIGINT) * (len(x) - 1) / 2, _ts_tied(x), _ts_tied(y)) END'
    ),
    "correlate_kendall(ts1, ts2)": (
        "list_transform([{'x': _ts_values(ts1), 'y': _ts_values(ts2)}], lambda tessera_pair: _ts_kendall(tessera_pair.x, tessera_pair.y))[1]"
    ),
}
MACROS: tuple[str, ...] = tuple(f"CREATE OR REPLACE MACRO {signature} AS {body}"
                                for signature, body in _DEFINITIONS.items())

FUNCTIONS = frozenset(signature.split("(")[0] for signature in _DEFINITIONS)
"""Every macro name: they exist only in the coordinator's final stage, so no predicate calling one is pushed
to a storage replica."""
_INTERPOLATIONS = ("interpolate_linear", "interpolate_locf", "interpolate_fill", "interpolate_spline_cubic")
_ARRAY_MAKERS = ("sequence", "generate_series", "array_agg", "filter", "list_filter", "transform",
                 "list_transform", "concat", "array_concat", "slice", "array_sort", "list_sort", "reverse",
                 "list_reverse", "array_distinct", "list_append", "list_prepend")


def _name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower() if isinstance(node, exp.Func) else ""


def is_array(node: exp.Expr, seen: frozenset[str] = frozenset()) -> bool:
    """Whether an interpolation's time argument is an array (else one timestamp). Types are not known at
    translation, so an array must be visibly one: ARRAY[...], sequence(...), a function making arrays (also
    once rewritten: a CASE whose result is one, as the rewrites of ``sequence`` give), a cast to an array,
    ``arbitrary``/``min``/``max`` of one, or a column that a CTE or subquery of the query defines as one
    (``WITH g AS (SELECT sequence(…) AS grid)``). A wrong guess either way fails to bind: an error, never a
    wrong answer."""
    node = node.unnest()
    if isinstance(node, exp.Case) and node.args.get("default") is not None:
        return is_array(node.args["default"], seen)
    if isinstance(node, exp.Cast):
        return bool(node.to.this == exp.DType.ARRAY)
    if isinstance(node, (exp.AnyValue, exp.Max, exp.Min)):
        return is_array(node.this, seen)
    if isinstance(node, exp.Column) and node.name not in seen:
        return any(is_array(alias.this, seen | {node.name}) for alias in node.root().find_all(exp.Alias)
                   if alias.alias == node.name)
    return isinstance(node, (exp.Array, exp.GenerateSeries, exp.ArrayAgg, exp.ArrayFilter, exp.Transform,
                             exp.ArrayConcat, exp.ArraySlice, exp.ArraySort)) or (
        _name(node) in _ARRAY_MAKERS)


def rewrite(node: exp.Expr) -> exp.Expr | None:
    """The DuckDB form of a timeseries function call, or None when ``node`` is not one."""
    name = _name(node)
    if name == "integral_trapezoidal" and isinstance(node, exp.Anonymous) and len(node.expressions) == 1:
        return exp.Anonymous(this="integral_trapezoidal",
                             expressions=[node.expressions[0], exp.Interval(this=exp.Literal.string("1"),
                                                                            unit=exp.var("SECOND"))])
    if name in _INTERPOLATIONS and isinstance(node, exp.Anonymous) and len(node.expressions) >= 2:
        times = node.expressions[1]
        if not is_array(times):  # one timestamp: the value there, not a series of one point
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
    Timestream names them (``time``, ``value`` by default); ``WITH ORDINALITY AS t(time, value, n)`` adds the
    position. Several arrays go side by side (``_unnest_side_by_side``). Other UNNESTs are left as they are."""
    alias = node.args.get("alias")
    columns = alias.columns if isinstance(alias, exp.TableAlias) else []
    ordinality = node.args.get("offset") or None  # WITH ORDINALITY AS t(time, value, n): sqlglot keeps n here
    if len(node.expressions) > 1:
        return _unnest_side_by_side(node, alias, list(columns), ordinality)
    if ordinality is not None and not (isinstance(ordinality, exp.Identifier) and len(columns) == 2):
        return None  # of an array of scalars (one column and the ordinal): DuckDB's own UNNEST answers it
    if len(node.expressions) != 1 or len(columns) not in (0, 2):
        return None
    if not columns and not isinstance(node.parent, exp.Join):
        return None
    series = node.expressions[0]
    projections: list[exp.Expr] = [exp.Anonymous(this="unnest", expressions=[
        series.copy(), exp.PropertyEQ(this=exp.to_identifier("recursive"), expression=exp.true())])]
    if ordinality is not None:  # positions from 1, unnested beside the elements
        projections.append(exp.Anonymous(this="generate_subscripts", expressions=[series.copy(), exp.Literal.number(1)]))
        columns = [*columns, ordinality]
    inner = exp.select(*projections)
    table_alias = exp.TableAlias(this=exp.to_identifier(alias.name if isinstance(alias, exp.TableAlias) and alias.name
                                                         else "unnested"),
                                 columns=[c.copy() for c in columns])
    return exp.Lateral(this=exp.Subquery(this=inner), alias=table_alias)


def _unnest_side_by_side(node: exp.Unnest, alias: exp.Expr | None, columns: list[exp.Identifier],
                         ordinality: exp.Expr | None) -> exp.Expr | None:
    """``UNNEST(a, b, …) [WITH ORDINALITY] AS t(x, y, …[, n])``: the arrays side by side, the shorter ones padded
    with NULL (a NULL array counts as empty), as Trino does; DuckDB's UNNEST takes one array. As DuckDB's
    unnests in one SELECT of a lateral subquery, which pad the same way. Only arrays of scalars named one
    column each (an array of rows would spread into its fields in Trino): None (DuckDB's error) otherwise."""
    arrays = list(node.expressions)
    if isinstance(ordinality, exp.Identifier):
        columns = [*columns, ordinality]
    elif ordinality is not None:
        return None
    if len(columns) != len(arrays) + (ordinality is not None):
        return None
    projections: list[exp.Expr] = [exp.Anonymous(this="unnest", expressions=[a.copy()]) for a in arrays]
    if ordinality is not None:
        longest = exp.Anonymous(this="greatest", expressions=[exp.Anonymous(this="len", expressions=[a.copy()])
                                                              for a in arrays])
        positions = exp.Anonymous(this="range", expressions=[exp.Literal.number(1), exp.Add(
            this=longest, expression=exp.Literal.number(1))])
        projections.append(exp.Anonymous(this="unnest", expressions=[positions]))
    inner = exp.select(*(exp.alias_(p, f"_u{i}") for i, p in enumerate(projections)))
    name = alias.name if isinstance(alias, exp.TableAlias) and alias.name else "unnested"
    table_alias = exp.TableAlias(this=exp.to_identifier(name), columns=[c.copy() for c in columns])
    return exp.Lateral(this=exp.Subquery(this=inner), alias=table_alias)
