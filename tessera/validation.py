"""Timestream's write rules: a WriteRecords or WriteBatch request in, storage-layout rows and rejections out.

Both write forms end in a ``Validated``: the accepted rows in the layout of ``tessera.layout`` (without the
``ts_*`` key columns), the rejected records with a reason each, and the columns the write adds to the table's
schema. Problems with the request as a whole raise ``ValidationError`` and nothing is stored; problems with one
record (or one batch row) reject that record only.

This module holds the shared rules (names, time window, schema) and the record form; the vectorised batch form
lives in ``tessera._batch_validation``.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tessera import layout, limits, partition_key
from tessera.errors import ValidationError
from tessera.v1 import common_pb2, ingest_pb2

DIMENSION, MEASURE, MULTI = "DIMENSION", "MEASURE", "MULTI"
INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)
_TABLE_LIMITS = {
    DIMENSION: (limits.MAX_DIMENSIONS_PER_TABLE, "dimensions"),
    MEASURE: (limits.MAX_UNIQUE_MEASURE_NAMES, "unique measure names"),
    MULTI: (limits.MAX_UNIQUE_MULTI_MEASURES, "unique multi-measure attribute names"),
}
# The typed value columns of the layout are as reserved as 'measure_value' itself.
_RESERVED = limits.RESERVED_NAMES | frozenset(layout.SINGLE_VALUE_COLUMNS.values())
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_DECIMAL = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a table's schema."""

    kind: str  # DIMENSION | MEASURE (a single-measure measure name) | MULTI (a multi-measure attribute)
    type: str  # VARCHAR | DOUBLE | BIGINT | BOOLEAN | TIMESTAMP


@dataclass(frozen=True)
class TableContext:
    """What validation needs to know about the target table."""

    columns: Mapping[str, ColumnSpec]
    """The table's schema registered so far, by column name."""
    memory_retention_ns: int
    magnetic_retention_ns: int
    magnetic_writes: bool
    """MagneticStoreWriteProperties.EnableMagneticStoreWrites: accept records older than memory retention."""
    now_ns: int
    """The server time the time window is measured from."""
    required_dimension: str | None = None
    """A dimension every record must carry: the table's partition key when its EnforcementInRecord is
    REQUIRED (``tessera.partition_key``). A record without it is rejected."""


@dataclass
class Validated:
    """The outcome of validating one write request."""

    rows: pa.Table
    """Accepted rows: time, measure_name, dimension columns, value columns (layout without ts_* columns)."""
    dimension_columns: list[str]
    measure_columns: list[str]
    versions: pa.Array
    source_index: np.ndarray
    """Row i of ``rows`` came from input record (or batch row) ``source_index[i]``."""
    magnetic: np.ndarray
    """True where the row is older than memory retention and goes to the magnetic store."""
    rejected: list[common_pb2.RejectedRecord]
    new_columns: dict[str, ColumnSpec] = field(default_factory=dict)


class Reject(Exception):
    """Raised inside record validation: the record is rejected with this reason."""


# --- shared rules -------------------------------------------------------------------------------------------


def show(value: str, limit: int = 64) -> str:
    """A value quoted for a message, shortened when long."""
    return f"'{value}'" if len(value) <= limit else f"'{value[:limit]}…' ({len(value.encode())} bytes)"


@functools.lru_cache(maxsize=8192)
def name_problem(name: str, max_bytes: int) -> str | None:
    """Why ``name`` cannot be a dimension or measure name, or None when it can."""
    if not name:
        return "names may not be empty"
    size = len(name.encode())
    if size > max_bytes:
        return f"names are limited to {max_bytes} UTF-8 bytes; this one has {size}"
    if name in _RESERVED:
        return "it is a reserved name"
    for prefix in limits.RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"names may not begin with '{prefix}'"
    return None


def check_name(label: str, name: str, max_bytes: int) -> None:
    """Raise Reject when ``name`` is not a valid name; ``label`` names the field."""
    problem = name_problem(name, max_bytes)
    if problem:
        raise Reject(f"{label} {show(name)} is invalid: {problem}")


