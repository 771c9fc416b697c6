"""Numeric and boolean functions of Trino (hence Timestream) that DuckDB lacks or names differently.

- ``nan()``: DuckDB has no such function; ``CAST('NaN' AS DOUBLE)`` is the same value.
- ``width_bucket(x, bound1, bound2, n)``: Trino's equi-width histogram bucket, which DuckDB lacks: over
  [min, max) of the bounds (0 below, n + 1 at or above), mirrored when bound1 > bound2; NULL in, NULL out;
  Trino's errors for n <= 0, a NaN operand, equal or infinite bounds. ``width_bucket(x, bins)``: the count
  of the ascending ``bins`` at or below ``x``.
- ``every(condition)``: Trino's alias of ``bool_and``.
- ``bitwise_and``, ``bitwise_or``, ``bitwise_xor``, ``bitwise_not``: a BIGINT whatever the operands' integer type
  (Trino defines them on BIGINT only; DuckDB's operators keep an INTEGER).
- ``e()``: Euler's number, which DuckDB does not name. ``infinity()``, ``is_finite(x)``,
  ``is_infinite(x)``: DuckDB's ``'Infinity'::DOUBLE``, ``isfinite``, ``isinf``.
- ``cbrt(x)``: DuckDB's is a last bit off for exact cubes (``cbrt(27.0)`` = 3.0000000000000004, Java's
  ``Math.cbrt`` gives 3.0); one Newton step on it lands on the correctly rounded root.
- ``from_base(s, radix)``: the BIGINT that ``s`` (digits 0-9a-z, an optional '-') writes in base
  ``radix`` (2..36), with Trino's errors for a bad radix or digit; DuckDB has no such function.
- ``bit_count(x, bits)``: the set bits of ``x`` in ``bits``-bit two's complement; DuckDB's takes no width.
- ``round(x, d)`` of a DOUBLE: ``x * 10^d`` rounded half away from zero, divided back (Java's, so
  ``round(1.45, 1)`` is 1.5; DuckDB rounds the exact decimal, 1.4). ``sign(x)``: of ``x``'s own type (a
  DOUBLE gives 1.0, NaN gives NaN; DuckDB's is a TINYINT). ``to_base``: lower-case digits, negatives with
  '-'. ``random(n)``, ``random(m, n)``: an integer in [0, n) or [m, n) (sqlglot reads n as a seed).
- Comparisons (``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``) of a NaN: false (``<>``: true), as Java compares
  doubles; DuckDB orders NaN above every number and equal to itself. Only for operands visibly DOUBLE.
- Division where an operand is visibly a DOUBLE: by zero ±Infinity or NaN, as Java divides (the sessions'
  integer division raises).
- ``CAST(x AS BIGINT|INTEGER|SMALLINT|TINYINT)`` (and ``TRY_CAST``): Trino rounds a DOUBLE or REAL half
  away from zero (2.5 -> 3, -2.5 -> -3) where DuckDB rounds half to even (2.5 -> 2); a VARCHAR must
  hold an integer (surrounding spaces allowed): Trino refuses '3.5' and '1e3', which DuckDB rounds or
  reads as floating point. The type is tested at run time (``typeof``), so the rewrite needs no schema
  and still runs on the replicas.
- ``CAST(text AS DOUBLE|REAL)`` (and ``TRY_CAST``): Java's ``Double.parseDouble`` reads the text: digits with
  an optional point, exponent and ``d``/``f`` suffix, or exactly ``NaN``/``Infinity`` (signed), surrounding
  spaces allowed; DuckDB also takes ``inf``, ``nan``, ``infinity`` in any case and ``1_000``, which Trino
  refuses.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

from sqlglot import exp

from services.query import sql_templates
from tessera.errors import ValidationError


def _double(node: exp.Expr) -> exp.Expr:
    return exp.cast(exp.paren(node.copy()), exp.DType.DOUBLE)


def e() -> exp.Expr:
    """Euler's number as a DOUBLE (the literal is the nearest double, as Java's Math.E)."""
    return exp.cast(exp.Literal.number("2.718281828459045"), exp.DType.DOUBLE)


def nan() -> exp.Expr:
    """Not-a-number, as a DOUBLE."""
    return exp.cast(exp.Literal.string("NaN"), exp.DType.DOUBLE)


_WIDTH_BUCKET = """
CASE
  WHEN __x IS NULL OR __b1 IS NULL OR __b2 IS NULL OR __n IS NULL THEN CAST(NULL AS BIGINT)
  WHEN __n <= 0 THEN error('width_bucket: bucketCount must be greater than 0')
  WHEN is_nan(__x) THEN error('width_bucket: operand must not be NaN')
  WHEN NOT isfinite(__b1) OR NOT isfinite(__b2) THEN error('width_bucket: first bound and second bound must be finite')
  WHEN __b1 = __b2 THEN error('width_bucket: bounds cannot equal each other')
  ELSE (CASE WHEN __b1 > __b2 THEN CAST(__n AS BIGINT) + 1 - (
              CASE WHEN __x < __b2 THEN 0 WHEN __x >= __b1 THEN CAST(__n AS BIGINT) + 1
                   ELSE CAST(floor((__x - __b2) / (__b1 - __b2) * __n) AS BIGINT) + 1 END)
            ELSE (CASE WHEN __x < __b1 THEN 0 WHEN __x >= __b2 THEN CAST(__n AS BIGINT) + 1
                   ELSE CAST(floor((__x - __b1) / (__b2 - __b1) * __n) AS BIGINT) + 1 END) END)
