"""Time functions whose DuckDB translation gives another type or another format than Trino (Timestream).

- ``from_iso8601_timestamp(s)``: sqlglot makes it a TIMESTAMPTZ, which compares with Tessera's ``time``
  (a plain UTC TIMESTAMP_NS) only after a cast DuckDB refuses to make implicitly; here it is that instant
  in UTC, cut to milliseconds as Trino's result is (``time >= from_iso8601_timestamp('…Z')`` works).
- ``format_datetime(ts, pattern)``: the pattern is Joda-Time's (``yyyy-MM-dd HH:mm:ss.SSS``); DuckDB's
  ``strftime`` takes C's. A literal pattern is translated; letters this translation does not know, and a
  pattern that is not a literal, are refused rather than formatted wrongly.
- ``parse_datetime(text, pattern)``: the Joda pattern translated as for ``format_datetime``, into ``strptime``;
  two-digit years are refused (Joda pivots them on the current year - 30, strptime on 1969). A ``Z`` in the
  pattern matches only ``+0000``: times are UTC; ``z`` reads a zone's name or abbreviation and gives that
  instant in UTC (the guide's ``parse_datetime('2019-12-29 10:10 PST', 'uuuu-LL-dd HH:mm z')`` is 18:10).
- ``current_timezone()``: always ``'UTC'`` (Timestream's only zone; DuckDB has no such function).
- ``to_iso8601(x)``: a DATE as ``2024-01-02``, a TIMESTAMP as ``2024-01-02T03:04:05.123456789`` (Trino prints
  a timestamp's own precision, nine digits for Timestream's times; DuckDB has no such function).
- ``human_readable_seconds(x)``: the seconds (rounded, sign dropped) as weeks, days, hours, minutes and seconds,
  e.g. '1 hour, 2 minutes, 42 seconds' ('0 seconds' for none), Trino's error for NaN and infinities (DuckDB
  has no such function).
- ``parse_duration(s)``: Airlift's duration text (``42.8ms``, ``1.5 h``; units ns us ms s m h d, and the words
  nanosecond … day that Timestream's guide also takes: ``parse_duration('1day')``) as an INTERVAL kept to the
  microsecond (the guide's ``parse_duration('42.8ms')`` is ``0 00:00:00.042800000``, not Trino's milliseconds);
  a duration that is not whole microseconds is refused (DuckDB's intervals hold no nanoseconds), and
  anything else with Trino's error.
- Text written as a timestamp where a date/time function takes one (``day('2019-10-12 23:10:34')``,
  ``extract(YEAR FROM '…')``, ``to_unixtime('…')``, ``sequence('…', '…', 1d)``, the guide's examples) is read as
  a timestamp, as Timestream reads it (``text_as_timestamp``).
- Nanosecond timestamps: DuckDB rounds a TIMESTAMP_NS to microseconds before date parts, ``date()``,
  ``CAST AS DATE``, ``date_trunc`` and ``time_bucket``, so 23:59:59.9999999 counted as the next day; a
  visible timestamp is floored to microseconds first (``floor_to_micros``), and ``bin`` with a fixed width
  buckets the nanoseconds themselves (``bin_exact``). ``nanosecond(ts)``: within the second (DuckDB's
  counts the seconds too). ``sequence`` of timestamps with a fixed step is built from nanoseconds.
- ``date - date`` is refused, as in Trino (DuckDB answers an integer of days); so are ``date_trunc``,
  ``date_add`` and ``date_diff`` of a DATE with a unit shorter than a day (DuckDB answered them).
- ``date_diff(unit, a, b)``: whole units elapsed, truncated toward zero (DuckDB counts boundaries crossed);
  fixed-length units from the nanoseconds, months and years by the calendar.
- ``EXTRACT``: Trino's fields (``DOW`` is ISO's), others refused; ``date_format`` rounds to milliseconds,
  refuses ``%D %U %u %V %w %X`` as Trino does, reads ``%v`` as the ISO week and any other letter as itself;
  ``to_unixtime`` is the epoch nanoseconds over 10**9, as Timestream's guide shows it.
"""

from __future__ import annotations

import re

from sqlglot import exp

from services.query import sql_templates
from services.query.literals import interval_ns
from tessera.errors import ValidationError

