from tessera.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScanMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCAN_DATA: _ClassVar[ScanMode]
    SCAN_DIGEST: _ClassVar[ScanMode]
    SCAN_MERGE: _ClassVar[ScanMode]
SCAN_DATA: ScanMode
SCAN_DIGEST: ScanMode
SCAN_MERGE: ScanMode

class TileId(_message.Message):
    __slots__ = ("table_id", "range_lo", "bucket")
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    RANGE_LO_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    table_id: str
    range_lo: int
    bucket: int
    def __init__(self, table_id: _Optional[str] = ..., range_lo: _Optional[int] = ..., bucket: _Optional[int] = ...) -> None: ...

class AppendRequest(_message.Message):
    __slots__ = ("tile", "arrow_ipc")
    TILE_FIELD_NUMBER: _ClassVar[int]
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    tile: TileId
    arrow_ipc: bytes
    def __init__(self, tile: _Optional[_Union[TileId, _Mapping]] = ..., arrow_ipc: _Optional[bytes] = ...) -> None: ...

class AppendResponse(_message.Message):
    __slots__ = ("accepted", "rejected", "incomplete")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: _containers.RepeatedCompositeFieldContainer[_common_pb2.RejectedRecord]
    incomplete: bool
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[_common_pb2.RejectedRecord, _Mapping]]] = ..., incomplete: _Optional[bool] = ...) -> None: ...

class TileDigestsRequest(_message.Message):
    __slots__ = ("table_id", "min_bucket", "max_bucket", "slice_ns", "skip_active_s")
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_BUCKET_FIELD_NUMBER: _ClassVar[int]
    MAX_BUCKET_FIELD_NUMBER: _ClassVar[int]
    SLICE_NS_FIELD_NUMBER: _ClassVar[int]
    SKIP_ACTIVE_S_FIELD_NUMBER: _ClassVar[int]
    table_id: str
    min_bucket: int
    max_bucket: int
    slice_ns: int
    skip_active_s: float
    def __init__(self, table_id: _Optional[str] = ..., min_bucket: _Optional[int] = ..., max_bucket: _Optional[int] = ..., slice_ns: _Optional[int] = ..., skip_active_s: _Optional[float] = ...) -> None: ...

class SliceDigest(_message.Message):
    __slots__ = ("start_ns", "rows", "digest")
    START_NS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    start_ns: int
    rows: int
    digest: int
    def __init__(self, start_ns: _Optional[int] = ..., rows: _Optional[int] = ..., digest: _Optional[int] = ...) -> None: ...

class TileDigest(_message.Message):
    __slots__ = ("tile", "slices")
    TILE_FIELD_NUMBER: _ClassVar[int]
    SLICES_FIELD_NUMBER: _ClassVar[int]
    tile: TileId
    slices: _containers.RepeatedCompositeFieldContainer[SliceDigest]
    def __init__(self, tile: _Optional[_Union[TileId, _Mapping]] = ..., slices: _Optional[_Iterable[_Union[SliceDigest, _Mapping]]] = ...) -> None: ...

class RepairTilesRequest(_message.Message):
    __slots__ = ("table_id", "tiles")
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    TILES_FIELD_NUMBER: _ClassVar[int]
    table_id: str
    tiles: _containers.RepeatedCompositeFieldContainer[TileId]
    def __init__(self, table_id: _Optional[str] = ..., tiles: _Optional[_Iterable[_Union[TileId, _Mapping]]] = ...) -> None: ...

class RepairTilesResponse(_message.Message):
    __slots__ = ("rows_installed", "undecided")
    ROWS_INSTALLED_FIELD_NUMBER: _ClassVar[int]
    UNDECIDED_FIELD_NUMBER: _ClassVar[int]
    rows_installed: int
    undecided: int
    def __init__(self, rows_installed: _Optional[int] = ..., undecided: _Optional[int] = ...) -> None: ...