END
"""


# width_bucket(x, bins): how many of the (ascending) bins are at or below x.
_WIDTH_BUCKET_BINS = """
CASE WHEN __x IS NULL OR __b IS NULL THEN CAST(NULL AS BIGINT)
     WHEN list_position(__b, NULL) IS NOT NULL THEN error('Bin values cannot be NULL')
     ELSE CAST(len(list_filter(__b, lambda tessera_b: tessera_b <= __x)) AS BIGINT) END
"""


def width_bucket(node: exp.WidthBucket) -> exp.Expr:
    """Trino's ``width_bucket(x, bound1, bound2, n)``: computed over [min, max) of the bounds, then mirrored
    (n + 1 - bucket) when bound1 > bound2, as Trino's MathFunctions.widthBucket does; ``width_bucket(x,
    bins)``: the number of bins (in ascending order) at or below ``x``."""
    if node.args.get("max_value") is None and node.args.get("num_buckets") is None:
        return sql_templates.duckdb(_WIDTH_BUCKET_BINS, x=_double(node.this), b=node.args["min_value"])
    if any(node.args.get(k) is None for k in ("min_value", "max_value", "num_buckets")):
        raise ValidationError("width_bucket takes (x, bins) or (x, bound1, bound2, n)")
    return sql_templates.trino(_WIDTH_BUCKET, x=_double(node.this), b1=_double(node.args["min_value"]),
                     b2=_double(node.args["max_value"]), n=node.args["num_buckets"])


def bitwise(node: exp.Expr) -> exp.Expr:
    """``bitwise_and|or|xor|not`` as Trino's: a BIGINT (DuckDB keeps an INTEGER operand's type), written with
    parentheses around each operand (sqlglot writes bare operators, which bind differently: ``a & b * 2``,
    ``~-5``)."""
    operator = node.copy()
    for key in ("this", "expression"):
        if operator.args.get(key) is not None:
            operator.set(key, exp.paren(operator.args[key]))
    if isinstance(node, (exp.BitwiseLeftShift, exp.BitwiseRightShift)):
        return exp.paren(operator)
    return exp.cast(exp.paren(operator), exp.DType.BIGINT)


def every(argument: exp.Expr) -> exp.Expr:
    """``every(condition)`` as DuckDB's ``bool_and``."""
    return sql_templates.call("bool_and", argument.copy())