_TIMESTAMP_NS = exp.DataType.build("TIMESTAMP_NS", dialect="duckdb")

# Joda letters (by run length) -> strftime, for the run lengths whose output is the same. Tessera's times are
# UTC, so the zone letters are literal text. Fractions: Trino formats with millisecond precision, so S runs
# of 3 or more are the milliseconds then zeros (handled below), and shorter ones are refused.
_JODA: dict[str, dict[int, str]] = {
    "y": {2: "%y", 4: "%Y"},
    "Y": {2: "%y", 4: "%Y"},
    "u": {2: "%y", 4: "%Y"},  # java.time's year and stand-alone month: the guide's 'uuuu-LL-dd HH:mm z'
    "M": {1: "%-m", 2: "%m", 3: "%b", 4: "%B"},
    "L": {1: "%-m", 2: "%m", 3: "%b", 4: "%B"},
    "d": {1: "%-d", 2: "%d"},
    "D": {1: "%-j", 3: "%j"},
    "H": {1: "%-H", 2: "%H"},
    "h": {1: "%-I", 2: "%I"},
    "m": {1: "%-M", 2: "%M"},
    "s": {1: "%-S", 2: "%S"},
    "a": {1: "%p"},
    "E": {1: "%a", 2: "%a", 3: "%a", 4: "%A"},
    "Z": {1: "+0000", 2: "+00:00", 3: "UTC"},
    "z": {1: "UTC", 2: "UTC", 3: "UTC", 4: "Coordinated Universal Time"},
}


def from_iso8601_timestamp(node: exp.FromISO8601Timestamp) -> exp.Expr:
    """The instant the ISO 8601 text names, as a UTC TIMESTAMP_NS."""
    instant = exp.cast(node.this.copy(), exp.DType.TIMESTAMPTZ)
    utc = exp.Anonymous(this="timezone", expressions=[exp.Literal.string("UTC"), instant])
    millis = exp.Anonymous(this="date_trunc", expressions=[exp.Literal.string("millisecond"), utc])
    return exp.cast(millis, _TIMESTAMP_NS.copy())


def joda_to_strftime(pattern: str, function: str = "format_datetime", zone_names: bool = False) -> str:
    """A Joda-Time format pattern as a strftime format; ValidationError for what has no exact equivalent.
    ``zone_names``: ``z`` to ``zzz`` read a zone's name or abbreviation (``%Z``, for parsing) instead of
    writing UTC's."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "'":  # quoted literal text; '' is a single quote, inside quotes too
            if pattern.startswith("''", i):
                out.append("'")
                i += 2
                continue
            text: list[str] = []
            j = i + 1
            while True:
                if j >= len(pattern):
                    raise ValidationError(f"{function}: unterminated quote at position {i + 1} of {pattern!r}")
                if pattern.startswith("''", j):
                    text.append("'")
                    j += 2
                elif pattern[j] == "'":
                    break
                else:
                    text.append(pattern[j])
                    j += 1
            out.append("".join(text).replace("%", "%%"))
            i = j + 1
            continue
        if c.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == c:
                j += 1
            run = j - i
            if c == "S" and run >= 3:
                form: str | None = "%g" + "0" * (run - 3)  # milliseconds, as Trino's formatter has no finer
            elif c == "z" and run <= 3 and zone_names:
                form = "%Z"
            else:
                form = _JODA.get(c, {}).get(run)
            if form is None:
                raise ValidationError(f"{function}: {c * run!r} in {pattern!r} is not supported; supported: "
                                      "yy, yyyy, uuuu, M to MMMM, L to LLLL, d, dd, D, DDD, H, HH, h, hh, m, mm, s, ss, SSS (and "
                                      "longer), a, E to EEEE, Z to ZZZ, z to zzzz and quoted text")
            out.append(form)
            i = j
            continue
        out.append("%%" if c == "%" else c)
        i += 1
    return "".join(out)


def format_datetime(value: exp.Expr, pattern: exp.Expr) -> exp.Expr:
    """``strftime`` with the Joda pattern translated (the pattern must be a string literal)."""
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise ValidationError("format_datetime: the pattern must be a string literal")
    return exp.Anonymous(this="strftime", expressions=[value.copy(), exp.Literal.string(joda_to_strftime(pattern.name))])


def parse_datetime(node: exp.ParseDatetime) -> exp.Expr:
    """``parse_datetime(text, joda_pattern)`` as ``strptime`` with the pattern translated (a string literal),
    a UTC TIMESTAMP_NS."""
    pattern = node.args.get("format")
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise ValidationError("parse_datetime: the pattern must be a string literal")
    fmt = joda_to_strftime(pattern.name, "parse_datetime", zone_names=True)
    if "%y" in fmt.replace("%%", ""):  # Joda pivots two-digit years on now - 30; strptime on 1969
        raise ValidationError(f"parse_datetime: two-digit years ('yy' in {pattern.name!r}) are not supported; "
                              "use yyyy")
    parsed: exp.Expr = exp.Anonymous(this="strptime", expressions=[node.this.copy(), exp.Literal.string(fmt)])
    if "%Z" in fmt.replace("%%", ""):  # an instant in the zone the text names: that instant in UTC
        parsed = exp.Anonymous(this="timezone", expressions=[exp.Literal.string("UTC"), parsed])
    return exp.cast(parsed, _TIMESTAMP_NS.copy())


def current_timezone() -> exp.Expr:
    return exp.Literal.string("UTC")


def to_iso8601(value: exp.Expr) -> exp.Expr:
    """ISO 8601 text of a DATE or a TIMESTAMP, chosen by the argument's type when the query runs."""
    v = exp.paren(value.copy())
    is_date = exp.EQ(this=exp.Anonymous(this="typeof", expressions=[v.copy()]), expression=exp.Literal.string("DATE"))
    return exp.Case(ifs=[exp.If(this=is_date, true=exp.Anonymous(this="strftime", expressions=[
        v.copy(), exp.Literal.string("%Y-%m-%d")]))], default=exp.Anonymous(this="strftime", expressions=[
            v.copy(), exp.Literal.string("%Y-%m-%dT%H:%M:%S.%n")]))


