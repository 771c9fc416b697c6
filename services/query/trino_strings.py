"""String functions whose DuckDB namesakes answer differently from Trino (hence Timestream): each rewrite
gives Trino's answer or an error, never DuckDB's.

- ``regexp_extract(s, pattern[, group])``: Trino returns NULL when the pattern does not match; DuckDB
  returns ''.
- ``split_part(s, delimiter, index)``: Trino returns NULL for an index past the last field and refuses an
  index below 1; DuckDB returns '' past the end and counts a negative index from the end.
- ``regexp_replace(s, pattern, replacement)``: Trino's replacement is Java's (``$1`` is group 1, ``\\$`` a
  dollar sign); DuckDB's is RE2's (``\\1``), where ``$1`` stays literal. A literal replacement is
  translated; a column is refused rather than applied with the other syntax. With a lambda
  (``x -> upper(x[1])``) each match is replaced by its answer over the match's groups.
- ``split(s, delimiter, limit)``: at most ``limit`` fields, the last holding the rest (sqlglot drops the
  limit when it writes DuckDB's ``string_split``).
- ``strpos(s, substring, instance)``: the position of the ``instance``-th occurrence (they may overlap),
  0 when there are fewer (sqlglot drops the instance).
- ``hamming_distance(a, b)``, ``normalize(s)``: DuckDB's ``hamming`` and ``nfc_normalize`` (NFC only).
- ``trim(s)``, ``ltrim(s)``, ``rtrim(s)``: strip Java's whitespace (tabs, newlines, ...), not only spaces.
- ``substr(s, start[, length])``: '' for a start of 0 or before the string, and for a length of 0 or less.
- ``a || b`` and ``concat(a, b, …)``: Trino joins only text (or arrays), with no implicit cast: a number,
  boolean, date, time or interval operand is its error (DuckDB casts it to text and joins).
- ``upper(s)``: each character by Java's ``Character.toUpperCase``, which keeps 'ß' (it has no one-character
  upper case); DuckDB writes 'ẞ'. Every other character maps the same in both.
- ``format(pattern, args…)``: Java's ``String.format`` as DuckDB's ``printf`` (a supported subset, else refused).
- ``concat_ws(sep, array)``: the array joined; ``replace(s, '', r)``: ``r`` around every character;
  ``lpad``/``rpad`` refuse a negative length; ``split`` refuses an empty delimiter; ``regexp_replace`` refuses
  a literal pattern matching both '' and longer text (Trino also replaces the empty match after each match).
"""

from __future__ import annotations

import re
import re._constants as re_constants
import re._parser as re_parser

from sqlglot import exp

from services.query import sql_templates, trino_numbers, trino_text, trino_timeseries
from tessera.errors import ValidationError


def _fail(message: str) -> exp.Expr:
    """DuckDB's ``error(message)``: raises when evaluated (a row that reaches it), never returns."""
    return sql_templates.call("error", exp.Literal.string(message))


def _optional_groups(pattern: str) -> tuple[int, set[int]] | None:
    """(number of groups, groups that may not take part in a match: inside an optional repeat or one arm
    of an alternation) of a regex, or None if Python's parser cannot read it."""
    try:
        parsed = re_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    optional: set[int] = set()

    def walk(items: object, maybe: bool) -> None:
        for op, av in items:  # type: ignore[attr-defined]
            if op is re_constants.SUBPATTERN:
                group, _, _, sub = av
                if maybe and group:
                    optional.add(group)
                walk(sub, maybe)
            elif op in (re_constants.MAX_REPEAT, re_constants.MIN_REPEAT, re_constants.POSSESSIVE_REPEAT):
                low, _, sub = av
                walk(sub, maybe or low == 0)
            elif op is re_constants.BRANCH:
                for arm in av[1]:
                    walk(arm, True)
            elif op in (re_constants.ASSERT, re_constants.ASSERT_NOT):
                walk(av[1], True)
            elif op is re_constants.ATOMIC_GROUP:
                walk(av, maybe)

    walk(parsed, False)
    return parsed.state.groups - 1, optional


