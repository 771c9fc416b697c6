"""String functions whose DuckDB namesakes answer differently from Trino (hence Timestream): each rewrite
gives Trino's answer or an error, never DuckDB's.

- ``regexp_extract(s, pattern[, group])``: Trino returns NULL when the pattern does not match; DuckDB
  returns ''.
- ``split_part(s, delimiter, index)``: Trino returns NULL for an index past the last field and refuses an
  index below 1; DuckDB returns '' past the end and counts a negative index from the end.
- ``regexp_replace(s, pattern, replacement)``: Trino's replacement is Java's (``$1`` is group 1, ``\\$`` a
  dollar sign); DuckDB's is RE2's (``\\1``), where ``$1`` stays literal. A literal replacement is
  translated; any other replacement is refused rather than applied with the other syntax.
"""

from __future__ import annotations

from sqlglot import exp

from tessera.errors import ValidationError


def _call(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _fail(message: str) -> exp.Expr:
    """DuckDB's ``error(message)``: raises when evaluated (a row that reaches it), never returns."""
    return _call("error", exp.Literal.string(message))


def regexp_extract(node: exp.RegexpExtract) -> exp.Expr:
    """NULL where the pattern does not match, the match (or group) otherwise."""
    matches = exp.RegexpLike(this=node.this.copy(), expression=node.expression.copy())
    return exp.Case(ifs=[exp.If(this=matches, true=node.copy())], default=exp.null())


def split_part(node: exp.SplitPart) -> exp.Expr:
    """NULL past the last field; an error for an index below 1."""
    text, delimiter, index = (node.args[k] for k in ("this", "delimiter", "part_index"))
    fields = _call("len", _call("string_split", text.copy(), delimiter.copy()))
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


def regexp_replace(node: exp.RegexpReplace) -> exp.Expr | None:
    """The replacement in RE2's syntax; None (unchanged) when there is no replacement argument."""
    replacement = node.args.get("replacement")
    if replacement is None:
        return None
    if not (isinstance(replacement, exp.Literal) and replacement.is_string):
        raise ValidationError("regexp_replace: the replacement must be a string literal (a lambda or a column "
                              "is not supported)")
    converted = java_replacement_to_re2(replacement.name)
    if converted == replacement.name:
        return None
    new = node.copy()
    new.set("replacement", exp.Literal.string(converted))
    return new