def infinity() -> exp.Expr:
    """Positive infinity, as a DOUBLE."""
    return exp.cast(exp.Literal.string("Infinity"), exp.DType.DOUBLE)


_CBRT = ("CASE WHEN __x = 0 OR NOT isfinite(__x) THEN cbrt(__x) "
         "ELSE cbrt(__x) - (cbrt(__x) * cbrt(__x) * cbrt(__x) - __x) / (3 * cbrt(__x) * cbrt(__x)) END")


def cbrt(argument: exp.Expr) -> exp.Expr:
    """The cube root as Java's Math.cbrt gives it (see the module docstring)."""
    return sql_templates.duckdb(_CBRT, x=_double(argument))


_FROM_BASE = """
CASE
  WHEN __s IS NULL OR __r IS NULL THEN CAST(NULL AS BIGINT)
  WHEN __r < 2 OR __r > 36 THEN error('Radix must be between 2 and 36')
  WHEN NOT regexp_full_match(lower(__s), '-?[0-9a-z]+')
    OR list_bool_or(list_transform(string_split(ltrim(lower(__s), '-'), ''),
                                   lambda c: strpos('0123456789abcdefghijklmnopqrstuvwxyz', c) > __r))
    THEN error('Not a valid base-' || __r || ' number: ' || __s)
  ELSE (CASE WHEN starts_with(__s, '-') THEN -1 ELSE 1 END) * list_reduce(
    list_transform(string_split(ltrim(lower(__s), '-'), ''),
                   lambda c: CAST(strpos('0123456789abcdefghijklmnopqrstuvwxyz', c) - 1 AS BIGINT)),
    lambda acc, d: acc * __r + d, CAST(0 AS BIGINT))
END
"""


def from_base(text: exp.Expr, radix: exp.Expr) -> exp.Expr:
    """``from_base(s, radix)`` (see the module docstring)."""
    return sql_templates.duckdb(_FROM_BASE, s=text, r=exp.cast(radix, exp.DType.BIGINT))


_INTEGER_TYPES = (exp.DType.BIGINT, exp.DType.INT, exp.DType.SMALLINT, exp.DType.TINYINT)
_CAST_TO_INTEGER = """
CASE
  WHEN __x IS NULL THEN CAST(NULL AS {t})
  WHEN typeof(__x) IN ('DOUBLE', 'FLOAT') THEN {cast}(round(TRY_CAST(__x AS DOUBLE)) AS {t})
  WHEN typeof(__x) = 'VARCHAR' THEN (
    CASE WHEN regexp_full_match(trim(CAST(__x AS VARCHAR)), '[+-]?[0-9]+')
      THEN {cast}(trim(CAST(__x AS VARCHAR)) AS {t})
      ELSE {invalid} END)
  ELSE {cast}(__x AS {t})
END
"""


def casts_to_integer(node: exp.Expr) -> bool:
    """Whether ``node`` is a CAST or TRY_CAST to an integer type of something that may not already be an
    integer (an integer literal or an integer cast needs no rewrite)."""
    if not isinstance(node, exp.Cast) or node.to.this not in _INTEGER_TYPES:
        return False
    inner = node.this.unnest()
    return not (statically_integer(inner) or (isinstance(inner, exp.Cast) and inner.to.this == exp.DType.BOOLEAN))


def cast_to_integer(node: exp.Cast) -> exp.Expr:
    """``CAST``/``TRY_CAST`` to an integer type with Trino's rounding and text rules (module docstring)."""
    target = node.to.sql("duckdb")
    if isinstance(node, exp.TryCast):
        cast, invalid = "TRY_CAST", f"CAST(NULL AS {target})"
    else:
        quote = "''''"  # a quote character inside the SQL string literal
        cast, invalid = "CAST", f"error('Cannot cast ' || {quote} || CAST(__x AS VARCHAR) || {quote} || ' to {target}')"
    return sql_templates.duckdb(_CAST_TO_INTEGER.format(t=target, cast=cast, invalid=invalid), x=node.this)


