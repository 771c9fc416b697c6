"""The Timestream SQL dialect for sqlglot: Trino plus duration literals and ``measure_value::<type>``.

Timestream accepts two lexical forms that Trino does not (see shared/reference/timestream.md §5):

- duration literals ``<integer><unit>`` written without a space (``15s``, ``5m``, ``2d``, ``12second``, and the
  year-to-month ``1year``, ``1y``, ``8month``),
  which this tokenizer rewrites into the tokens of ``INTERVAL '<n>' <UNIT>``;
- typed measure columns ``measure_value::double`` (no spaces), which become one quoted identifier named
  exactly ``measure_value::double``, so they are never parsed as a cast.

Both rewrites run on the token stream after sqlglot's tokenizer, so string literals (``'15s'``) and quoted
identifiers (``"5m"``) are already single tokens and are left alone. Tokens merge only when adjacent in the
source text (``5 m`` is the number 5 aliased ``m``).
"""

from __future__ import annotations

from sqlglot.dialects.trino import Trino
from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import Token, TokenType

# Timestream unit word -> (DuckDB interval unit, factor applied to the number). DuckDB intervals have
# microsecond precision and read ``INTERVAL '5' NANOSECOND`` as five *seconds*, so nanoseconds become
# microseconds and must be a whole number of them.
DURATION_UNITS: dict[str, tuple[str, int]] = {
    "nanosecond": ("MICROSECOND", 1_000),
    "ns": ("MICROSECOND", 1_000),
    "microsecond": ("MICROSECOND", 1),
    "us": ("MICROSECOND", 1),
    "millisecond": ("MILLISECOND", 1),
    "ms": ("MILLISECOND", 1),
    "second": ("SECOND", 1),
    "s": ("SECOND", 1),
    "minute": ("MINUTE", 1),
    "m": ("MINUTE", 1),
    "hour": ("HOUR", 1),
    "h": ("HOUR", 1),
    "day": ("DAY", 1),
    "d": ("DAY", 1),
    # Year-to-month literals (``1year`` is ``1-0``, ``8month`` is ``0-8``, per Timestream's guide); there is
    # no short form for months (``m`` is minutes) nor a week or quarter literal.
    "year": ("YEAR", 1),
    "y": ("YEAR", 1),
    "month": ("MONTH", 1),
}

MEASURE_VALUE_TYPES = ("double", "bigint", "varchar", "boolean", "timestamp")
_MEASURE_VALUE = "measure_value"
_UNMERGEABLE = (TokenType.STRING, TokenType.IDENTIFIER)


def _adjacent(left: Token, right: Token) -> bool:
    return right.start == left.end + 1


def _duration_tokens(number: Token, unit: Token) -> list[Token] | None:
    """The tokens of ``INTERVAL '<n>' <UNIT>`` for ``<number><unit>``, or None if it is not a duration."""
    spec = DURATION_UNITS.get(unit.text.lower())
    if spec is None or unit.token_type in _UNMERGEABLE or not number.text.isdigit():
        return None
    duckdb_unit, divisor = spec
    value = int(number.text)
    if value % divisor:
        raise TokenError(
            f"duration {number.text}{unit.text} at line {number.line}, col {number.col}: Tessera intervals "
            f"have microsecond precision, so a nanosecond duration must be a multiple of 1000"
        )
    line, col, start, end = unit.line, unit.col, number.start, unit.end
    return [
        Token(TokenType.INTERVAL, "INTERVAL", line, col, start, end, number.comments),
        Token(TokenType.STRING, str(value // divisor), line, col, start, end),
        Token(TokenType.VAR, duckdb_unit, line, col, start, end),
    ]


def _measure_value_token(tokens: list[Token], i: int) -> Token | None:
    """One identifier token for ``measure_value::<type>`` starting at ``tokens[i]``, if it is one."""
    if i + 2 >= len(tokens):
        return None
    name, colons, kind = tokens[i], tokens[i + 1], tokens[i + 2]
    if (
        name.token_type in _UNMERGEABLE
        or name.text.lower() != _MEASURE_VALUE
        or colons.token_type != TokenType.DCOLON
        or kind.token_type in _UNMERGEABLE
        or kind.text.lower() not in MEASURE_VALUE_TYPES
        or not (_adjacent(name, colons) and _adjacent(colons, kind))
    ):
        return None
    text = f"{_MEASURE_VALUE}::{kind.text.lower()}"
    return Token(TokenType.IDENTIFIER, text, kind.line, kind.col, name.start, kind.end, name.comments)


def merge_timestream_tokens(tokens: list[Token]) -> list[Token]:
    """Rewrite duration literals and ``measure_value::<type>`` in a Trino token stream."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        measure = _measure_value_token(tokens, i)
        if measure is not None:
            out.append(measure)
            i += 3
            continue
        if token.token_type == TokenType.NUMBER and i + 1 < len(tokens) and _adjacent(token, tokens[i + 1]):
            duration = _duration_tokens(token, tokens[i + 1])
            if duration is not None:
                out.extend(duration)
                i += 2
                continue
        out.append(token)
        i += 1
    return out


class Timestream(Trino):
    """Amazon Timestream's SQL: Trino's grammar with Timestream's lexical extensions."""

    class Tokenizer(Trino.Tokenizer):
        def tokenize(self, sql: str) -> list[Token]:
            """Trino's tokens with durations and typed measure columns merged."""
            return merge_timestream_tokens(super().tokenize(sql))
