from tessera.v1 import common_pb2 as _common_pb2
from tessera.v1 import storage_pb2 as _storage_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QueryRequest(_message.Message):
    __slots__ = ("query_string", "client_token", "next_token", "max_rows", "arrow_format", "allow_partial", "timeout_ms", "max_page_bytes", "query_insights")
    QUERY_STRING_FIELD_NUMBER: _ClassVar[int]
    CLIENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MAX_ROWS_FIELD_NUMBER: _ClassVar[int]
    ARROW_FORMAT_FIELD_NUMBER: _ClassVar[int]
    ALLOW_PARTIAL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_PAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    QUERY_INSIGHTS_FIELD_NUMBER: _ClassVar[int]
    query_string: str
    client_token: str
    next_token: str
    max_rows: int
    arrow_format: bool
    allow_partial: bool
    timeout_ms: int
    max_page_bytes: int
    query_insights: bool
    def __init__(self, query_string: _Optional[str] = ..., client_token: _Optional[str] = ..., next_token: _Optional[str] = ..., max_rows: _Optional[int] = ..., arrow_format: _Optional[bool] = ..., allow_partial: _Optional[bool] = ..., timeout_ms: _Optional[int] = ..., max_page_bytes: _Optional[int] = ..., query_insights: _Optional[bool] = ...) -> None: ...

class TableInsight(_message.Message):
    __slots__ = ("database_name", "table_name", "temporal_range_ns", "spatial_coverage", "partition_key")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPORAL_RANGE_NS_FIELD_NUMBER: _ClassVar[int]
    SPATIAL_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    PARTITION_KEY_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    table_name: str
    temporal_range_ns: int
    spatial_coverage: float
    partition_key: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, database_name: _Optional[str] = ..., table_name: _Optional[str] = ..., temporal_range_ns: _Optional[int] = ..., spatial_coverage: _Optional[float] = ..., partition_key: _Optional[_Iterable[str]] = ...) -> None: ...

class QueryInsights(_message.Message):
    __slots__ = ("tables", "output_rows", "output_bytes", "unload")
    TABLES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ROWS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    UNLOAD_FIELD_NUMBER: _ClassVar[int]
    tables: _containers.RepeatedCompositeFieldContainer[TableInsight]
    output_rows: int
    output_bytes: int
    unload: UnloadInsight
    def __init__(self, tables: _Optional[_Iterable[_Union[TableInsight, _Mapping]]] = ..., output_rows: _Optional[int] = ..., output_bytes: _Optional[int] = ..., unload: _Optional[_Union[UnloadInsight, _Mapping]] = ...) -> None: ...

class UnloadInsight(_message.Message):
    __slots__ = ("partition_count", "written_rows", "written_bytes")
    PARTITION_COUNT_FIELD_NUMBER: _ClassVar[int]
    WRITTEN_ROWS_FIELD_NUMBER: _ClassVar[int]
    WRITTEN_BYTES_FIELD_NUMBER: _ClassVar[int]
    partition_count: int
    written_rows: int
    written_bytes: int
    def __init__(self, partition_count: _Optional[int] = ..., written_rows: _Optional[int] = ..., written_bytes: _Optional[int] = ...) -> None: ...

class Datum(_message.Message):
    __slots__ = ("scalar_value", "null_value")
    SCALAR_VALUE_FIELD_NUMBER: _ClassVar[int]
    NULL_VALUE_FIELD_NUMBER: _ClassVar[int]
    scalar_value: str
    null_value: bool
    def __init__(self, scalar_value: _Optional[str] = ..., null_value: _Optional[bool] = ...) -> None: ...