_BIT_COUNT = """
CASE
  WHEN __x IS NULL OR __b IS NULL THEN CAST(NULL AS BIGINT)
  WHEN __b < 2 OR __b > 64 THEN error('Bits specified in bit_count must be between 2 and 64, got ' || __b)
  WHEN CAST(__x AS HUGEINT) < -(CAST(1 AS HUGEINT) << (__b - 1))
    OR CAST(__x AS HUGEINT) >= (CAST(1 AS HUGEINT) << (__b - 1))
    THEN error('Number must be representable with the bits specified. ' || __x || ' cannot be represented with '
               || __b || ' bits')
  WHEN __b = 64 THEN CAST(bit_count(CAST(__x AS BIGINT)) AS BIGINT)
  ELSE CAST(bit_count(CAST(__x AS BIGINT) & ((CAST(1 AS BIGINT) << __b) - 1)) AS BIGINT)
END
"""


def bit_count(value: exp.Expr, bits: exp.Expr) -> exp.Expr:
    """Trino's ``bit_count(x, bits)``: the set bits of ``x`` written in ``bits``-bit two's complement
    (DuckDB's one-argument ``bit_count`` counts all 64), with Trino's errors for bits outside 2..64 and a
    value that does not fit."""
    return sql_templates.duckdb(_BIT_COUNT, x=value, b=exp.cast(bits, exp.DType.BIGINT))


def round_half_up(node: exp.Round) -> exp.Expr | None:
    """``round(x, d)`` as Trino rounds a DOUBLE: ``x * 10^d`` rounded half away from zero, divided back
    (DuckDB rounds the exact decimal value of ``x``, so ``round(1.45, 1)`` is 1.4 there and 1.5 in Trino).
    The scale is a HUGEINT, so under the sessions' integer division an integer ``x`` of unknown type keeps
    its value (and is answered as a BIGINT) without overflowing; None (DuckDB's round) for a visibly integer
    ``x``, without digits, or with negative ones, where both agree."""
    digits = node.args.get("decimals")
    if digits is None or statically_integer(node.this):
        return None
    if isinstance(digits, exp.Literal) and not digits.is_string and digits.name.isdigit():
        if int(digits.name) > _MAX_ROUND_DIGITS:
            return None
        scale = exp.cast(exp.Literal.number(10 ** int(digits.name)), exp.DType.INT128)
        return sql_templates.duckdb("round(__x * __p) / __p", x=node.this, p=scale)
    return sql_templates.duckdb(
        f"CASE WHEN __d BETWEEN 0 AND {_MAX_ROUND_DIGITS} THEN round(__x * CAST(pow(10, __d) AS HUGEINT)) / "
        "CAST(pow(10, __d) AS HUGEINT) ELSE round(__x, __d) END", x=node.this, d=digits)


def integer_ceil_floor(node: exp.Ceil | exp.Floor) -> exp.Expr | None:
    """``ceil(x)``/``floor(x)`` of a visibly integer ``x`` is ``x`` itself, of its own type, as in Trino
    (DuckDB answers a DOUBLE); None otherwise (and with a digits argument)."""
    argument: exp.Expr = node.this
    return argument if node.args.get("decimals") is None and statically_integer(argument) else None


_MAX_ROUND_DIGITS = 18  # 10^18 is the largest power of ten a BIGINT holds

# sign(x) of x's own type (DuckDB's is a TINYINT even for a DOUBLE): each constant is x clamped, so every
# branch has x's type; NaN and -0.0 come back as they are, as Java's Math.signum gives them.
_SIGN = ("CASE WHEN isnan(__x) THEN __x WHEN __x > 0 THEN greatest(least(__x, 1), 1) WHEN __x < 0 THEN least(greatest(__x, -1), -1) "
         "ELSE __x END")


def sign(argument: exp.Expr) -> exp.Expr:
    """``sign(x)`` with x's type: 1.0 for a positive DOUBLE (DuckDB: the TINYINT 1), NaN for NaN."""
    return sql_templates.duckdb(_SIGN, x=argument)


