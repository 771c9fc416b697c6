"""``CAST(x AS VARCHAR)`` of a DOUBLE as Trino (hence Timestream) writes it: Java's ``Double.toString``
(``1.0E10``, ``1.5E-5``, ``100.0``, ``NaN``, ``Infinity``), where DuckDB writes ``10000000000.0`` and
``1.5e-05``. The digits are DuckDB's shortest round-trip ones; only the layout changes: plain from 10^-3 up
to 10^7, else one digit, a point, the rest (at least one digit) and ``E`` with the exponent. Other types
cast as before, but an array, row or map is refused (Trino cannot cast one to VARCHAR; DuckDB writes
``[1, 2]``); a TIMESTAMP is written with nine fractional digits, as Trino writes a timestamp(9). The
macros live in the coordinator's final stage only (see FUNCTIONS)."""

from __future__ import annotations

from sqlglot import exp

from services.query import trino_time

NINE_DIGITS = "%Y-%m-%d %H:%M:%S.%n"
"""strftime's pattern of a TIMESTAMP as Trino writes a timestamp(9)."""

_DEFINITIONS: dict[str, str] = {
    # s: DuckDB's text of a positive finite double, either 'I.F' or 'M[.MMM]e±X'.
    "_jd_exp(s)": ("CASE WHEN contains(s, 'e') THEN CAST(split_part(s, 'e', 2) AS INTEGER) "
                   "WHEN split_part(s, '.', 1) <> '0' THEN length(split_part(s, '.', 1)) - 1 "
                   "ELSE -(length(split_part(s, '.', 2)) - length(ltrim(split_part(s, '.', 2), '0')) + 1) END"),
    "_jd_digits(s)": ("CASE WHEN contains(s, 'e') THEN replace(split_part(s, 'e', 1), '.', '') "
                      "ELSE ltrim(replace(s, '.', ''), '0') END"),
    "_jd_sci(s)": ("left(rtrim(_jd_digits(s), '0'), 1) || '.' || "
                   "coalesce(nullif(substr(rtrim(_jd_digits(s), '0'), 2), ''), '0') || 'E' || CAST(_jd_exp(s) AS VARCHAR)"),
    "java_double_text(d)": ("CASE WHEN d IS NULL THEN NULL WHEN isnan(d) THEN 'NaN' "
                            "WHEN isinf(d) THEN CASE WHEN d > 0 THEN 'Infinity' ELSE '-Infinity' END "
                            "WHEN d = 0 OR (abs(d) >= 0.001 AND abs(d) < 10000000) THEN CAST(d AS VARCHAR) "
                            "ELSE CASE WHEN d < 0 THEN '-' ELSE '' END || _jd_sci(CAST(abs(d) AS VARCHAR)) END"),
    # An INTERVAL as Timestream writes one: day to second as '1 02:03:04.500000000' (DuckDB's intervals hold
    # microseconds), year to month as '1-2' (years-months); DuckDB writes '1 day 02:03:04.5', '1 year 2 months'.
    "_ti_months(i)": "datepart('year', i) * 12 + datepart('month', i)",
    "_ti_micros(i)": ("CAST(datepart('day', i) AS HUGEINT) * 86400000000 + CAST(datepart('hour', i) AS HUGEINT) * "
                      "3600000000 + CAST(datepart('minute', i) AS HUGEINT) * 60000000 + datepart('microseconds', i)"),
    "_ti_ym(m)": ("CASE WHEN m < 0 THEN '-' ELSE '' END || CAST(abs(m) // 12 AS VARCHAR) || '-' || "
                  "CAST(abs(m) % 12 AS VARCHAR)"),
    "_ti_ds(u)": ("CASE WHEN u < 0 THEN '-' ELSE '' END || CAST(abs(u) // 86400000000 AS VARCHAR) || ' ' || "
                  "printf('%02d:%02d:%02d.%06d000', CAST(abs(u) // 3600000000 % 24 AS BIGINT), "
                  "CAST(abs(u) // 60000000 % 60 AS BIGINT), CAST(abs(u) // 1000000 % 60 AS BIGINT), "
                  "CAST(abs(u) % 1000000 AS BIGINT))"),
    "trino_interval_text(i)": ("CASE WHEN i IS NULL THEN NULL WHEN _ti_months(i) = 0 THEN _ti_ds(_ti_micros(i)) "
                               "WHEN _ti_micros(i) = 0 THEN _ti_ym(_ti_months(i)) "
                               "ELSE _ti_ym(_ti_months(i)) || ' ' || _ti_ds(_ti_micros(i)) END"),
    # x is evaluated once (a one-element list), so a volatile x (random()) is tested and printed as one
    # value; a REAL keeps its own shortest digits (Java's Float.toString has the same layout).
    # Trino has no cast of an array, row or map to VARCHAR (DuckDB writes '[1, 2]'); refused, as Trino does.
    "trino_varchar(x)": ("CASE WHEN typeof(x) LIKE '%[]' OR typeof(x) LIKE 'STRUCT(%' OR typeof(x) LIKE 'MAP(%' "
                         "THEN error('Cannot cast ' || trino_typeof(typeof(x)) || ' to varchar') ELSE CASE typeof(x) "
                         "WHEN 'DOUBLE' THEN list_transform([TRY_CAST(x AS DOUBLE)], lambda v: java_double_text(v))[1] "
                         "WHEN 'FLOAT' THEN list_transform([TRY_CAST(x AS FLOAT)], lambda v: java_double_text(v))[1] "
                         f"WHEN 'TIMESTAMP_NS' THEN strftime(TRY_CAST(x AS TIMESTAMP_NS), '{NINE_DIGITS}') "
                         f"WHEN 'TIMESTAMP' THEN strftime(TRY_CAST(x AS TIMESTAMP_NS), '{NINE_DIGITS}') "
                         "WHEN 'INTERVAL' THEN trino_interval_text(TRY_CAST(x AS INTERVAL))"
                         " ELSE CAST(x AS VARCHAR) END END"),
    # typeof(x) with Trino's type names: DuckDB's 'INTEGER[]', 'STRUCT("_0" INTEGER)', 'TIMESTAMP_NS' become
    # 'array(integer)', 'row(integer)', 'timestamp'. DuckDB writes types in capitals and field names as
    # given, so only capitalised tokens are rewritten (a field named 'timestamp_start' or 'float' stays);
    # arrays nest twice at most (deeper ones keep DuckDB's []). HUGEINT and DECIMAL name what results
    # carry (BIGINT, DOUBLE: result_types.py); every INTERVAL is 'interval day to second' (DuckDB has one).
    "_tt_arrays(t)": (r"regexp_replace(regexp_replace(t, "
                      r"'([A-Z][A-Z_0-9]*(?: [A-Z][A-Z_0-9]*)*(?:\([^()]*\))?)\[\]', 'ARRAY(\1)', 'g'), "
                      r"'(ARRAY\([^()]*(?:\([^()]*\))?[^()]*\))\[\]', 'ARRAY(\1)', 'g')"),
    "_tt_names(t)": (r"""regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace("""
                     r"""regexp_replace(regexp_replace(t, '\bTIMESTAMP_(?:NS|MS|S)\b', 'TIMESTAMP', 'g'), """
                     r"""'"NULL"', 'UNKNOWN', 'g'), '\bINTERVAL\b', 'INTERVAL DAY TO SECOND', 'g'), """
                     r"""'\bFLOAT\b', 'REAL', 'g'), '\bHUGEINT\b', 'BIGINT', 'g'), '\bDECIMAL\(\d+,\d+\)', 'DOUBLE', 'g'), """
                     r"""'\b(?:STRUCT|TUPLE)\(', 'ROW(', 'g'), '"_\d+" ', '', 'g')"""),
    "_tt_unquote(t)": r"""regexp_replace(t, '"([^"]+)"', '\1', 'g')""",
    "trino_typeof(t)": "lower(_tt_unquote(_tt_names(_tt_arrays(t))))",
}