# Airlift's Duration units (Trino's parse_duration) and the words Timestream's guide also accepts
# (``parse_duration('1day')``, the units of its interval literals), with their length in nanoseconds.
_DURATION_UNIT_NS = {"ns": 1, "nanosecond": 1, "us": 1_000, "microsecond": 1_000, "ms": 1_000_000,
                     "millisecond": 1_000_000, "s": 10**9, "second": 10**9, "m": 60 * 10**9, "minute": 60 * 10**9,
                     "h": 3_600 * 10**9, "hour": 3_600 * 10**9, "d": 86_400 * 10**9, "day": 86_400 * 10**9}
_DURATION = r"^\s*([0-9]+(\.[0-9]+)?)\s*(" + "|".join(sorted(_DURATION_UNIT_NS, key=len, reverse=True)) + r")\s*$"
_DURATION_NS = ("CAST(regexp_extract(__s, '{d}', 1) AS DECIMAL(38, 9)) * CASE regexp_extract(__s, '{d}', 3) "
                + " ".join(f"WHEN '{u}' THEN {n}" for u, n in _DURATION_UNIT_NS.items()) + " END").format(d=_DURATION)
_DURATION_SQL = f"""
CASE WHEN __s IS NULL THEN CAST(NULL AS INTERVAL)
     WHEN NOT regexp_matches(__s, '{_DURATION}') THEN
       error('duration is not a valid data duration string: ' || __s)
     WHEN ({_DURATION_NS}) % 1000 <> 0 THEN
       error('Tessera intervals have microsecond precision: ' || __s || ' is not a whole number of microseconds')
     ELSE to_microseconds(CAST(({_DURATION_NS}) / 1000 AS BIGINT))
END
"""


def parse_duration(text: exp.Expr) -> exp.Expr:
    """``parse_duration(s)`` as a DuckDB expression (see the module's docstring)."""
    return sql_templates.duckdb(_DURATION_SQL, s=text)


_DATE_UNITS = {"day", "week", "month", "quarter", "year"}
_DAY_NS = 86_400 * 10**9


def is_date(node: exp.Expr) -> bool:
    """Whether an expression is a DATE whatever its inputs: a cast to DATE (DATE '…', date(…),
    from_iso8601_date, a folded current_date) or last_day_of_month. Types are not inferred beyond these."""
    node = node.unnest()
    return (isinstance(node, exp.Cast) and node.to.this == exp.DType.DATE) or isinstance(
        node, (exp.CurrentDate, exp.LastDay, exp.Date, exp.FromISO8601Date))