def to_base(value: exp.Expr, radix: exp.Expr) -> exp.Expr:
    """``to_base(x, radix)`` as Trino writes it: lower-case digits and a '-' for a negative ``x`` (DuckDB
    writes upper case and refuses negatives)."""
    return sql_templates.duckdb(
        "CASE WHEN __r < 2 OR __r > 36 THEN error('Radix must be between 2 and 36') "
        "WHEN __x < 0 THEN '-' || lower(to_base(-__x, __r)) ELSE lower(to_base(__x, __r)) END",
        x=exp.cast(value, exp.DType.BIGINT), r=exp.cast(radix, exp.DType.INT))


def random_below(node: exp.Rand) -> exp.Expr | None:
    """Trino's ``random(n)`` (an integer in [0, n)) and ``random(m, n)`` (in [m, n)); sqlglot reads the
    argument as a seed, which DuckDB's ``random()`` does not take. None for ``random()``."""
    low, high = (None, node.this) if node.args.get("lower") is None else (node.this, node.args["lower"])
    if high is None:
        return None
    if low is None:
        return sql_templates.duckdb(
            "CASE WHEN __n <= 0 THEN error('bound must be positive') "
            "ELSE CAST(floor(random() * __n) AS BIGINT) END", n=exp.cast(high, exp.DType.BIGINT))
    return sql_templates.duckdb(
        "CASE WHEN __m >= __n THEN error('start value must be less than stop value') "
        "ELSE __m + CAST(floor(random() * (__n - __m)) AS BIGINT) END",
        m=exp.cast(low, exp.DType.BIGINT), n=exp.cast(high, exp.DType.BIGINT))


_FLOATING_FUNCTIONS = (exp.Avg, exp.Stddev, exp.StddevPop, exp.StddevSamp, exp.Variance, exp.VariancePop,
                       exp.Corr, exp.CovarPop, exp.CovarSamp, exp.Exp, exp.Ln, exp.Log, exp.Sqrt, exp.Cbrt,
                       exp.Pow, exp.Rand)
_FLOATING_TYPES = (exp.DType.DOUBLE, exp.DType.FLOAT)


_INTEGER_FUNCTIONS = (exp.Count, exp.CountIf, exp.ApproxDistinct, exp.Length, exp.ArraySize)


def statically_integer(node: exp.Expr) -> bool:
    """Whether an expression is visibly an integer (an integer literal, a cast to an integer type, a count,
    ``measure_value::bigint``)."""
    node = node.unnest()
    if isinstance(node, exp.Column):
        return node.name == "measure_value::bigint"
    if isinstance(node, exp.Literal):
        return not node.is_string and node.name.isdigit()
    if isinstance(node, exp.Neg):
        return statically_integer(node.this)
    if isinstance(node, exp.Cast):
        return node.to.this in _INTEGER_TYPES
    return isinstance(node, _INTEGER_FUNCTIONS)


FLOATING_COLUMNS: ContextVar[frozenset[str]] = ContextVar("tessera_floating_columns", default=frozenset())
"""Columns known to be DOUBLE in every table of the query being translated (``translate``'s argument)."""


def statically_floating(node: exp.Expr) -> bool:
    """Whether an expression is visibly a DOUBLE (a literal with a point, a cast to DOUBLE or REAL,
    ``measure_value::double`` or a column the routes say is DOUBLE, a function that returns one, arithmetic
    over one); False when unknown."""
    node = node.unnest()
    if isinstance(node, exp.Cast):
        return node.to.this in _FLOATING_TYPES
    if isinstance(node, exp.Column):
        return node.name == "measure_value::double" or node.name in FLOATING_COLUMNS.get()
    if isinstance(node, _FLOATING_FUNCTIONS):
        return True
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)):
        return statically_floating(node.this) or statically_floating(node.expression)
    if isinstance(node, exp.Neg):
        return statically_floating(node.this)
    if isinstance(node, exp.Case):  # a DOUBLE branch makes the whole a DOUBLE (e.g. a rewritten division)
        branches = [branch.args.get("true") for branch in node.args.get("ifs") or ()] + [node.args.get("default")]
        return any(b is not None and statically_floating(b) for b in branches)
    return False