def regexp_extract(node: exp.RegexpExtract) -> exp.Expr:
    """NULL where the pattern does not match, the match (or group) otherwise. With a literal pattern, a group
    beyond its groups is Trino's error, and a group that may not take part in a match (Trino: NULL, DuckDB:
    '') is refused rather than answered as ''."""
    group = node.args.get("group")
    pattern = node.expression
    if group is not None and isinstance(pattern, exp.Literal) and pattern.is_string \
            and isinstance(group, exp.Literal) and not group.is_string:
        found = _optional_groups(pattern.name)
        wanted = int(group.name)
        if found is not None:
            count, optional = found
            if wanted > count:
                raise ValidationError(f"regexp_extract: pattern has {count} groups. Cannot access group {wanted}")
            if wanted in optional:
                raise ValidationError(f"regexp_extract: group {wanted} of {pattern.name!r} may not take part in a "
                                      "match (it is optional or in one arm of an alternation), where Timestream "
                                      "answers NULL and Tessera cannot tell that from an empty match yet")
    matches = exp.RegexpLike(this=node.this.copy(), expression=node.expression.copy())
    return exp.Case(ifs=[exp.If(this=matches, true=node.copy())], default=exp.null())


def split_part(node: exp.SplitPart) -> exp.Expr:
    """NULL past the last field; an error for an index below 1."""
    text, delimiter, index = (node.args[k] for k in ("this", "delimiter", "part_index"))
    fields = sql_templates.call("len", sql_templates.call("string_split", text.copy(), delimiter.copy()))
    return exp.Case(ifs=[
        exp.If(this=exp.LT(this=index.copy(), expression=exp.Literal.number(1)),
               true=_fail("split_part: the index must be greater than zero")),
        exp.If(this=exp.GT(this=index.copy(), expression=fields), true=exp.null()),
    ], default=node.copy())


def java_replacement_to_re2(text: str) -> str:
    """A Java regex replacement string (``$n`` groups, ``\\`` escapes) as an RE2 rewrite string (``\\n``)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 == len(text):
                raise ValidationError("regexp_replace: the replacement ends with a lone backslash")
            escaped = text[i + 1]
            out.append("\\\\" if escaped == "\\" else escaped)
            i += 2
        elif c == "$":
            j = i + 1
            while j < len(text) and text[j].isdigit():
                j += 1
            if j == i + 1:
                raise ValidationError(f"regexp_replace: '$' at position {i + 1} of the replacement must be followed "
                                      "by a group number (write \\$ for a dollar sign; named groups are not supported)")
            group = int(text[i + 1:j])
            if group > 9:
                raise ValidationError(f"regexp_replace: group ${group} is beyond the 9 groups Tessera can refer to")
            out.append(f"\\{group}")
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _empty_and_longer(pattern: str) -> bool:
    """Whether a regex can match both the empty string and a longer one (``a*``, ``\\s*``, ``x?``); False
    when Python's parser cannot read it."""
    try:
        low, high = re_parser.parse(pattern).getwidth()
    except (re.error, RecursionError, OverflowError):
        return False
    return bool(low == 0 and high > 0)


def regexp_replace(node: exp.RegexpReplace) -> exp.Expr | None:
    """The replacement in RE2's syntax, or each match replaced by a lambda's answer; None (unchanged) when
    there is no replacement argument."""
    replacement = node.args.get("replacement")
    if replacement is None:
        return None
    if isinstance(replacement, exp.Lambda):
        return _replace_by_function(node.this, node.expression, replacement)
    if not (isinstance(replacement, exp.Literal) and replacement.is_string):
        raise ValidationError("regexp_replace: the replacement must be a string literal or a lambda (a column is "
                              "not supported)")
    pattern = node.expression
    if replacement.name and isinstance(pattern, exp.Literal) and pattern.is_string and _empty_and_longer(pattern.name):
        raise ValidationError(f"regexp_replace: the pattern {pattern.name!r} matches both the empty string and "
                              "longer text; Trino then also replaces the empty match right after each longer one "
                              "('aaa' with 'a*' -> 'xx'), which Tessera cannot do yet")
    converted = java_replacement_to_re2(replacement.name)
    if converted == replacement.name:
        return None
    new = node.copy()
    new.set("replacement", exp.Literal.string(converted))
    return new