def refuse_time_unit_on_date(node: exp.Expr) -> None:
    """Trino's ``date_trunc``, ``date_add`` and ``date_diff`` of a DATE take only day, week, month, quarter
    and year (``'hour' is not a valid DATE field``); DuckDB truncated the date (answering it unchanged),
    added the hours (a TIMESTAMP) or counted them. Refused when the argument is visibly a DATE."""
    if not isinstance(node, (exp.DateTrunc, exp.TimestampTrunc, exp.DateAdd, exp.DateDiff)):
        return
    unit = node.text("unit").lower()
    dates = [node.this] + ([node.expression] if isinstance(node, exp.DateDiff) else [])
    if unit and unit not in _DATE_UNITS and any(is_date(d) for d in dates):
        raise ValidationError(f"'{unit}' is not a valid DATE field")


def date_plus_interval(node: exp.Add | exp.Sub) -> exp.Expr | None:
    """``DATE ± INTERVAL`` of days or longer is a DATE in Trino; DuckDB's is a TIMESTAMP (midnight). None
    unless one side is visibly a DATE and the other an interval literal of such a unit."""
    left, right = node.this, node.expression
    interval = right if isinstance(right, exp.Interval) else left if isinstance(node, exp.Add) else None
    other = left if interval is right else right
    if not isinstance(interval, exp.Interval) or not is_date(other):
        return None
    if interval.text("unit").lower() not in _DATE_UNITS:
        # Trino (and Timestream's guide: "seconds, minutes, and hours can not be added to or subtracted from
        # a date") refuses a day-to-second interval that is not whole days; DuckDB answered a TIMESTAMP.
        length = interval_ns(interval)
        if length is None:
            return None
        if length % _DAY_NS:
            raise ValidationError("Cannot add hour, minutes or seconds to a date")
    return exp.cast(node.copy(), exp.DType.DATE)


def refuse_date_difference(node: exp.Sub) -> None:
    """Trino has no ``date - date`` (nor does Timestream: "a date … cannot be … subtracted from a date"); DuckDB
    answers the days between them as an integer. Refused when both sides are visibly DATEs."""
    if is_date(node.this) and is_date(node.expression):
        raise ValidationError("Cannot apply operator: date - date; use date_diff('day', a, b)")


def date_add(node: exp.DateAdd) -> exp.Expr | None:
    """Trino's ``date_add(unit, n, date)`` is a DATE for a DATE and a day-or-longer unit; DuckDB's
    ``DATE + INTERVAL`` is a TIMESTAMP (midnight). None when the argument is not known to be a DATE."""
    if not is_date(node.this) or node.text("unit").lower() not in _DATE_UNITS:
        return None
    return exp.cast(node.copy(), exp.DType.DATE)


_MONTH_SEQUENCE = """
CASE
  WHEN __s IS NULL OR __e IS NULL THEN CAST(NULL AS ARRAY(DATE))
  WHEN (__k > 0 AND __s > __e) OR (__k < 0 AND __s < __e) THEN error('sequence stop value should be greater than or '
    || 'equal to start value if step is greater than zero otherwise stop should be less than or equal to start')
  ELSE filter(
    transform(sequence(0, CAST(floor(abs(date_diff('month', __s, __e)) / abs(__k)) AS BIGINT) + 1),
              i -> CAST(date_add('month', i * __k, __s) AS DATE)),
    d -> CASE WHEN __k > 0 THEN d <= __e ELSE d >= __e END)
END
"""


def _month_sequence(start: exp.Expr, end: exp.Expr, step: exp.Interval) -> exp.Expr:
    """Trino adds i steps to the start (Jan 31 + 1, 2 months: Feb 29, Mar 31), where DuckDB's series adds
    a step to the previous element (Mar 29). So each element is the start plus i months, clipped to its
    month's end; one more than the whole steps between the bounds is built, and those past the end go."""
    amount = step.this.name.strip() if step.this is not None else ""
    if not re.fullmatch(r"[+-]?\d+", amount):
        raise ValidationError(f"sequence over DATEs takes a whole number of months or years as its step, not {amount!r}")
    months = int(amount) * (12 if step.text("unit").upper() == "YEAR" else 1)
    if months == 0:
        raise ValidationError("sequence step must not be zero")
    return sql_templates.trino(_MONTH_SEQUENCE, s=start, e=end, k=exp.Literal.number(months))