_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def _may_be_nan(node: exp.Expr) -> bool:
    """Visibly a DOUBLE and not a number written in the query, a stored column nor an aggregate (Timestream
    stores no NaN, so ``avg(cpu) > 1`` stays as written)."""
    inner = node.unnest()
    while isinstance(inner, (exp.Cast, exp.Neg)):
        inner = inner.this.unnest()
    if isinstance(inner, exp.Literal) and not inner.is_string or isinstance(node.unnest(), (exp.Column, exp.AggFunc)):
        return False
    return statically_floating(node)


def ieee_compare(node: exp.Expr) -> exp.Expr | None:
    """A comparison with a NaN operand as Trino's (Java's) operators answer it: false, and true for ``<>``
    (DuckDB orders NaN above every number and equal to itself: ``nan() = nan()`` and ``nan() > 1`` were
    true). Only operands visibly DOUBLE (``nan()``, ``0.0 / 0``, ``sqrt(x)``…) are tested; None otherwise."""
    if not isinstance(node, _COMPARISONS):
        return None
    left, right = node.this, node.expression
    # Only the side DuckDB's order gets wrong: a NaN left of '>' (right of '<') compares as the largest.
    sides = {exp.GT: [left], exp.GTE: [left], exp.LT: [right], exp.LTE: [right]}.get(type(node), [left, right])
    tested = [side for side in sides if _may_be_nan(side)]
    if not tested:
        return None
    nan_test = exp.or_(*(sql_templates.call("isnan", side.copy()) for side in tested))
    return sql_templates.duckdb(
        "CASE WHEN __a IS NULL OR __b IS NULL THEN CAST(NULL AS BOOLEAN) WHEN __t THEN __v ELSE __c END",
        a=left, b=right, t=nan_test, v=exp.true() if isinstance(node, exp.NEQ) else exp.false(), c=node)


_IEEE_DIVIDE = """
CASE WHEN __a IS NULL OR __b IS NULL THEN CAST(NULL AS DOUBLE)
WHEN __b = 0 THEN (
  CASE WHEN isnan(__a) OR __a = 0 THEN CAST('NaN' AS DOUBLE)
       WHEN (__a > 0) <> signbit(CAST(__b AS DOUBLE)) THEN CAST('Infinity' AS DOUBLE)
       ELSE CAST('-Infinity' AS DOUBLE) END)
ELSE __a / __b END
"""


def ieee_divide(node: exp.Div) -> exp.Expr | None:
    """A division whose operand is visibly a DOUBLE: by zero it gives ±Infinity or NaN, as in Trino (the
    sessions' integer division raises instead); None for a non-zero literal divisor (``x / 1000.0``), which
    never divides by zero. A division of unknown operand types keeps raising on zero for a DOUBLE too: an
    error, never a wrong answer."""
    divisor = node.expression.unnest()
    if isinstance(divisor, exp.Cast):
        divisor = divisor.this.unnest()
    if isinstance(divisor, exp.Literal) and not divisor.is_string and float(divisor.name) != 0:
        return None
    return sql_templates.duckdb(_IEEE_DIVIDE, a=node.this, b=node.expression)


_CAST_TO_BOOLEAN = """
CASE WHEN typeof(__x) = 'VARCHAR' THEN (
  CASE lower(CAST(__x AS VARCHAR)) WHEN 't' THEN true WHEN '1' THEN true WHEN 'true' THEN true
       WHEN 'f' THEN false WHEN '0' THEN false WHEN 'false' THEN false ELSE {invalid} END)
  ELSE {cast}(__x AS BOOLEAN) END
"""