class TileDigestsResponse(_message.Message):
    __slots__ = ("tiles", "incomplete")
    TILES_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_FIELD_NUMBER: _ClassVar[int]
    tiles: _containers.RepeatedCompositeFieldContainer[TileDigest]
    incomplete: bool
    def __init__(self, tiles: _Optional[_Iterable[_Union[TileDigest, _Mapping]]] = ..., incomplete: _Optional[bool] = ...) -> None: ...

class ListTilesRequest(_message.Message):
    __slots__ = ("table_id", "min_bucket", "max_bucket")
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_BUCKET_FIELD_NUMBER: _ClassVar[int]
    MAX_BUCKET_FIELD_NUMBER: _ClassVar[int]
    table_id: str
    min_bucket: int
    max_bucket: int
    def __init__(self, table_id: _Optional[str] = ..., min_bucket: _Optional[int] = ..., max_bucket: _Optional[int] = ...) -> None: ...

class ListTilesResponse(_message.Message):
    __slots__ = ("tiles",)
    TILES_FIELD_NUMBER: _ClassVar[int]
    tiles: _containers.RepeatedCompositeFieldContainer[TileId]
    def __init__(self, tiles: _Optional[_Iterable[_Union[TileId, _Mapping]]] = ...) -> None: ...

class ScanRequest(_message.Message):
    __slots__ = ("tiles", "schema", "columns", "predicate", "start_ns", "end_ns", "mode", "table_id", "min_bucket", "max_bucket", "predicate_columns", "dimension_in", "measure_names", "latest_per_series")
    TILES_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    PREDICATE_FIELD_NUMBER: _ClassVar[int]
    START_NS_FIELD_NUMBER: _ClassVar[int]
    END_NS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_BUCKET_FIELD_NUMBER: _ClassVar[int]
    MAX_BUCKET_FIELD_NUMBER: _ClassVar[int]
    PREDICATE_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_IN_FIELD_NUMBER: _ClassVar[int]
    MEASURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    LATEST_PER_SERIES_FIELD_NUMBER: _ClassVar[int]
    tiles: _containers.RepeatedCompositeFieldContainer[TileId]
    schema: _containers.RepeatedCompositeFieldContainer[_common_pb2.Column]
    columns: _containers.RepeatedScalarFieldContainer[str]
    predicate: str
    start_ns: int
    end_ns: int
    mode: ScanMode
    table_id: str
    min_bucket: int
    max_bucket: int
    predicate_columns: _containers.RepeatedScalarFieldContainer[str]
    dimension_in: _containers.RepeatedCompositeFieldContainer[ValueIn]
    measure_names: _containers.RepeatedScalarFieldContainer[str]
    latest_per_series: int
    def __init__(self, tiles: _Optional[_Iterable[_Union[TileId, _Mapping]]] = ..., schema: _Optional[_Iterable[_Union[_common_pb2.Column, _Mapping]]] = ..., columns: _Optional[_Iterable[str]] = ..., predicate: _Optional[str] = ..., start_ns: _Optional[int] = ..., end_ns: _Optional[int] = ..., mode: _Optional[_Union[ScanMode, str]] = ..., table_id: _Optional[str] = ..., min_bucket: _Optional[int] = ..., max_bucket: _Optional[int] = ..., predicate_columns: _Optional[_Iterable[str]] = ..., dimension_in: _Optional[_Iterable[_Union[ValueIn, _Mapping]]] = ..., measure_names: _Optional[_Iterable[str]] = ..., latest_per_series: _Optional[int] = ...) -> None: ...