def date_sequence(node: exp.GenerateSeries) -> exp.Expr | None:
    """``sequence(date, date[, interval])``: Trino steps a day by default and answers DATEs; DuckDB has no
    DATE series, so it runs over TIMESTAMPs and casts each element back. None for other sequences."""
    start, end = node.args.get("start"), node.args.get("end")
    if start is None or end is None or not (is_date(start) and is_date(end)):
        return None
    step = node.args.get("step")
    if step is None:  # Trino steps a day, backwards when the start is later
        forward = exp.LTE(this=start.copy(), expression=end.copy())
        step = exp.Case(ifs=[exp.If(this=forward, true=exp.Interval(this=exp.Literal.string("1"), unit=exp.var("DAY")))],
                        default=exp.Interval(this=exp.Literal.string("-1"), unit=exp.var("DAY")))
    elif isinstance(step, exp.Interval) and step.text("unit").upper() in ("MONTH", "YEAR"):
        return _month_sequence(start, end, step)
    elif not (isinstance(step, exp.Interval) and step.text("unit").upper() in ("DAY", "WEEK")):
        raise ValidationError("sequence over DATEs takes a literal interval step in days, weeks, months or years "
                              "(e.g. INTERVAL '7' DAY, INTERVAL '1' MONTH)")
    elif step.this is not None and step.this.name.strip().lstrip("+-").strip("0") in ("", "."):
        raise ValidationError("sequence step must not be zero")
    series = exp.Anonymous(this="generate_series", expressions=[
        exp.cast(start.copy(), exp.DType.TIMESTAMP), exp.cast(end.copy(), exp.DType.TIMESTAMP), step.copy()])
    day = exp.to_identifier("d")
    return exp.Anonymous(this="list_transform", expressions=[
        series, exp.Lambda(this=exp.cast(day.copy(), exp.DType.DATE), expressions=[day])])  # params are Identifiers, not columns


def visibly_year_month(node: exp.Expr) -> bool:
    """Whether an expression is visibly an INTERVAL YEAR TO MONTH (DuckDB has one INTERVAL type): a literal in
    years or months, its negation, or a sum or difference of two."""
    node = node.unnest()
    if isinstance(node, exp.Interval):
        return node.text("unit").upper().removesuffix("S") in ("YEAR", "MONTH", "YEAR TO MONTH")
    if isinstance(node, exp.Neg):
        return visibly_year_month(node.this)
    if isinstance(node, (exp.Add, exp.Sub)):
        return visibly_year_month(node.this) and visibly_year_month(node.expression)
    return False


_TIMESTAMP_MAKERS = frozenset({"make_timestamp_ns", "make_timestamp", "time_bucket", "from_nanoseconds",
                               "from_milliseconds", "to_timestamp"})


def visibly_timestamp(node: exp.Expr) -> bool:
    """Whether an expression is visibly a TIMESTAMP: the ``time`` column every table has, a cast to a
    timestamp (literals, a folded clock), a function making one, or one plus or minus an interval."""
    node = node.unnest()
    if isinstance(node, exp.Column):
        return node.name == "time"
    if isinstance(node, exp.Cast):
        return bool(node.to.this.name.startswith("TIMESTAMP"))
    if isinstance(node, exp.Anonymous):
        return node.name.lower() in _TIMESTAMP_MAKERS
    if isinstance(node, (exp.Add, exp.Sub)):
        return visibly_timestamp(node.this) and isinstance(node.expression.unnest(), exp.Interval)
    return False


def floor_to_micros(value: exp.Expr, known_timestamp: bool = False) -> exp.Expr:
    """A visible TIMESTAMP (or one the caller knows is) cut down to whole microseconds (floor, also before
    1970): DuckDB's date parts, ``date_trunc`` and ``time_bucket`` round a TIMESTAMP_NS to microseconds
    first, so 00:00:59.9999999 would count as the next minute. Anything else (an interval, text, a DATE) is
    left as it is."""
    if not (known_timestamp or visibly_timestamp(value)):
        return value
    return sql_templates.duckdb("make_timestamp((epoch_ns(__t) - ((epoch_ns(__t) % 1000) + 1000) % 1000) // 1000)",
                                t=value)