def cast_to_boolean(node: exp.Cast) -> exp.Expr | None:
    """``CAST``/``TRY_CAST`` of text to BOOLEAN as Trino reads it: only 'true', 'false', 't', 'f', '1' and '0'
    (any case, no spaces); DuckDB also takes 'yes', 'no', 'y', 'n', 'on', 'off'. None for a value visibly not
    text (a number, a comparison)."""
    inner = node.this.unnest()
    if node.to.this != exp.DType.BOOLEAN or statically_integer(inner) or statically_floating(inner) or isinstance(
            inner, (exp.Predicate, exp.Boolean, exp.Not, exp.And, exp.Or, exp.Null)):
        return None
    if isinstance(node, exp.TryCast):
        cast, invalid = "TRY_CAST", "CAST(NULL AS BOOLEAN)"
    else:
        cast, invalid = "CAST", "error('Cannot cast ''' || CAST(__x AS VARCHAR) || ''' to BOOLEAN')"
    return sql_templates.duckdb(_CAST_TO_BOOLEAN.format(cast=cast, invalid=invalid), x=node.this)


_JAVA_DOUBLE = r"[+-]?(NaN|Infinity|([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?[fFdD]?)"
_JAVA_SPACE = "".join(chr(c) for c in range(0x21))  # String.trim's: every character up to ' '
_FLOATING_TARGETS = (exp.DType.DOUBLE, exp.DType.FLOAT)
# The text without String.trim's characters (every one up to ' ') around it.
_TRIMMED = r"regexp_replace(CAST(__x AS VARCHAR), '^[\x00-\x20]+|[\x00-\x20]+$', '', 'g')"
_CAST_TO_DOUBLE = f"""
CASE WHEN typeof(__x) = 'VARCHAR' THEN (
  CASE WHEN regexp_full_match({_TRIMMED}, '{{pattern}}')
       THEN {{cast}}(rtrim({_TRIMMED}, 'fFdD') AS {{t}}) ELSE {{invalid}} END)
  ELSE {{cast}}(__x AS {{t}}) END
"""


def cast_to_double(node: exp.Cast) -> exp.Expr | None:
    """``CAST``/``TRY_CAST`` of text to DOUBLE or REAL as Java reads it (module docstring): a string literal is
    checked here, other text when the query runs; None for a value visibly not text (a number, a cast to
    another type) and for a literal DuckDB reads the same."""
    inner = node.this.unnest()
    if node.to.this not in _FLOATING_TARGETS or node.to.expressions:
        return None
    if isinstance(inner, exp.Literal) and inner.is_string:
        text = inner.name.strip(_JAVA_SPACE)
        if re.fullmatch(_JAVA_DOUBLE, text):
            stripped = text.rstrip("fFdD")
            return None if stripped == inner.name else node.__class__(this=exp.Literal.string(stripped),
                                                                       to=node.to.copy())
        # When the query runs (inside try() it is NULL, as in Trino).
        failed = exp.null() if isinstance(node, exp.TryCast) else sql_templates.call(
            "error", exp.Literal.string(f"Cannot cast '{inner.name}' to {node.to.sql('trino').upper()}"))
        return exp.cast(failed, node.to.copy())
    if isinstance(inner, (exp.Literal, exp.Boolean, exp.Null, exp.Predicate, exp.Not, exp.And, exp.Or)) \
            or statically_integer(inner) or statically_floating(inner) \
            or (isinstance(inner, exp.Cast) and inner.to.this not in (exp.DType.VARCHAR, exp.DType.TEXT)):
        return None
    target = node.to.sql("duckdb")
    quote = "''''"  # a quote character inside the SQL string literal
    if isinstance(node, exp.TryCast):
        cast, invalid = "TRY_CAST", f"CAST(NULL AS {target})"
    else:
        cast, invalid = "CAST", f"error('Cannot cast ' || {quote} || CAST(__x AS VARCHAR) || {quote} || ' to {target}')"
    checked = sql_templates.duckdb(_CAST_TO_DOUBLE.format(pattern=_JAVA_DOUBLE, cast=cast, t=target, invalid=invalid),
                                   x=node.this)
    return exp.cast(checked, node.to.copy())  # still visibly a DOUBLE to the rules above it