class ValueIn(_message.Message):
    __slots__ = ("column", "values")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    column: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, column: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class ScanChunk(_message.Message):
    __slots__ = ("arrow_ipc", "digest", "rows", "bytes_scanned", "last", "partial", "partial_reasons", "incomplete_tiles")
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_SCANNED_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_REASONS_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_TILES_FIELD_NUMBER: _ClassVar[int]
    arrow_ipc: bytes
    digest: int
    rows: int
    bytes_scanned: int
    last: bool
    partial: bool
    partial_reasons: _containers.RepeatedScalarFieldContainer[str]
    incomplete_tiles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, arrow_ipc: _Optional[bytes] = ..., digest: _Optional[int] = ..., rows: _Optional[int] = ..., bytes_scanned: _Optional[int] = ..., last: _Optional[bool] = ..., partial: _Optional[bool] = ..., partial_reasons: _Optional[_Iterable[str]] = ..., incomplete_tiles: _Optional[_Iterable[str]] = ...) -> None: ...

class MaintainRequest(_message.Message):
    __slots__ = ("flush_all", "compact", "expire", "set_clock", "clock_offset_ns")
    FLUSH_ALL_FIELD_NUMBER: _ClassVar[int]
    COMPACT_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_FIELD_NUMBER: _ClassVar[int]
    SET_CLOCK_FIELD_NUMBER: _ClassVar[int]
    CLOCK_OFFSET_NS_FIELD_NUMBER: _ClassVar[int]
    flush_all: bool
    compact: bool
    expire: bool
    set_clock: bool
    clock_offset_ns: int
    def __init__(self, flush_all: _Optional[bool] = ..., compact: _Optional[bool] = ..., expire: _Optional[bool] = ..., set_clock: _Optional[bool] = ..., clock_offset_ns: _Optional[int] = ...) -> None: ...

class MaintainResponse(_message.Message):
    __slots__ = ("flushed_rows", "flushed_segments", "compacted_segments", "expired_rows", "dropped_tables", "checkpoint_lsn", "memory_bytes")
    FLUSHED_ROWS_FIELD_NUMBER: _ClassVar[int]
    FLUSHED_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_ROWS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_TABLES_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_LSN_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    flushed_rows: int
    flushed_segments: int
    compacted_segments: int
    expired_rows: int
    dropped_tables: int
    checkpoint_lsn: int
    memory_bytes: int
    def __init__(self, flushed_rows: _Optional[int] = ..., flushed_segments: _Optional[int] = ..., compacted_segments: _Optional[int] = ..., expired_rows: _Optional[int] = ..., dropped_tables: _Optional[int] = ..., checkpoint_lsn: _Optional[int] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class ClaimColumnsRequest(_message.Message):
    __slots__ = ("table_id", "columns", "authoritative")
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    AUTHORITATIVE_FIELD_NUMBER: _ClassVar[int]
    table_id: str
    columns: _containers.RepeatedCompositeFieldContainer[_common_pb2.Column]
    authoritative: bool
    def __init__(self, table_id: _Optional[str] = ..., columns: _Optional[_Iterable[_Union[_common_pb2.Column, _Mapping]]] = ..., authoritative: _Optional[bool] = ...) -> None: ...

class ClaimColumnsResponse(_message.Message):
    __slots__ = ("columns", "incomplete")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[_common_pb2.Column]
    incomplete: bool
    def __init__(self, columns: _Optional[_Iterable[_Union[_common_pb2.Column, _Mapping]]] = ..., incomplete: _Optional[bool] = ...) -> None: ...

class ListClaimsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TableClaims(_message.Message):
    __slots__ = ("table_id", "columns")
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    table_id: str
    columns: _containers.RepeatedCompositeFieldContainer[_common_pb2.Column]
    def __init__(self, table_id: _Optional[str] = ..., columns: _Optional[_Iterable[_Union[_common_pb2.Column, _Mapping]]] = ...) -> None: ...

class ListClaimsResponse(_message.Message):
    __slots__ = ("tables",)
    TABLES_FIELD_NUMBER: _ClassVar[int]
    tables: _containers.RepeatedCompositeFieldContainer[TableClaims]
    def __init__(self, tables: _Optional[_Iterable[_Union[TableClaims, _Mapping]]] = ...) -> None: ...
