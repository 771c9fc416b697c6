from tessera.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WriteRecordsRequest(_message.Message):
    __slots__ = ("database_name", "table_name", "common_attributes", "records", "routing_epoch", "records_arrow", "routing_table_id")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    COMMON_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    ROUTING_EPOCH_FIELD_NUMBER: _ClassVar[int]
    RECORDS_ARROW_FIELD_NUMBER: _ClassVar[int]
    ROUTING_TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    table_name: str
    common_attributes: _common_pb2.Record
    records: _containers.RepeatedCompositeFieldContainer[_common_pb2.Record]
    routing_epoch: int
    records_arrow: bytes
    routing_table_id: str
    def __init__(self, database_name: _Optional[str] = ..., table_name: _Optional[str] = ..., common_attributes: _Optional[_Union[_common_pb2.Record, _Mapping]] = ..., records: _Optional[_Iterable[_Union[_common_pb2.Record, _Mapping]]] = ..., routing_epoch: _Optional[int] = ..., records_arrow: _Optional[bytes] = ..., routing_table_id: _Optional[str] = ...) -> None: ...

class WriteRecordsResponse(_message.Message):
    __slots__ = ("records_ingested", "rejected_records")
    RECORDS_INGESTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    records_ingested: _common_pb2.RecordsIngested
    rejected_records: _containers.RepeatedCompositeFieldContainer[_common_pb2.RejectedRecord]
    def __init__(self, records_ingested: _Optional[_Union[_common_pb2.RecordsIngested, _Mapping]] = ..., rejected_records: _Optional[_Iterable[_Union[_common_pb2.RejectedRecord, _Mapping]]] = ...) -> None: ...

class WriteBatchRequest(_message.Message):
    __slots__ = ("database_name", "table_name", "arrow_ipc", "time_column", "time_unit", "dimension_columns", "measure_name_column", "measure_name", "version_column", "routing_epoch", "routing_table_id")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    TIME_COLUMN_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIT_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    MEASURE_NAME_COLUMN_FIELD_NUMBER: _ClassVar[int]
    MEASURE_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_COLUMN_FIELD_NUMBER: _ClassVar[int]
    ROUTING_EPOCH_FIELD_NUMBER: _ClassVar[int]
    ROUTING_TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    table_name: str
    arrow_ipc: bytes
    time_column: str
    time_unit: str
    dimension_columns: _containers.RepeatedScalarFieldContainer[str]
    measure_name_column: str
    measure_name: str
    version_column: str
    routing_epoch: int
    routing_table_id: str
    def __init__(self, database_name: _Optional[str] = ..., table_name: _Optional[str] = ..., arrow_ipc: _Optional[bytes] = ..., time_column: _Optional[str] = ..., time_unit: _Optional[str] = ..., dimension_columns: _Optional[_Iterable[str]] = ..., measure_name_column: _Optional[str] = ..., measure_name: _Optional[str] = ..., version_column: _Optional[str] = ..., routing_epoch: _Optional[int] = ..., routing_table_id: _Optional[str] = ...) -> None: ...

class WriteBatchResponse(_message.Message):
    __slots__ = ("records_ingested", "rejected_records")
    RECORDS_INGESTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    records_ingested: _common_pb2.RecordsIngested
    rejected_records: _containers.RepeatedCompositeFieldContainer[_common_pb2.RejectedRecord]
    def __init__(self, records_ingested: _Optional[_Union[_common_pb2.RecordsIngested, _Mapping]] = ..., rejected_records: _Optional[_Iterable[_Union[_common_pb2.RejectedRecord, _Mapping]]] = ...) -> None: ...