class Row(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: _containers.RepeatedCompositeFieldContainer[Datum]
    def __init__(self, data: _Optional[_Iterable[_Union[Datum, _Mapping]]] = ...) -> None: ...

class ColumnInfo(_message.Message):
    __slots__ = ("name", "type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class QueryStatus(_message.Message):
    __slots__ = ("progress_percentage", "cumulative_bytes_scanned", "cumulative_bytes_metered")
    PROGRESS_PERCENTAGE_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_BYTES_SCANNED_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_BYTES_METERED_FIELD_NUMBER: _ClassVar[int]
    progress_percentage: float
    cumulative_bytes_scanned: int
    cumulative_bytes_metered: int
    def __init__(self, progress_percentage: _Optional[float] = ..., cumulative_bytes_scanned: _Optional[int] = ..., cumulative_bytes_metered: _Optional[int] = ...) -> None: ...

class QueryResponse(_message.Message):
    __slots__ = ("query_id", "next_token", "rows", "column_info", "query_status", "arrow_ipc", "partial", "partial_reasons", "insights")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLUMN_INFO_FIELD_NUMBER: _ClassVar[int]
    QUERY_STATUS_FIELD_NUMBER: _ClassVar[int]
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_REASONS_FIELD_NUMBER: _ClassVar[int]
    INSIGHTS_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    next_token: str
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    column_info: _containers.RepeatedCompositeFieldContainer[ColumnInfo]
    query_status: QueryStatus
    arrow_ipc: bytes
    partial: bool
    partial_reasons: _containers.RepeatedScalarFieldContainer[str]
    insights: QueryInsights
    def __init__(self, query_id: _Optional[str] = ..., next_token: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ..., column_info: _Optional[_Iterable[_Union[ColumnInfo, _Mapping]]] = ..., query_status: _Optional[_Union[QueryStatus, _Mapping]] = ..., arrow_ipc: _Optional[bytes] = ..., partial: _Optional[bool] = ..., partial_reasons: _Optional[_Iterable[str]] = ..., insights: _Optional[_Union[QueryInsights, _Mapping]] = ...) -> None: ...

class CancelQueryRequest(_message.Message):
    __slots__ = ("query_id",)
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    def __init__(self, query_id: _Optional[str] = ...) -> None: ...

class CancelQueryResponse(_message.Message):
    __slots__ = ("cancellation_message",)
    CANCELLATION_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    cancellation_message: str
    def __init__(self, cancellation_message: _Optional[str] = ...) -> None: ...

class CellScanRequest(_message.Message):
    __slots__ = ("table_id", "schema", "columns", "predicate", "start_ns", "end_ns", "allow_partial", "with_keys", "predicate_columns", "range_los", "dimension_in", "measure_names", "latest_per_series")
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    PREDICATE_FIELD_NUMBER: _ClassVar[int]
    START_NS_FIELD_NUMBER: _ClassVar[int]
    END_NS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_PARTIAL_FIELD_NUMBER: _ClassVar[int]
    WITH_KEYS_FIELD_NUMBER: _ClassVar[int]
    PREDICATE_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    RANGE_LOS_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_IN_FIELD_NUMBER: _ClassVar[int]
    MEASURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    LATEST_PER_SERIES_FIELD_NUMBER: _ClassVar[int]
    table_id: str
    schema: _containers.RepeatedCompositeFieldContainer[_common_pb2.Column]
    columns: _containers.RepeatedScalarFieldContainer[str]
    predicate: str
    start_ns: int
    end_ns: int
    allow_partial: bool
    with_keys: bool
    predicate_columns: _containers.RepeatedScalarFieldContainer[str]
    range_los: _containers.RepeatedScalarFieldContainer[int]
    dimension_in: _containers.RepeatedCompositeFieldContainer[_storage_pb2.ValueIn]
    measure_names: _containers.RepeatedScalarFieldContainer[str]
    latest_per_series: int
    def __init__(self, table_id: _Optional[str] = ..., schema: _Optional[_Iterable[_Union[_common_pb2.Column, _Mapping]]] = ..., columns: _Optional[_Iterable[str]] = ..., predicate: _Optional[str] = ..., start_ns: _Optional[int] = ..., end_ns: _Optional[int] = ..., allow_partial: _Optional[bool] = ..., with_keys: _Optional[bool] = ..., predicate_columns: _Optional[_Iterable[str]] = ..., range_los: _Optional[_Iterable[int]] = ..., dimension_in: _Optional[_Iterable[_Union[_storage_pb2.ValueIn, _Mapping]]] = ..., measure_names: _Optional[_Iterable[str]] = ..., latest_per_series: _Optional[int] = ...) -> None: ...

class CellQueryRequest(_message.Message):
    __slots__ = ("query_id", "query_string", "allow_partial", "routes")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_STRING_FIELD_NUMBER: _ClassVar[int]
    ALLOW_PARTIAL_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    query_string: str
    allow_partial: bool
    routes: _containers.RepeatedCompositeFieldContainer[TableEpoch]
    def __init__(self, query_id: _Optional[str] = ..., query_string: _Optional[str] = ..., allow_partial: _Optional[bool] = ..., routes: _Optional[_Iterable[_Union[TableEpoch, _Mapping]]] = ...) -> None: ...

class TableEpoch(_message.Message):
    __slots__ = ("database_name", "table_name", "epoch", "table_id")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    table_name: str
    epoch: int
    table_id: str
    def __init__(self, database_name: _Optional[str] = ..., table_name: _Optional[str] = ..., epoch: _Optional[int] = ..., table_id: _Optional[str] = ...) -> None: ...