def iso(time_ns: int) -> str:
    """A UTC ISO-8601 rendering of an epoch offset in ns."""
    seconds, frac = divmod(time_ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def duration(ns: int) -> str:
    """A retention period in words, e.g. '6 hours'."""
    for unit_ns, word in ((86_400 * 10**9, "day"), (3600 * 10**9, "hour"), (60 * 10**9, "minute"), (10**9, "second")):
        if ns >= unit_ns and ns % unit_ns == 0:
            count = ns // unit_ns
            return f"{count} {word}{'' if count == 1 else 's'}"
    return f"{ns} ns"


@dataclass(frozen=True)
class TimeWindow:
    """The accepted time range of a table at ``ctx.now_ns``, clamped to int64."""

    newest: int  # inclusive
    memory_oldest: int  # older than this goes to the magnetic store (or is rejected)
    oldest: int  # older than this is rejected even with magnetic writes on

    @staticmethod
    def of(ctx: TableContext) -> TimeWindow:
        """The window for a table context."""
        def clamp(v: int) -> int:
            return max(INT64_MIN, min(INT64_MAX, v))

        memory_oldest = ctx.now_ns - ctx.memory_retention_ns
        return TimeWindow(
            newest=clamp(ctx.now_ns + limits.FUTURE_WINDOW_NS),
            memory_oldest=clamp(memory_oldest),
            oldest=clamp(memory_oldest - ctx.magnetic_retention_ns),
        )


def future_reason(label: str, time_ns: int, ctx: TableContext) -> str:
    """Rejection reason for a time too far ahead of the server clock."""
    return (f"{label} {iso(time_ns)} is more than {duration(limits.FUTURE_WINDOW_NS)} ahead of the server time "
            f"{iso(ctx.now_ns)}")


def too_old_reason(label: str, time_ns: int, ctx: TableContext) -> str:
    """Rejection reason for a time older than the table accepts."""
    if not ctx.magnetic_writes:
        return (f"{label} {iso(time_ns)} is older than the memory store retention of "
                f"{duration(ctx.memory_retention_ns)} and magnetic store writes are disabled for this table "
                f"(MagneticStoreWriteProperties.EnableMagneticStoreWrites)")
    return (f"{label} {iso(time_ns)} is older than the table's retention (memory store "
            f"{duration(ctx.memory_retention_ns)} + magnetic store {duration(ctx.magnetic_retention_ns)})")


class Schema:
    """The table's columns plus those introduced by the write so far; checks kinds, types and table limits.

    Columns are keyed by ``layout.schema_key``: a single-measure name has a namespace of its own, apart
    from dimensions and multi-measure attributes. A dimension may still not take a single-measure name of
    the table, nor the other way round (Timestream's rule); if two writers registered both at once, both
    stay usable.
    """

    def __init__(self, columns: Mapping[str, ColumnSpec]) -> None:
        self._known = columns
        self.new: dict[str, ColumnSpec] = {}
        """The columns this write adds, by schema key."""
        self._counts = Counter(spec.kind for spec in columns.values())
        # Records of one write mostly use the same columns: remember the verdict per column list until
        # the schema grows (a new column can change it).
        self._verdicts: dict[tuple[tuple[str, ColumnSpec], ...], str | None] = {}

    def get(self, key: str) -> ColumnSpec | None:
        """The spec of the column with this schema key, if the table or this write already has it."""
        return self._known.get(key) or self.new.get(key)

    def problem(self, uses: Sequence[tuple[str, ColumnSpec]], subject: str = "the record") -> str | None:
        """Why these columns (name, spec) cannot be used together with the schema, or None."""
        key = tuple(uses)
        if key in self._verdicts and self._verdicts[key] is None:
            return None
        verdict = self._problem(uses, subject)
        self._verdicts[key] = verdict
        return verdict

    def _problem(self, uses: Sequence[tuple[str, ColumnSpec]], subject: str) -> str | None:
        adding: Counter[str] = Counter()
        pending: dict[str, ColumnSpec] = {}
        for name, spec in uses:
            key = layout.schema_key(spec.kind, name)
            have = self.get(key)
            if key in pending and pending[key] != spec:
                return (f"{subject} uses {show(name)} both as {_describe(pending[key])} and as "
                        f"{_describe(spec)} (dimension and measure names share one namespace)")
            if have is None and key not in pending:
                # A dimension may not take a single-measure name of the table, nor the other way round.
                other_key = _other_namespace(name, spec)
                other = self.get(other_key)
                if other is not None and DIMENSION in (spec.kind, other.kind):
                    return conflict_reason(name, other, spec, subject)
                other = pending.get(other_key)
                if other is not None and DIMENSION in (spec.kind, other.kind):
                    return (f"{subject} uses {show(name)} both as {_describe(other)} and as {_describe(spec)} "
                            f"(dimension and measure names share one namespace)")
                adding[spec.kind] += 1
            elif have is not None and have != spec:
                return conflict_reason(name, have, spec, subject)
            pending[key] = spec
        for kind, count in adding.items():
            limit, what = _TABLE_LIMITS[kind]
            if self._counts[kind] + count > limit:
                return (f"too many {what}: the table has {self._counts[kind]} and {subject} adds {count}; "
                        f"the limit is {limit} per table")
        return None

    def add(self, uses: Sequence[tuple[str, ColumnSpec]]) -> None:
        """Register the columns a now-accepted record uses."""
        for name, spec in uses:
            key = layout.schema_key(spec.kind, name)
            if self.get(key) is None:
                self.new[key] = spec
                self._counts[spec.kind] += 1
                self._verdicts.clear()


def _other_namespace(name: str, spec: ColumnSpec) -> str:
    """The schema key ``name`` has in the namespace ``spec`` is not in."""
    return layout.schema_key(DIMENSION if spec.kind == MEASURE else MEASURE, name)


def _describe(spec: ColumnSpec) -> str:
    if spec.kind == DIMENSION:
        return "a dimension"
    return f"a {spec.type} {'measure' if spec.kind == MEASURE else 'multi-measure attribute'}"


def conflict_reason(name: str, have: ColumnSpec, want: ColumnSpec, subject: str) -> str:
    """Reason for using a column with another kind or type than the table has."""
    if have.kind == want.kind:
        word = "dimension" if have.kind == DIMENSION else "measure"
        return f"{word} {show(name)} is {have.type} in this table; {subject} has {want.type}"
    return (f"{show(name)} is {_describe(have)} in this table; {subject} uses it as {_describe(want)} "
            f"(dimension and measure names share one namespace)")


def validated_from(
    columns: dict[str, pa.Array], dimension_columns: Sequence[str], measure_columns: Sequence[str],
    versions: pa.Array, source_index: np.ndarray, magnetic: np.ndarray,
    rejected: list[common_pb2.RejectedRecord], new_columns: dict[str, ColumnSpec],
) -> Validated:
    """Assemble a Validated with the columns in the canonical order: time, measure_name, dims, measures (sorted)."""
    dims = sorted(dimension_columns)
    measures = sorted(measure_columns)
    order = [layout.TIME, layout.MEASURE_NAME, *dims, *measures]
    rows = pa.table({name: columns[name] for name in order})
    return Validated(rows, dims, measures, versions, source_index, magnetic, rejected, new_columns)


# --- the record form ----------------------------------------------------------------------------------------


def validate_write_batch(request: ingest_pb2.WriteBatchRequest, ctx: TableContext) -> Validated:
    """Validate a WriteBatch (Arrow IPC) request with vectorised checks; record indexes are row numbers."""
    from tessera._batch_validation import validate_batch

    return validate_batch(request, ctx)


def parse_scalar(label: str, value: str, type_name: str, unit_ns: int) -> Any:
    """Parse a measure value string of a Timestream type into its Python value, or raise Reject."""
    if not value:
        raise Reject(f"{label} may not be empty")
    if type_name == "DOUBLE":
        number = float(value) if _DECIMAL.match(value) else math.nan
        if not math.isfinite(number):
            raise Reject(f"{label} {show(value)} is not a finite DOUBLE (NaN and Infinity cannot be written)")
        return number
    if type_name in ("BIGINT", "TIMESTAMP"):
        integer = int(value) if _INTEGER.match(value) else None
        if integer is None or not INT64_MIN <= integer <= INT64_MAX:
            raise Reject(f"{label} {show(value)} is not a {type_name} (a signed 64-bit integer)")
        if type_name == "TIMESTAMP":
            ns = integer * unit_ns
            if integer < 0 or ns > INT64_MAX:
                raise Reject(f"{label} {show(value)} is out of range for a TIMESTAMP (1970-01-01 to 2262-04-11)")
            return ns
        return integer
    if type_name == "BOOLEAN":
        if value.lower() not in ("true", "false"):
            raise Reject(f"{label} {show(value)} is not a BOOLEAN (true or false)")
        return value.lower() == "true"
    size = len(value.encode())
    if size > limits.MAX_VARCHAR_BYTES:
        raise Reject(f"{label} is {size} bytes; the limit is {limits.MAX_VARCHAR_BYTES} bytes per VARCHAR")
    return value


# --- the record form ----------------------------------------------------------------------------------------

_API_NAMES = {
    "measure_name": "MeasureName", "measure_value": "MeasureValue", "measure_value_type": "MeasureValueType",
    "time": "Time", "time_unit": "TimeUnit", "version": "Version", "measure_values": "MeasureValues",
}
_DIMENSION_SPEC = ColumnSpec(DIMENSION, "VARCHAR")


@dataclass
class _Row:
    index: int
    time_ns: int
    measure_name: str
    dims: dict[str, str]
    values: dict[str, Any]  # value column -> Python value
    types: dict[str, str]  # value column -> Timestream type
    version: int
    magnetic: bool
    uses: list[tuple[str, ColumnSpec]]


def validate_write_records(request: ingest_pb2.WriteRecordsRequest, ctx: TableContext) -> Validated:
    """Validate a WriteRecords request: raise ValidationError for the request, reject records one by one.

    The records come as protobuf messages (``records``, up to 100) or as Arrow columns (``records_arrow``,
    up to 10,000); both mean the same and are judged by the same rules.
    """
    common = request.common_attributes
    if request.records_arrow:
        return _validate_record_columns(request, ctx)
    records = request.records
    _check_record_count("Records", len(records), limits.MAX_RECORDS_PER_WRITE)
    _check_common(common)
    common_dims = {d.name for d in common.dimensions}
    for i, record in enumerate(records):
        for j, dim in enumerate(record.dimensions):
            if dim.name in common_dims:
                _raise_common_clash(i, j, dim.name)
    if common.ByteSize() == 0:
        from tessera._record_fastpath import validate_fast

        fast = validate_fast(records, ctx)  # None unless every record is plainly valid
        if fast is not None:
            return fast
    return validate_records_exactly(records, common, ctx)


def _validate_record_columns(request: ingest_pb2.WriteRecordsRequest, ctx: TableContext) -> Validated:
    from tessera import record_columns
    from tessera._record_fastpath import validate_fast_columns

    if request.records:
        raise ValidationError("Records and records_arrow are both set; send the records in one of them")
    batch = record_columns.decode(request.records_arrow)
    _check_record_count("records_arrow", batch.num_rows, limits.MAX_RECORDS_PER_ARROW_WRITE)
    common = request.common_attributes
    _check_common(common)
    if common.dimensions:
        offsets, dims = record_columns.list_parts(batch.column("Dimensions"))
        clash = np.flatnonzero(pc.is_in(dims["Name"], pa.array([d.name for d in common.dimensions])).to_numpy(
            zero_copy_only=False))
        if len(clash):
            i = int(np.searchsorted(offsets, clash[0], side="right") - 1)
            _raise_common_clash(i, int(clash[0] - offsets[i]), dims["Name"][int(clash[0])].as_py())
    if common.ByteSize() == 0:
        fast = validate_fast_columns(batch, ctx)
        if fast is not None:
            return fast
    return validate_records_exactly(record_columns.to_records(batch), common, ctx)


def _check_record_count(label: str, count: int, limit: int) -> None:
    if not count:
        raise ValidationError(f"{label} is empty; a WriteRecords request needs 1 to {limit} records")
    if count > limit:
        raise ValidationError(f"{label} has {count} records; the limit is {limit} per WriteRecords request")


def _raise_common_clash(i: int, j: int, name: str) -> None:
    raise ValidationError(f"Records[{i}].Dimensions[{j}].Name {show(name)} is also in "
                          "CommonAttributes.Dimensions; give each dimension in one place only")


def validate_records_exactly(records: Sequence[common_pb2.Record], common: common_pb2.Record,
                             ctx: TableContext) -> Validated:
    """Validate record by record: the reference the vectorised fast path must always agree with."""
    schema, window = Schema(ctx.columns), TimeWindow.of(ctx)
    rows: list[_Row] = []
    rejected: list[common_pb2.RejectedRecord] = []
    for i, record in enumerate(records):
        try:
            row = _record(i, record, common, ctx, window)
            problem = schema.problem(row.uses)
            if problem:
                raise Reject(f"Records[{i}]: {problem}")
        except Reject as exc:
            rejected.append(common_pb2.RejectedRecord(record_index=i, reason=str(exc)))
            continue
        schema.add(row.uses)
        rows.append(row)
    return _assemble(rows, rejected, schema.new)


def _check_common(common: common_pb2.Record) -> None:
    """CommonAttributes apply to every record, so a problem there fails the whole request."""
    label = "CommonAttributes"
    try:
        _check_dimensions(label, common.dimensions)
        if common.measure_name:
            check_name(f"{label}.MeasureName", common.measure_name, limits.MEASURE_NAME_MAX_BYTES)
        if common.measure_value_type:
            _check_value_type(f"{label}.MeasureValueType", common.measure_value_type)
        if common.time_unit:
            _unit_ns(f"{label}.TimeUnit", common.time_unit)
        if common.time and not _INTEGER.match(common.time):
            raise Reject(f"Invalid time for record. {label}.Time {show(common.time)} is not an integer")
        if common.HasField("version") and common.version < 1:
            raise Reject(f"{label}.Version {common.version} is invalid: versions start at 1")
        if common.measure_values:
            _check_measure_value_list(f"{label}.MeasureValues", common.measure_values)
    except Reject as exc:
        raise ValidationError(str(exc)) from None


def _pick(i: int, record: common_pb2.Record, common: common_pb2.Record, attr: str) -> tuple[str, Any]:
    """The record's field when set, else the common one; with the label of the field it came from."""
    if attr == "version":
        in_record, in_common = record.HasField("version"), common.HasField("version")
    else:
        in_record, in_common = bool(getattr(record, attr)), bool(getattr(common, attr))
    if in_record or not in_common:
        return f"Records[{i}].{_API_NAMES[attr]}", getattr(record, attr) if in_record else None
    return f"CommonAttributes.{_API_NAMES[attr]}", getattr(common, attr)


def _record(i: int, record: common_pb2.Record, common: common_pb2.Record, ctx: TableContext,
            window: TimeWindow) -> _Row:
    """Validate one merged record into a row, or raise Reject."""
    _check_dimensions(f"Records[{i}]", record.dimensions)
    dims = {d.name: d.value for d in (*common.dimensions, *record.dimensions)}
    if len(dims) > limits.MAX_DIMENSIONS_PER_RECORD:
        raise Reject(f"Records[{i}] has {len(dims)} dimensions; the limit is "
                     f"{limits.MAX_DIMENSIONS_PER_RECORD} per record")
    if ctx.required_dimension is not None and ctx.required_dimension not in dims:
        raise Reject(partition_key.missing_reason(f"Records[{i}]", ctx.required_dimension))
    dim_bytes = sum(len(n.encode()) + len(v.encode()) for n, v in dims.items())
    if dim_bytes > limits.MAX_SERIES_KEY_BYTES:
        raise Reject(f"Records[{i}].Dimensions: the dimension names and values are {dim_bytes} bytes; the "
                     f"limit is {limits.MAX_SERIES_KEY_BYTES} bytes per series")
    label, measure_name = _pick(i, record, common, "measure_name")
    if not measure_name:
        raise Reject(f"{label} is required")
    check_name(label, measure_name, limits.MEASURE_NAME_MAX_BYTES)

    label, unit = _pick(i, record, common, "time_unit")
    unit_ns = _unit_ns(label, unit or "MILLISECONDS")
    label, text = _pick(i, record, common, "time")
    time_ns = _time_ns(label, text or "", unit_ns)
    if time_ns > window.newest:
        raise Reject(future_reason(label, time_ns, ctx))
    magnetic = time_ns < window.memory_oldest
    if magnetic and (not ctx.magnetic_writes or time_ns < window.oldest):
        raise Reject(too_old_reason(label, time_ns, ctx))

    type_label, value_type = _pick(i, record, common, "measure_value_type")
    value_type = value_type or "DOUBLE"
    _check_value_type(type_label, value_type)
    value_label, value = _pick(i, record, common, "measure_value")
    values_label, measure_values = _pick(i, record, common, "measure_values")
    uses = [(name, _DIMENSION_SPEC) for name in dims]
    if value_type == "MULTI":
        if value:
            raise Reject(f"{value_label} must be empty when MeasureValueType is MULTI; use MeasureValues")
        values, types = _multi_values(values_label, measure_values or (), unit_ns)
        value_bytes = sum(len(mv.name.encode()) + len(mv.value.encode()) for mv in measure_values)
        uses += [(name, ColumnSpec(MULTI, t)) for name, t in types.items()]
    else:
        if measure_values:
            raise Reject(f"{values_label} must be empty unless {type_label} is MULTI")
        column = layout.SINGLE_VALUE_COLUMNS[value_type]
        values = {column: parse_scalar(value_label, value or "", value_type, unit_ns)}
        types = {column: value_type}
        value_bytes = len((value or "").encode())
        uses.append((measure_name, ColumnSpec(MEASURE, value_type)))

    label, version = _pick(i, record, common, "version")
    if version is not None and version < 1:
        raise Reject(f"{label} {version} is invalid: versions start at 1")
    size = dim_bytes + len(measure_name.encode()) + value_bytes
    if size > limits.MAX_RECORD_BYTES:
        raise Reject(f"Records[{i}] is {size} bytes (dimensions, measure name and measure values); the limit "
                     f"is {limits.MAX_RECORD_BYTES} bytes per record")
    return _Row(i, time_ns, measure_name, dims, values, types, 1 if version is None else version, magnetic, uses)


@functools.lru_cache(maxsize=4096)
def _names_ok(names: tuple[str, ...], max_bytes: int) -> bool:
    """True when every name is valid and none repeats: the common case, decided once per name list."""
    return len(set(names)) == len(names) and all(name_problem(n, max_bytes) is None for n in names)


def _check_dimensions(prefix: str, dims: Sequence[common_pb2.Dimension]) -> None:
    if len(dims) <= limits.MAX_DIMENSIONS_PER_RECORD and _names_ok(
            tuple(d.name for d in dims), limits.DIMENSION_NAME_MAX_BYTES):
        for j, dim in enumerate(dims):
            if not dim.value or dim.dimension_value_type not in ("", "VARCHAR"):
                break
        else:
            return
    if len(dims) > limits.MAX_DIMENSIONS_PER_RECORD:
        raise Reject(f"{prefix}.Dimensions has {len(dims)} dimensions; the limit is "
                     f"{limits.MAX_DIMENSIONS_PER_RECORD} per record")
    seen: set[str] = set()
    for j, dim in enumerate(dims):
        label = f"{prefix}.Dimensions[{j}]"
        check_name(f"{label}.Name", dim.name, limits.DIMENSION_NAME_MAX_BYTES)
        if dim.name in seen:
            raise Reject(f"{label}.Name {show(dim.name)} appears more than once in {prefix}.Dimensions")
        seen.add(dim.name)
        if not dim.value:
            raise Reject(f"{label}.Value may not be empty")
        if dim.dimension_value_type not in ("", "VARCHAR"):
            raise Reject(f"{label}.DimensionValueType {show(dim.dimension_value_type)} is invalid: "
                         "dimensions are VARCHAR")


def _check_value_type(label: str, value_type: str) -> None:
    if value_type == "TIMESTAMP":
        raise Reject(f"{label}: TIMESTAMP is an invalid measure value type (it is valid only inside MULTI "
                     "MeasureValues)")
    if value_type != "MULTI" and value_type not in limits.MEASURE_VALUE_TYPES:
        raise Reject(f"{label} {show(value_type)} is invalid: expected one of "
                     f"{', '.join(limits.MEASURE_VALUE_TYPES)} or MULTI")


def _unit_ns(label: str, unit: str) -> int:
    if unit not in limits.TIME_UNITS:
        raise Reject(f"{label} {show(unit)} is invalid: expected one of {', '.join(limits.TIME_UNITS)}")
    return limits.TIME_UNITS[unit]


def _time_ns(label: str, text: str, unit_ns: int) -> int:
    if not text:
        raise Reject(f"Invalid time for record. {label} is required")
    if not _INTEGER.match(text):
        raise Reject(f"Invalid time for record. {label} {show(text)} is not an integer")
    offset = int(text)
    if offset < 0:
        raise Reject(f"Invalid time for record. {label} {text} is negative; times before 1970-01-01 are not "
                     "supported")
    time_ns = offset * unit_ns
    if time_ns > INT64_MAX:
        raise Reject(f"Invalid time for record. {label} {show(text)} is after {iso(INT64_MAX)}, the latest "
                     "time that fits in 64-bit nanoseconds")
    return time_ns


def _check_measure_value_list(label: str, measure_values: Sequence[common_pb2.MeasureValue]) -> None:
    if (len(measure_values) <= limits.MAX_MEASURES_PER_MULTI_RECORD
            and _names_ok(tuple(mv.name for mv in measure_values), limits.MEASURE_NAME_MAX_BYTES)
            and all(mv.type in limits.MULTI_VALUE_TYPES for mv in measure_values)):
        return
    if len(measure_values) > limits.MAX_MEASURES_PER_MULTI_RECORD:
        raise Reject(f"{label} has {len(measure_values)} measure values; the limit is "
                     f"{limits.MAX_MEASURES_PER_MULTI_RECORD} per multi-measure record")
    seen: set[str] = set()
    for k, mv in enumerate(measure_values):
        check_name(f"{label}[{k}].Name", mv.name, limits.MEASURE_NAME_MAX_BYTES)
        if mv.name in seen:
            raise Reject(f"{label}[{k}].Name {show(mv.name)} appears more than once in {label}")
        seen.add(mv.name)
        if mv.type not in limits.MULTI_VALUE_TYPES:
            raise Reject(f"{label}[{k}].Type {show(mv.type)} is invalid: expected one of "
                         f"{', '.join(limits.MULTI_VALUE_TYPES)}")


def _multi_values(label: str, measure_values: Sequence[common_pb2.MeasureValue],
                  unit_ns: int) -> tuple[dict[str, Any], dict[str, str]]:
    if not measure_values:
        raise Reject(f"{label} is empty; a MULTI record needs 1 to {limits.MAX_MEASURES_PER_MULTI_RECORD} "
                     "measure values")
    _check_measure_value_list(label, measure_values)
    total = sum(len(mv.value.encode()) for mv in measure_values)
    if total > limits.MAX_MULTI_MEASURE_VALUE_BYTES:
        raise Reject(f"{label} values are {total} bytes; the limit is {limits.MAX_MULTI_MEASURE_VALUE_BYTES} "
                     "bytes per multi-measure record")
    values = {mv.name: parse_scalar(f"{label}[{k}].Value", mv.value, mv.type, unit_ns)
              for k, mv in enumerate(measure_values)}
    return values, {mv.name: mv.type for mv in measure_values}


def _assemble(rows: list[_Row], rejected: list[common_pb2.RejectedRecord],
              new_columns: dict[str, ColumnSpec]) -> Validated:
    types: dict[str, str] = {}
    for row in rows:
        types.update(row.types)
    dims = sorted({name for row in rows for name in row.dims})
    columns: dict[str, pa.Array] = {
        layout.TIME: pa.array([r.time_ns for r in rows], layout.TIME_TYPE),
        layout.MEASURE_NAME: pa.array([r.measure_name for r in rows], pa.string()),
    }
    for name in dims:
        columns[name] = pa.array([r.dims.get(name) for r in rows], pa.string())
    for name, type_name in types.items():
        columns[name] = pa.array([r.values.get(name) for r in rows], layout.ARROW_TYPES[type_name])
    return validated_from(
        columns, dims, list(types), pa.array([r.version for r in rows], pa.int64()),
        np.array([r.index for r in rows], dtype=np.int64), np.array([r.magnetic for r in rows], dtype=bool),
        rejected, new_columns,
    )
