"""Time functions whose DuckDB translation gives another type or another format than Trino (Timestream).

- ``from_iso8601_timestamp(s)``: sqlglot makes it a TIMESTAMPTZ, which compares with Tessera's ``time``
  (a plain UTC TIMESTAMP_NS) only after a cast DuckDB refuses to make implicitly; here it is the same
  instant as a UTC TIMESTAMP_NS (``time >= from_iso8601_timestamp('2024-01-01T00:00:00Z')`` works).
- ``format_datetime(ts, pattern)``: the pattern is Joda-Time's (``yyyy-MM-dd HH:mm:ss.SSS``); DuckDB's
  ``strftime`` takes C's. A literal pattern is translated; letters this translation does not know, and a
  pattern that is not a literal, are refused rather than formatted wrongly.
"""

from __future__ import annotations

from sqlglot import exp

from tessera.errors import ValidationError

_TIMESTAMP_NS = exp.DataType.build("TIMESTAMP_NS", dialect="duckdb")

# Joda letters (by run length) -> strftime. A run longer than listed uses the longest form listed.
_JODA: dict[str, dict[int, str]] = {
    "y": {1: "%Y", 2: "%y", 3: "%Y", 4: "%Y"},
    "Y": {1: "%Y", 2: "%y", 3: "%Y", 4: "%Y"},
    "M": {1: "%-m", 2: "%m", 3: "%b", 4: "%B"},
    "d": {1: "%-d", 2: "%d"},
    "D": {1: "%-j", 3: "%j"},
    "H": {1: "%-H", 2: "%H"},
    "h": {1: "%-I", 2: "%I"},
    "m": {1: "%-M", 2: "%M"},
    "s": {1: "%-S", 2: "%S"},
    "S": {3: "%g", 6: "%f", 9: "%n"},
    "a": {1: "%p"},
    "E": {1: "%a", 3: "%a", 4: "%A"},
    "Z": {1: "%z", 2: "%z"},
    "z": {1: "%Z", 4: "%Z"},
}


def from_iso8601_timestamp(node: exp.FromISO8601Timestamp) -> exp.Expr:
    """The instant the ISO 8601 text names, as a UTC TIMESTAMP_NS."""
    instant = exp.cast(node.this.copy(), exp.DType.TIMESTAMPTZ)
    utc = exp.Anonymous(this="timezone", expressions=[exp.Literal.string("UTC"), instant])
    return exp.cast(utc, _TIMESTAMP_NS.copy())


def joda_to_strftime(pattern: str) -> str:
    """A Joda-Time format pattern as a strftime format; ValidationError for what has no exact equivalent."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "'":  # quoted literal text; '' is a single quote
            end = pattern.find("'", i + 1)
            if end == -1:
                raise ValidationError(f"format_datetime: unterminated quote at position {i + 1} of {pattern!r}")
            out.append("'" if end == i + 1 else pattern[i + 1:end].replace("%", "%%"))
            i = end + 1
            continue
        if c.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == c:
                j += 1
            forms = _JODA.get(c)
            run = j - i
            form = None if forms is None else forms.get(run) or (forms[max(forms)] if run > max(forms) else None)
            if form is None:
                raise ValidationError(f"format_datetime: {c * run!r} in {pattern!r} is not supported; supported: "
                                      "y, M, d, D, H, h, m, s, S (3, 6 or 9), a, E, Z, z and quoted text")
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