# Between-match parts (n + 1 of them for n matches) joined with the function's answer for each match; a NULL
# answer makes the result NULL (list_reduce's ||), as in Trino.
_REPLACE_EACH = """
list_reduce(list_transform(range(1, len(string_split_regex(__s, __p)) + 1), lambda tessera_i:
  CASE WHEN tessera_i < len(string_split_regex(__s, __p)) THEN string_split_regex(__s, __p)[tessera_i] || __answer
       ELSE string_split_regex(__s, __p)[tessera_i] END), lambda tessera_a, tessera_b: tessera_a || tessera_b)
"""


def _replace_by_function(text: exp.Expr, pattern: exp.Expr, function: exp.Lambda) -> exp.Expr:
    """``regexp_replace(s, pattern, x -> …)``: every match replaced by the function of its groups (``x[1]`` is
    group 1). The pattern must be a literal that cannot match the empty string and whose groups all take
    part in every match (Trino passes NULL for a group that did not, which Tessera cannot tell from '')."""
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise ValidationError("regexp_replace with a lambda needs a string literal pattern")
    found = _optional_groups(pattern.name)
    if found is None or found[1]:
        raise ValidationError(f"regexp_replace with a lambda: the pattern {pattern.name!r} has groups that may not take "
                              "part in a match (optional, or in one arm of an alternation), or cannot be read; "
                              "Tessera supports a lambda only over patterns whose groups always match")
    if re_parser.parse(pattern.name).getwidth()[0] == 0:
        raise ValidationError(f"regexp_replace with a lambda: the pattern {pattern.name!r} can match the empty "
                              "string, which Tessera does not support with a lambda")
    prefix = sql_templates.local_prefix(text, pattern, function)
    match = exp.Bracket(this=sql_templates.call("regexp_extract_all", text.copy(), pattern.copy()),
                        expressions=[exp.column(f"{prefix}i")], offset=1)
    groups = exp.Array(expressions=[sql_templates.call("regexp_extract", match.copy(), pattern.copy(),
                                                       exp.Literal.number(k)) for k in range(1, found[0] + 1)])
    answer = sql_templates.call("list_extract", sql_templates.call("list_transform", exp.Array(expressions=[groups]),
                                                                   function.copy()), exp.Literal.number(1))
    return sql_templates.duckdb(_REPLACE_EACH, prefix, s=text, p=pattern, answer=answer)


_SPLIT_LIMIT = """
CASE
  WHEN __n <= 0 THEN error('Limit must be positive')
  WHEN len(string_split(__s, __d)) <= __n THEN string_split(__s, __d)
  ELSE list_append(list_slice(string_split(__s, __d), 1, __n - 1),
                   array_to_string(list_slice(string_split(__s, __d), __n, len(string_split(__s, __d))), __d))
END
"""


def split(node: exp.Split) -> exp.Expr | None:
    """``split(s, delimiter, limit)`` as Trino splits, and Trino's error for an empty delimiter (DuckDB splits
    into characters); None without a limit and with a non-empty literal delimiter (DuckDB's answer is
    Trino's)."""
    limit, delimiter = node.args.get("limit"), node.expression
    split_sql = "string_split(__s, __d)" if limit is None else _SPLIT_LIMIT
    if isinstance(delimiter, exp.Literal) and delimiter.is_string and delimiter.name:
        return None if limit is None else sql_templates.duckdb(split_sql, s=node.this, d=delimiter, n=limit)
    return sql_templates.duckdb(f"CASE WHEN __d = '' THEN error('The delimiter may not be the empty string') "
                                f"ELSE {split_sql} END", s=node.this, d=delimiter, n=limit or exp.null())


_NTH_POSITION = """
CASE
  WHEN __s IS NULL OR __t IS NULL OR __n IS NULL THEN NULL
  WHEN __n <= 0 THEN error('''instance'' must be a positive number')
  ELSE greatest(list_reduce(range(__n), lambda p, i: CASE WHEN p < 0 THEN p
                                                         WHEN strpos(substr(__s, p + 1), __t) = 0 THEN -1
                                                         ELSE p + strpos(substr(__s, p + 1), __t) END,
                            CAST(0 AS BIGINT)), 0)
END
"""