def bin_exact(value: exp.Expr, width_ns: int) -> exp.Expr:
    """``bin(t, width)`` for a fixed width, in integer nanoseconds: the bucket's start since the epoch, exact
    for nanosecond timestamps (before 1970 too) and cheaper than DuckDB's ``time_bucket``."""
    return sql_templates.duckdb("make_timestamp_ns(epoch_ns(__t) - ((epoch_ns(__t) % __w) + __w) % __w)",
                                t=value, w=exp.Literal.number(width_ns))


def nanosecond(value: exp.Expr) -> exp.Expr:
    """Trino's ``nanosecond(ts)``: the nanoseconds within the second (DuckDB's counts the seconds too)."""
    return sql_templates.duckdb("nanosecond(__t) % 1000000000", t=value)


_NANOSECOND_SEQUENCE = """
CASE
  WHEN (__s > __e AND __n > 0) OR (__s < __e AND __n < 0) THEN error('sequence stop value should be greater than or '
    || 'equal to start value if step is greater than zero otherwise stop should be less than or equal to start')
  WHEN (epoch_ns(__e) - epoch_ns(__s)) // __n >= 10000 THEN error('result of sequence function must not have more '
    || 'than 10000 entries')
  ELSE list_transform(generate_series(epoch_ns(__s), epoch_ns(__e), __n), lambda tessera_n: make_timestamp_ns(tessera_n))
END
"""


def nanosecond_sequence(start: exp.Expr, end: exp.Expr, step_ns: int) -> exp.Expr:
    """``sequence(ts1, ts2, step)`` over nanosecond timestamps with a fixed step: DuckDB's series of
    TIMESTAMP_NS goes through microseconds, so a start at .0000009 came back as .000001 (and an
    interpolation at that point was off). Trino's errors for a step of the wrong sign or over 10000 entries."""
    return sql_templates.duckdb(_NANOSECOND_SEQUENCE, s=start, e=end, n=exp.Literal.number(step_ns))


_UNIT_NS = {"nanosecond": 1, "microsecond": 1_000, "millisecond": 1_000_000, "second": 1_000_000_000,
            "minute": 60_000_000_000, "hour": 3_600_000_000_000, "day": 86_400_000_000_000,
            "week": 7 * 86_400_000_000_000}


def date_diff(node: exp.DateDiff) -> exp.Expr:
    """``date_diff(unit, a, b)``: the whole units elapsed from ``a`` to ``b``, truncated toward zero, as Trino
    counts them (DuckDB's ``date_diff`` counts boundaries crossed). Units of fixed length are computed from
    the nanoseconds (DuckDB's ``date_sub`` rounds a TIMESTAMP_NS to microseconds and has no nanoseconds);
    months, quarters and years by the calendar, from the timestamps cut to microseconds."""
    unit = node.text("unit").lower() or "day"
    later, earlier = node.this, node.expression
    if unit in _UNIT_NS:
        return sql_templates.duckdb(f"(epoch_ns(__b) - epoch_ns(__a)) // {_UNIT_NS[unit]}",
                                    a=_as_timestamp(earlier), b=_as_timestamp(later))
    return exp.Anonymous(this="date_sub", expressions=[
        exp.Literal.string(unit), floor_to_micros(earlier), floor_to_micros(later)])


def _as_timestamp(value: exp.Expr) -> exp.Expr:
    """A string literal read as a timestamp (as Trino coerces it); anything else as it is."""
    inner = value.unnest()
    if isinstance(inner, exp.Literal) and inner.is_string:
        return exp.cast(value.copy(), _TIMESTAMP_NS)
    return value


# EXTRACT's fields in Trino -> DuckDB's part of the same meaning (DOW is ISO's 1 = Monday .. 7 = Sunday in Trino,
# DuckDB's DOW counts from 0 = Sunday); Trino has no other fields (no MILLISECOND, EPOCH, ...).
_EXTRACT_FIELDS = {"year": "YEAR", "quarter": "QUARTER", "month": "MONTH", "week": "WEEK", "day": "DAY",
                   "day_of_month": "DAY", "day_of_week": "ISODOW", "dow": "ISODOW", "day_of_year": "DOY",
                   "doy": "DOY", "year_of_week": "ISOYEAR", "yow": "ISOYEAR", "hour": "HOUR", "minute": "MINUTE",
                   "second": "SECOND", "timezone_hour": "TIMEZONE_HOUR", "timezone_minute": "TIMEZONE_MINUTE"}


