"""Timestream's ``UNLOAD (SELECT …) TO 's3://bucket/folder' WITH (option = value, …)``: the statement and its
options, checked as Timestream checks them. ``services.query.unload_files`` writes what the SELECT returns.

Options (names without case, values as Timestream spells them):

- ``format``: ``'CSV'`` (default) or ``'PARQUET'``.
- ``compression``: ``'GZIP'`` (default) or ``'NONE'``; for Parquet, the codec of the column chunks.
- ``partitioned_by``: ``ARRAY['col', …]``, columns of the SELECT; each distinct combination of their values
  goes to ``results/col=value/…`` and the columns are left out of the files.
- ``field_delimiter`` (default ``','``), ``escaped_by`` (default ``'\\'``), ``include_header`` (``'true'`` or
  ``'false'``, the default): CSV only, single characters.
- ``max_file_size``: ``'<n>KB|MB|GB'``, 16 MB up to 78 GB (the default); a file that reaches it is closed and
  the next part begins.
- ``encryption``: ``'SSE_S3'`` (default: the object store's own server-side encryption applies, Tessera asks
  nothing of it) or ``'SSE_KMS'`` with ``kms_key``, which needs AWS KMS and is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import Token, TokenType

from services.query.dialect import Timestream
from services.query.metadata import without_leading_comments
from tessera.errors import ValidationError

MIN_FILE_BYTES = 16 * 1000 ** 2
MAX_FILE_BYTES = 78 * 1000 ** 3
_UNITS = {"KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB)\s*$", re.IGNORECASE)
_START = re.compile(r"UNLOAD\b", re.IGNORECASE)
_DESTINATION = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")
_CSV_ONLY = ("field_delimiter", "escaped_by", "include_header")
_CHOICES = {"format": ("CSV", "PARQUET"), "compression": ("GZIP", "NONE"), "encryption": ("SSE_S3", "SSE_KMS"),
            "include_header": ("true", "false")}
_KNOWN = (*_CHOICES, "partitioned_by", "kms_key", "field_delimiter", "escaped_by", "max_file_size")


@dataclass(frozen=True)
class Unload:
    """A parsed UNLOAD statement."""

    select: str
    bucket: str
    prefix: str
    """The folder under the bucket, without leading or trailing ``/`` (may be empty)."""
    format: str = "CSV"
    compression: str = "GZIP"
    partitioned_by: tuple[str, ...] = ()
    field_delimiter: str = ","
    escaped_by: str = "\\"
    include_header: bool = False
    max_file_bytes: int = MAX_FILE_BYTES
    encryption: str = "SSE_S3"
    options: tuple[tuple[str, str], ...] = ()
    """The options as written (lower-case names), for the log."""

    @property
    def destination(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse(sql: str) -> Unload | None:
    """The UNLOAD statement ``sql`` holds, or None when it is not one. A malformed one is a ValidationError
    saying what is wrong."""
    if not _START.match(without_leading_comments(sql)):
        return None
    try:
        tokens = Timestream.Tokenizer().tokenize(sql)
    except TokenError as exc:
        raise ValidationError(f"cannot parse the UNLOAD statement: {exc}") from exc
    if len(tokens) < 2 or tokens[1].token_type != TokenType.L_PAREN:
        raise ValidationError("UNLOAD takes a query in parentheses: UNLOAD (SELECT …) TO 's3://bucket/folder' "
                              "WITH (format = 'CSV' | 'PARQUET', …)")
    close = _matching(tokens, 1)
    select = sql[tokens[1].end + 1:tokens[close].start].strip()
    if not select:
        raise ValidationError("UNLOAD needs a SELECT query between its parentheses")
    rest = tokens[close + 1:]
    if rest and rest[-1].token_type == TokenType.SEMICOLON:
        rest = rest[:-1]
    if len(rest) < 2 or rest[0].text.upper() != "TO" or rest[1].token_type != TokenType.STRING:
        raise ValidationError("UNLOAD needs a destination after the query: TO 's3://bucket/folder'")
    bucket, prefix = _destination(rest[1].text)
    options = _options(rest[2:])
    return _with_options(Unload(select=select, bucket=bucket, prefix=prefix), options)


def _matching(tokens: list[Token], open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(tokens)):
        kind = tokens[i].token_type
        depth += kind == TokenType.L_PAREN
        depth -= kind == TokenType.R_PAREN
        if depth == 0:
            return i
    raise ValidationError("UNLOAD: the query's opening parenthesis is never closed")


def _destination(url: str) -> tuple[str, str]:
    found = _DESTINATION.match(url)
    if found is None:
        raise ValidationError(f"UNLOAD destination {url!r} is not an S3 location: write TO 's3://bucket/folder' "
                              "(a bucket name of 3 to 63 lower-case letters, digits, dots and hyphens)")
    prefix = (found.group("prefix") or "").strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ValidationError(f"UNLOAD destination {url!r} has an empty, '.' or '..' folder name")
    return found.group("bucket"), prefix


def _options(tokens: list[Token]) -> dict[str, str | tuple[str, ...]]:
    if not tokens:
        return {}
    if tokens[0].token_type != TokenType.WITH or len(tokens) < 3 or tokens[1].token_type != TokenType.L_PAREN \
            or tokens[-1].token_type != TokenType.R_PAREN:
        raise ValidationError("UNLOAD options follow the destination as WITH (name = 'value', …)")
    inner = tokens[2:-1]
    options: dict[str, str | tuple[str, ...]] = {}
    i = 0
    while i < len(inner):
        name = inner[i].text.lower()
        if name not in _KNOWN:
            raise ValidationError(f"UNLOAD has no option {inner[i].text!r}; the options are {', '.join(_KNOWN)}")
        if name in options:
            raise ValidationError(f"UNLOAD option {name} is given twice")
        if i + 2 >= len(inner) or inner[i + 1].token_type != TokenType.EQ:
            raise ValidationError(f"UNLOAD option {name} needs a value: {name} = '…'")
        value, i = _value(name, inner, i + 2)
        options[name] = value
        if i < len(inner):
            if inner[i].token_type != TokenType.COMMA or i + 1 == len(inner):
                raise ValidationError(f"UNLOAD options are name = 'value' pairs separated by commas (after {name})")
            i += 1
    return options


def _value(name: str, tokens: list[Token], i: int) -> tuple[str | tuple[str, ...], int]:
    """The value at ``tokens[i]``: a string, or ``ARRAY['a', …]``; and the index after it."""
    token = tokens[i]
    if token.token_type == TokenType.STRING:
        return token.text, i + 1
    if token.token_type == TokenType.ARRAY and i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.L_BRACKET:
        items: list[str] = []
        j = i + 2
        while True:  # 'name' (, 'name')* ]
            if j + 1 >= len(tokens) or tokens[j].token_type != TokenType.STRING \
                    or tokens[j + 1].token_type not in (TokenType.COMMA, TokenType.R_BRACKET):
                raise ValidationError(f"UNLOAD option {name}: an ARRAY of one or more quoted column names, e.g. "
                                      f"{name} = ARRAY['region', 'host']")
            items.append(tokens[j].text)
            if tokens[j + 1].token_type == TokenType.R_BRACKET:
                return tuple(items), j + 2
            j += 2
    raise ValidationError(f"UNLOAD option {name} takes a quoted value, e.g. {name} = '…'")


def _with_options(unload: Unload, options: dict[str, str | tuple[str, ...]]) -> Unload:
    values: dict[str, object] = {"options": tuple((k, str(v)) for k, v in options.items())}
    for name, choices in _CHOICES.items():
        if name in options:
            given = options[name]
            picked = next((c for c in choices if isinstance(given, str) and given.upper() == c.upper()), None)
            if picked is None:
                raise ValidationError(f"UNLOAD option {name} must be one of {', '.join(repr(c) for c in choices)}, "
                                      f"not {given!r}")
            values[name] = picked
    if "include_header" in values:
        values["include_header"] = values["include_header"] == "true"
    partition = options.get("partitioned_by", ())
    if isinstance(partition, str):
        raise ValidationError("UNLOAD option partitioned_by takes ARRAY['column', …]")
    if partition:
        if len(set(partition)) != len(partition):
            raise ValidationError("UNLOAD option partitioned_by names a column twice")
        values["partitioned_by"] = partition
    fmt = values.get("format", unload.format)
    for name in ("field_delimiter", "escaped_by"):
        if name in options:
            given = options[name]
            if not isinstance(given, str) or len(given) != 1:
                raise ValidationError(f"UNLOAD option {name} must be a single character, not {given!r}")
            values[name] = given
    used_csv = [n for n in _CSV_ONLY if n in options]
    if used_csv and fmt != "CSV":
        raise ValidationError(f"UNLOAD option {used_csv[0]} applies to format 'CSV' only")
    delimiter = values.get("field_delimiter", unload.field_delimiter)
    escape = values.get("escaped_by", unload.escaped_by)
    if delimiter == escape or '"' in (delimiter, escape) or {delimiter, escape} & {"\n", "\r"}:
        raise ValidationError("UNLOAD field_delimiter and escaped_by must differ from each other, from the quote "
                              "character '\"' and from a line break")
    if "max_file_size" in options:
        values["max_file_bytes"] = _file_size(options["max_file_size"])
    if values.get("encryption") == "SSE_KMS" or "kms_key" in options:
        raise ValidationError("UNLOAD encryption 'SSE_KMS' (and kms_key) needs AWS KMS, which Tessera does not "
                              "have: use encryption = 'SSE_S3' and the object store's own encryption at rest")
    return replace(unload, **values)  # type: ignore[arg-type]


def _file_size(given: str | tuple[str, ...]) -> int:
    found = _SIZE.match(given) if isinstance(given, str) else None
    if found is None:
        raise ValidationError(f"UNLOAD option max_file_size must be a size such as '16MB', '1GB' or '78GB', "
                              f"not {given!r}")
    size = int(float(found.group(1)) * _UNITS[found.group(2).upper()])
    if not MIN_FILE_BYTES <= size <= MAX_FILE_BYTES:
        raise ValidationError(f"UNLOAD option max_file_size must be between 16MB and 78GB, not {given!r}")
    return size