def strpos(node: exp.StrPosition) -> exp.Expr | None:
    """``strpos(s, substring, instance)`` as Trino counts; None without an instance (or with a start
    position, which only other dialects have)."""
    instance = node.args.get("occurrence")
    if instance is None or node.args.get("position") is not None:
        return None
    return sql_templates.duckdb(_NTH_POSITION, s=node.this, t=node.args["substr"], n=instance)


_LAST_POSITION = """
CASE
  WHEN __s IS NULL OR __t IS NULL OR __n IS NULL THEN NULL
  WHEN __n <= 0 THEN error('''instance'' must be a positive number')
  WHEN __t = '' THEN 1
  WHEN __p = 0 THEN 0
  ELSE length(__s) - __p - length(__t) + 2
END
"""


def strrpos(args: list[exp.Expr]) -> exp.Expr:
    """``strrpos(s, substring[, instance])`` (Timestream's guide; Presto's ``stringPositionFromEnd``): the
    position of the instance-th occurrence counted from the end (overlapping ones count, as Presto steps back
    one character), 0 when there is none, 1 for an empty substring, NULL for a NULL argument; an instance
    below 1 is an error. Found as the instance-th position in both strings reversed, mapped back."""
    text, sub = args[0], args[1]
    instance = args[2] if len(args) > 2 else exp.Literal.number(1)
    reversed_position = sql_templates.duckdb(_NTH_POSITION, s=sql_templates.call("reverse", text.copy()),
                                             t=sql_templates.call("reverse", sub.copy()),
                                             n=exp.Anonymous(this="greatest", expressions=[instance.copy(),
                                                                                          exp.Literal.number(1)]))
    return sql_templates.duckdb(_LAST_POSITION, s=text, t=sub, n=instance, p=reversed_position)


# Java's Character.isWhitespace, which Trino's trim functions strip (DuckDB's strip only spaces).
WHITESPACE = "".join(chr(c) for c in (*range(0x09, 0x0E), *range(0x1C, 0x21), 0x1680, *range(0x2000, 0x2007),
                                      *range(0x2008, 0x200B), 0x2028, 0x2029, 0x205F, 0x3000))