def extract(node: exp.Extract) -> exp.Expr:
    """``EXTRACT(field FROM x)`` with Trino's fields: ``DOW``/``DAY_OF_WEEK`` is 1 (Monday) .. 7 (Sunday), where
    DuckDB's DOW gives 0 for Sunday; ``DAY_OF_MONTH``, ``YEAR_OF_WEEK``/``YOW`` have DuckDB's names; a field
    Trino does not have (``MILLISECOND``, ``EPOCH``, …) is Trino's error, not DuckDB's answer. A visible
    timestamp is floored to microseconds first (DuckDB would round 59.9999999 s up)."""
    field = node.name.lower()
    if field not in _EXTRACT_FIELDS:
        raise ValidationError(f"Invalid EXTRACT field: {node.name}; Trino's fields are "
                              + ", ".join(f.upper() for f in _EXTRACT_FIELDS))
    return exp.Extract(this=exp.var(_EXTRACT_FIELDS[field]), expression=floor_to_micros(node.expression.copy()))


# date_format's specifiers as sqlglot has already written them for strftime (Trino's %c is '%-m', %i '%M', %W
# '%A', %x '%G', …). Trino refuses %D %U %u %V %w %X (sqlglot wrote %u as '%W'); its %v is the ISO week,
# strftime's %V; any other letter is itself.
_STRFTIME_KEPT = frozenset({"a", "b", "-m", "d", "-d", "f", "H", "I", "M", "j", "-H", "-I", "B", "m", "p", "S", "A",
                            "G", "Y", "y", "%"})
_DATE_FORMAT_REFUSED = {"D": "%D", "U": "%U", "W": "%u", "V": "%V", "w": "%w", "X": "%X"}


def _trino_date_format(converted: str) -> str:
    """A date_format pattern (as sqlglot converted it) with Trino's meaning in strftime's terms."""
    out: list[str] = []
    i = 0
    while i < len(converted):
        if converted[i] != "%" or i + 1 == len(converted):
            out.append("%%" if converted[i] == "%" else converted[i])
            i += 1
            continue
        spec = converted[i + 1:i + 3] if converted[i + 1] == "-" else converted[i + 1]
        i += 1 + len(spec)
        if spec in _DATE_FORMAT_REFUSED:
            raise ValidationError(f"date_format: {_DATE_FORMAT_REFUSED[spec]} not supported in date format string")
        if spec == "v":
            out.append("%V")
        elif spec in _STRFTIME_KEPT:
            out.append("%" + spec)
        else:
            out.append(spec.lstrip("-").replace("%", "%%"))
    return "".join(out)


def date_format(node: exp.TimeToStr) -> exp.Expr:
    """``date_format(ts, format)``: Trino formats a timestamp rounded to milliseconds (``%f`` is the
    milliseconds then 000, and 10:00:00.9996 prints as 10:00:01); DuckDB's ``strftime`` uses the
    microseconds. A literal pattern takes Trino's specifiers (``_trino_date_format``)."""
    millis = sql_templates.duckdb("make_timestamp_ms((epoch_ns(__t) // 1000 + 500) // 1000)", t=node.this)
    rounded = node.copy()
    rounded.set("this", millis)
    pattern = node.args.get("format")
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        rounded.set("format", exp.Literal.string(_trino_date_format(pattern.name)))
    return rounded


def to_unixtime(node: exp.TimeToUnix) -> exp.Expr:
    """``to_unixtime(ts)`` as Timestream computes it: the epoch nanoseconds as a DOUBLE over 10**9 (its guide's
    ``to_unixtime('2022-06-17 17:44:43.771000000')`` is 1.6554878837710001E9, where milliseconds / 1000 give
    1.655487883771E9); DuckDB's ``epoch`` drops the nanoseconds."""
    return sql_templates.duckdb("CAST(epoch_ns(__t) AS DOUBLE) / CAST(1000000000 AS DOUBLE)", t=node.this)


