from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Dimension(_message.Message):
    __slots__ = ("name", "value", "dimension_value_type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_VALUE_TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    dimension_value_type: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., dimension_value_type: _Optional[str] = ...) -> None: ...

class MeasureValue(_message.Message):
    __slots__ = ("name", "value", "type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    type: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("dimensions", "measure_name", "measure_value", "measure_value_type", "time", "time_unit", "version", "measure_values")
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    MEASURE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEASURE_VALUE_FIELD_NUMBER: _ClassVar[int]
    MEASURE_VALUE_TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MEASURE_VALUES_FIELD_NUMBER: _ClassVar[int]
    dimensions: _containers.RepeatedCompositeFieldContainer[Dimension]
    measure_name: str
    measure_value: str
    measure_value_type: str
    time: str
    time_unit: str
    version: int
    measure_values: _containers.RepeatedCompositeFieldContainer[MeasureValue]
    def __init__(self, dimensions: _Optional[_Iterable[_Union[Dimension, _Mapping]]] = ..., measure_name: _Optional[str] = ..., measure_value: _Optional[str] = ..., measure_value_type: _Optional[str] = ..., time: _Optional[str] = ..., time_unit: _Optional[str] = ..., version: _Optional[int] = ..., measure_values: _Optional[_Iterable[_Union[MeasureValue, _Mapping]]] = ...) -> None: ...

class RejectedRecord(_message.Message):
    __slots__ = ("record_index", "reason", "existing_version")
    RECORD_INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXISTING_VERSION_FIELD_NUMBER: _ClassVar[int]
    record_index: int
    reason: str
    existing_version: int
    def __init__(self, record_index: _Optional[int] = ..., reason: _Optional[str] = ..., existing_version: _Optional[int] = ...) -> None: ...

class RecordsIngested(_message.Message):
    __slots__ = ("total", "memory_store", "magnetic_store")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_STORE_FIELD_NUMBER: _ClassVar[int]
    MAGNETIC_STORE_FIELD_NUMBER: _ClassVar[int]
    total: int
    memory_store: int
    magnetic_store: int
    def __init__(self, total: _Optional[int] = ..., memory_store: _Optional[int] = ..., magnetic_store: _Optional[int] = ...) -> None: ...

class ErrorDetail(_message.Message):
    __slots__ = ("error_id", "message", "routing_epoch", "rejected_records", "retry_after_ms")
    ERROR_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ROUTING_EPOCH_FIELD_NUMBER: _ClassVar[int]
    REJECTED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    error_id: str
    message: str
    routing_epoch: int
    rejected_records: _containers.RepeatedCompositeFieldContainer[RejectedRecord]
    retry_after_ms: int
    def __init__(self, error_id: _Optional[str] = ..., message: _Optional[str] = ..., routing_epoch: _Optional[int] = ..., rejected_records: _Optional[_Iterable[_Union[RejectedRecord, _Mapping]]] = ..., retry_after_ms: _Optional[int] = ...) -> None: ...

class Column(_message.Message):
    __slots__ = ("name", "kind", "type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    type: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class HashRange(_message.Message):
    __slots__ = ("lo", "hi", "cell", "readers")
    LO_FIELD_NUMBER: _ClassVar[int]
    HI_FIELD_NUMBER: _ClassVar[int]
    CELL_FIELD_NUMBER: _ClassVar[int]
    READERS_FIELD_NUMBER: _ClassVar[int]
    lo: int
    hi: int
    cell: str
    readers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, lo: _Optional[int] = ..., hi: _Optional[int] = ..., cell: _Optional[str] = ..., readers: _Optional[_Iterable[str]] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("node_id", "cell", "role", "zone", "address", "live")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CELL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    cell: str
    role: str
    zone: str
    address: str
    live: bool
    def __init__(self, node_id: _Optional[str] = ..., cell: _Optional[str] = ..., role: _Optional[str] = ..., zone: _Optional[str] = ..., address: _Optional[str] = ..., live: _Optional[bool] = ...) -> None: ...

class CellInfo(_message.Message):
    __slots__ = ("cell", "nodes", "table_count")
    CELL_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    TABLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    cell: str
    nodes: _containers.RepeatedCompositeFieldContainer[NodeInfo]
    table_count: int
    def __init__(self, cell: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[NodeInfo, _Mapping]]] = ..., table_count: _Optional[int] = ...) -> None: ...

class PartitionKey(_message.Message):
    __slots__ = ("type", "name", "enforcement_in_record")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENFORCEMENT_IN_RECORD_FIELD_NUMBER: _ClassVar[int]
    type: str
    name: str
    enforcement_in_record: str
    def __init__(self, type: _Optional[str] = ..., name: _Optional[str] = ..., enforcement_in_record: _Optional[str] = ...) -> None: ...

class TableRoute(_message.Message):
    __slots__ = ("database_name", "table_name", "table_id", "epoch", "ranges", "cells", "columns", "memory_retention_hours", "magnetic_retention_days", "magnetic_writes", "partition_key")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_RETENTION_HOURS_FIELD_NUMBER: _ClassVar[int]
    MAGNETIC_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    MAGNETIC_WRITES_FIELD_NUMBER: _ClassVar[int]
    PARTITION_KEY_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    table_name: str
    table_id: str
    epoch: int
    ranges: _containers.RepeatedCompositeFieldContainer[HashRange]
    cells: _containers.RepeatedCompositeFieldContainer[CellInfo]
    columns: _containers.RepeatedCompositeFieldContainer[Column]
    memory_retention_hours: int
    magnetic_retention_days: int
    magnetic_writes: bool
    partition_key: PartitionKey
    def __init__(self, database_name: _Optional[str] = ..., table_name: _Optional[str] = ..., table_id: _Optional[str] = ..., epoch: _Optional[int] = ..., ranges: _Optional[_Iterable[_Union[HashRange, _Mapping]]] = ..., cells: _Optional[_Iterable[_Union[CellInfo, _Mapping]]] = ..., columns: _Optional[_Iterable[_Union[Column, _Mapping]]] = ..., memory_retention_hours: _Optional[int] = ..., magnetic_retention_days: _Optional[int] = ..., magnetic_writes: _Optional[bool] = ..., partition_key: _Optional[_Union[PartitionKey, _Mapping]] = ...) -> None: ...