def trim(node: exp.Trim) -> exp.Expr | None:
    """``trim``/``ltrim``/``rtrim`` of whitespace as Trino strips it; None when characters are given."""
    if node.args.get("expression") is not None:
        return None
    position = (node.text("position") or "BOTH").upper()
    name = {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(position, "trim")
    return sql_templates.call(name, node.this.copy(), exp.Literal.string(WHITESPACE))


def substr(node: exp.Substring) -> exp.Expr:
    """``substr(s, start[, length])`` with Trino's empty results: a start of 0 or before the first character
    (counted from the end), a length of 0 or less. DuckDB returns the string's head or part of it."""
    start, length = node.args.get("start"), node.args.get("length")
    if start is None:
        return node.copy()
    base = exp.Substring(this=node.this.copy(), start=start.copy(),
                         **({"length": length.copy()} if length is not None else {}))
    empty = "WHEN __b = 0 OR -__b > length(__s) THEN ''"
    if length is not None:
        empty += " WHEN __c <= 0 THEN ''"
    return sql_templates.duckdb(f"CASE WHEN __s IS NULL OR __b IS NULL THEN NULL {empty} ELSE __d END",
                                s=node.this, b=start, c=length if length is not None else exp.null(), d=base)


def concat_ws_array(node: exp.ConcatWs) -> exp.Expr | None:
    """``concat_ws(separator, array)``: the array's non-NULL elements joined by the separator (NULL for a NULL
    separator or array), as Trino joins them; sqlglot read the array as an element to prepend the separator
    to. None for ``concat_ws(separator, text, …)``, where DuckDB's answer is Trino's."""
    parts = node.expressions
    if len(parts) != 2 or not trino_timeseries.is_array(parts[1]):
        return None
    return sql_templates.duckdb("CASE WHEN __s IS NULL OR __a IS NULL THEN NULL ELSE array_to_string(__a, __s) END",
                                s=parts[0], a=parts[1])


def replace(node: exp.Replace) -> exp.Expr | None:
    """``replace(s, search, replacement)`` with an empty ``search``: Trino inserts the replacement before every
    character and at the end (``replace('ab', '', '-')`` is '-a-b-'); DuckDB returns ``s``. None when the
    search is a non-empty literal or there is no replacement (inserting nothing changes nothing)."""
    search, replacement = node.expression, node.args.get("replacement")
    if replacement is None or (isinstance(search, exp.Literal) and search.is_string and search.name):
        return None
    return sql_templates.duckdb(
        "CASE WHEN __s IS NOT NULL AND __f = '' THEN __r || coalesce(list_aggr(list_transform(string_split(__s, ''), lambda tessera_c: "
        "tessera_c || __r), 'string_agg', ''), '') ELSE __n END",
        s=node.this, f=search, r=replacement, n=node)


def pad(node: exp.Pad) -> exp.Expr | None:
    """``lpad``/``rpad`` refuse a negative target length (Trino's error; DuckDB returns ''). None for a
    non-negative literal length."""
    length = node.expression
    if isinstance(length, exp.Literal) and not length.is_string:
        return None
    return sql_templates.duckdb(
        "CASE WHEN __n < 0 THEN error('Target length must be in the range [0..2147483647]') ELSE __p END",
        n=length, p=node)


_JAVA_SPEC = re.compile(r"%([-#+ 0,]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")
_MAX_FIXED = 10 ** 17  # %f's operand is rounded as a DECIMAL(38, 18): exact below this


def _format_argument(conversion: str, precision: str | None, arg: exp.Expr) -> exp.Expr:
    """The argument of one Java conversion, as DuckDB's printf formats it the same way."""
    if conversion in "sS":
        # Java prints a NULL as 'null' and a DOUBLE as Double.toString does; Trino passes a TIMESTAMP as a
        # LocalDateTime (its own text) and refuses arrays, maps and rows: those are refused here.
        text = sql_templates.duckdb(
            "CASE WHEN typeof(__x) LIKE 'TIMESTAMP%' OR typeof(__x) LIKE '%[]' OR typeof(__x) LIKE 'STRUCT%' "
            "OR typeof(__x) LIKE 'MAP%' OR typeof(__x) LIKE 'INTERVAL%' OR typeof(__x) = 'TIME' "
            "THEN error('format: Tessera formats only text, numbers, booleans and dates with %s') "
            "ELSE coalesce(__t, 'null') END", x=arg, t=trino_text.cast_to_varchar(exp.cast(arg.copy(), exp.DType.VARCHAR)))
        return sql_templates.call("upper", text) if conversion == "S" else text
    if isinstance(arg.unnest(), exp.Null):
        raise ValidationError(f"format: Tessera cannot format a NULL argument with %{conversion}")
    checked = sql_templates.duckdb(
        "CASE WHEN __x IS NULL THEN error('format: Tessera cannot format a NULL argument with %' || __c) ELSE __x END",
        x=arg, c=exp.Literal.string(conversion))
    if conversion != "f":
        return checked
    # Java rounds the shortest decimal text of a DOUBLE half up (String.format("%.2f", 2.675) is 2.68); C's
    # printf rounds the binary value (2.67). Rounding the text as a DECIMAL first gives Java's digits.
    digits = exp.Literal.number(int(precision) if precision is not None else 6)
    return sql_templates.duckdb(
        "CASE WHEN typeof(__x) NOT IN ('DOUBLE', 'FLOAT') AND typeof(__x) NOT LIKE 'DECIMAL%' "
        "THEN error('format: %f needs a floating-point argument, got ' || typeof(__x)) "
        f"WHEN NOT isfinite(__x) OR abs(__x) >= {_MAX_FIXED} "
        "THEN error('format: Tessera formats %f only for finite values below 1e17') "
        "ELSE CAST(round(CAST(CAST(__x AS VARCHAR) AS DECIMAL(38, 18)), __d) AS DOUBLE) END", x=checked, d=digits)


def format_(node: exp.Format) -> exp.Expr:
    """Trino's ``format(pattern, args…)`` (Java's ``String.format``) as DuckDB's ``printf``: sqlglot writes
    DuckDB's ``format``, whose ``{}`` placeholders left the pattern as it was. The pattern must be a literal;
    supported: ``%s %S %d %x %X %o %f %% %n`` with flags ``-#+ 0,``, a width and a precision. Others
    (``%e``, ``%g``, ``%b``, ``%c``, ``%t``, argument indices) are refused: C formats them differently."""
    pattern = node.this
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise ValidationError("format: the format string must be a string literal")
    text, args = pattern.name, list(node.expressions)
    out: list[str] = []
    converted: list[exp.Expr] = []
    i = 0
    while i < len(text):
        if text[i] != "%":
            out.append(text[i])
            i += 1
            continue
        spec = _JAVA_SPEC.match(text, i)
        if spec is None or spec.group(4) not in "sSdxXof%n":
            raise ValidationError(f"format: the conversion at position {i + 1} of {text!r} is not supported; "
                                  "supported: %s %S %d %x %X %o %f %% %n with flags -#+ 0, a width and a precision")
        flags, width, precision, conversion = spec.groups()
        if conversion in "%n":
            out.append("%%" if conversion == "%" else "\n")
        else:
            if len(converted) == len(args):
                raise ValidationError(f"format: {text!r} needs more than the {len(args)} argument(s) given")
            out.append(f"%{flags}{width or ''}{'.' + precision if precision is not None else ''}"
                       f"{'s' if conversion == 'S' else conversion}")
            converted.append(_format_argument(conversion, precision, args[len(converted)]))
        i = spec.end()
    return sql_templates.call("printf", exp.Literal.string("".join(out)), *converted)


def upper(node: exp.Upper) -> exp.Expr:
    """``upper(s)`` with 'ß' kept, as Java's ``Character.toUpperCase`` keeps it (DuckDB: 'ẞ'); the parts between
    the 'ß's are upper-cased by DuckDB, whose mapping is Java's for every other character."""
    return sql_templates.duckdb(
        "CASE WHEN contains(__s, 'ß') THEN array_to_string(list_transform(string_split(__s, 'ß'), "
        "lambda tessera_p: upper(tessera_p)), 'ß') ELSE upper(__s) END", s=node.this)


_NOT_TEXT_TYPES = (exp.DType.BIGINT, exp.DType.INT, exp.DType.SMALLINT, exp.DType.TINYINT, exp.DType.DOUBLE,
                   exp.DType.FLOAT, exp.DType.DECIMAL, exp.DType.BOOLEAN, exp.DType.DATE, exp.DType.TIME,
                   exp.DType.TIMESTAMP, exp.DType.TIMESTAMP_NS, exp.DType.INTERVAL)


def _visibly_not_text(node: exp.Expr) -> bool:
    """A number, boolean, date, time or interval by its making (a literal, a cast, a typed measure column)."""
    node = node.unnest()
    if isinstance(node, exp.Literal):
        return not node.is_string
    if isinstance(node, exp.Cast):
        return node.to.this in _NOT_TEXT_TYPES
    return isinstance(node, (exp.Boolean, exp.Interval)) or trino_numbers.statically_integer(node) \
        or trino_numbers.statically_floating(node)


def refuse_non_text_concat(operands: list[exp.Expr]) -> None:
    """Trino's error for ``||``/``concat`` over a visibly non-text operand beside no visible array (Trino has no
    implicit cast to VARCHAR; DuckDB would join ``'a' || 1`` into 'a1')."""
    if any(trino_timeseries.is_array(o) for o in operands):
        return
    for operand in operands:
        if _visibly_not_text(operand):
            raise ValidationError(f"Unexpected parameters for function concat: {operand.sql(dialect='trino')} is not "
                                  "text; || and concat() join VARCHARs (or arrays): CAST it AS VARCHAR first")