_PERIOD = "CASE WHEN {n} > 0 THEN CAST({n} AS VARCHAR) || ' {unit}' || CASE WHEN {n} = 1 THEN '' ELSE 's' END END"
_PERIODS = (("tessera_s // 604800", "week"), ("tessera_s % 604800 // 86400", "day"),
            ("tessera_s % 86400 // 3600", "hour"), ("tessera_s % 3600 // 60", "minute"), ("tessera_s % 60", "second"))
_HUMAN_READABLE_SECONDS = f"""
CASE WHEN __x IS NULL THEN NULL
     WHEN isnan(__x) OR isinf(__x) THEN error('Invalid argument found: ' || CAST(__x AS VARCHAR))
     ELSE list_transform([CAST(round(abs(__x)) AS BIGINT)], lambda tessera_s: coalesce(nullif(array_to_string(
       list_filter([{', '.join(_PERIOD.format(n=f'({n})', unit=u) for n, u in _PERIODS)}],
                   lambda tessera_p: tessera_p IS NOT NULL), ', '), ''), '0 seconds'))[1]
END
"""


def human_readable_seconds(seconds: exp.Expr) -> exp.Expr:
    """``human_readable_seconds(x)`` (see the module's docstring), as Trino's HumanReadableSeconds writes it."""
    return sql_templates.duckdb(_HUMAN_READABLE_SECONDS, x=exp.cast(seconds, exp.DType.DOUBLE))


_TIMESTAMP_TEXT = re.compile(r"^\s*\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?\s*$")
# Functions whose argument Timestream reads as a timestamp when it is written as text: its guide's own
# examples pass one (``day('2019-10-12 23:10:34.000000000')``, ``extract(YEAR FROM '…')``,
# ``to_unixtime('…')``, ``sequence('…', '…', 1d)``); DuckDB cannot choose between its overloads for text.
_TEXT_AS_TIMESTAMP: dict[type[exp.Expr], tuple[str, ...]] = {
    exp.Day: ("this",), exp.DayOfMonth: ("this",), exp.DayOfWeekIso: ("this",), exp.DayOfYear: ("this",),
    exp.Hour: ("this",), exp.Minute: ("this",), exp.Second: ("this",), exp.Month: ("this",),
    exp.Quarter: ("this",), exp.Year: ("this",), exp.WeekOfYear: ("this",), exp.YearOfWeek: ("this",),
    exp.Extract: ("expression",), exp.TimeToUnix: ("this",), exp.TimestampTrunc: ("this",),
    exp.DateAdd: ("this",), exp.DateDiff: ("this", "expression"), exp.LastDay: ("this",),
    exp.TimeToStr: ("this",),
}
_TEXT_AS_TIMESTAMP_CALLS = frozenset({"millisecond", "nanosecond", "yow", "to_milliseconds", "to_nanoseconds",
                                      "bin", "format_datetime"})


def _timestamp_text(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal) and node.is_string and bool(_TIMESTAMP_TEXT.match(node.name))


def text_as_timestamp(node: exp.Expr) -> None:
    """In place: a text literal written as a timestamp (``'2019-10-12 23:10:34.000000000'``) in the timestamp
    argument of a date/time function becomes a TIMESTAMP_NS literal, as Timestream reads it; the bounds of
    ``sequence`` too when the step is an interval. Other text is left alone (DuckDB then refuses it)."""
    if isinstance(node, exp.GenerateSeries):
        keys: tuple[str, ...] = ("start", "end") if isinstance(node.args.get("step"), exp.Interval) else ()
        if keys and not all(_timestamp_text(node.args[k]) or not isinstance(node.args[k], exp.Literal) for k in keys):
            keys = ()
    elif isinstance(node, exp.Anonymous) and node.name.lower() in _TEXT_AS_TIMESTAMP_CALLS and node.expressions:
        first = node.expressions[0]
        if _timestamp_text(first):
            first.replace(exp.cast(first.copy(), _TIMESTAMP_NS.copy()))
        return
    else:
        keys = _TEXT_AS_TIMESTAMP.get(type(node), ())
    for key in keys:
        arg = node.args.get(key)
        if arg is not None and _timestamp_text(arg):
            arg.replace(exp.cast(arg.copy(), _TIMESTAMP_NS.copy()))