MACROS: tuple[str, ...] = tuple(f"CREATE OR REPLACE MACRO {signature} AS {body}"
                                for signature, body in _DEFINITIONS.items())
FUNCTIONS = frozenset(signature.split("(")[0] for signature in _DEFINITIONS)
"""The macro names: they exist only in the coordinator's final stage, so no predicate calling one is pushed
to a storage replica."""


_NOT_FLOATING = (exp.DType.VARCHAR, exp.DType.TEXT, exp.DType.CHAR, exp.DType.BIGINT, exp.DType.INT,
                 exp.DType.SMALLINT, exp.DType.TINYINT, exp.DType.BOOLEAN, exp.DType.DATE, exp.DType.TIMESTAMP,
                 exp.DType.TIME, exp.DType.INTERVAL)


def may_be_floating(node: exp.Expr) -> bool:
    """False when an expression visibly is not a DOUBLE or REAL (a string or integer literal, a cast to
    another type, a concatenation): its cast to VARCHAR then stays DuckDB's and can still be pushed to the
    replicas, which have no macros."""
    node = node.unnest()
    if isinstance(node, exp.Literal):
        return not node.is_string and not node.name.lstrip("-").isdigit()
    if isinstance(node, exp.Cast):
        return node.to.this not in _NOT_FLOATING and not node.to.this.name.startswith("TIMESTAMP")
    return not isinstance(node, (exp.DPipe, exp.Concat, exp.Boolean, exp.Null))


def cast_to_varchar(node: exp.Cast) -> exp.Expr:
    """``CAST(x AS VARCHAR)`` with a DOUBLE written as Java does and a TIMESTAMP with all nine fractional
    digits, as Trino writes a timestamp(9) (DuckDB drops trailing zeros: ``10:00:00.12345679``)."""
    if trino_time.visibly_timestamp(node.this):
        return exp.Anonymous(this="strftime", expressions=[node.this.copy(), exp.Literal.string(NINE_DIGITS)])
    return exp.Anonymous(this="trino_varchar", expressions=[node.this.copy()])

