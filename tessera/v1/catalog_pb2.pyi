from tessera.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RetentionProperties(_message.Message):
    __slots__ = ("memory_store_retention_period_in_hours", "magnetic_store_retention_period_in_days")
    MEMORY_STORE_RETENTION_PERIOD_IN_HOURS_FIELD_NUMBER: _ClassVar[int]
    MAGNETIC_STORE_RETENTION_PERIOD_IN_DAYS_FIELD_NUMBER: _ClassVar[int]
    memory_store_retention_period_in_hours: int
    magnetic_store_retention_period_in_days: int
    def __init__(self, memory_store_retention_period_in_hours: _Optional[int] = ..., magnetic_store_retention_period_in_days: _Optional[int] = ...) -> None: ...

class S3Configuration(_message.Message):
    __slots__ = ("bucket_name", "object_key_prefix", "encryption_option", "kms_key_id")
    BUCKET_NAME_FIELD_NUMBER: _ClassVar[int]
    OBJECT_KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_OPTION_FIELD_NUMBER: _ClassVar[int]
    KMS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    bucket_name: str
    object_key_prefix: str
    encryption_option: str
    kms_key_id: str
    def __init__(self, bucket_name: _Optional[str] = ..., object_key_prefix: _Optional[str] = ..., encryption_option: _Optional[str] = ..., kms_key_id: _Optional[str] = ...) -> None: ...

class MagneticStoreRejectedDataLocation(_message.Message):
    __slots__ = ("s3_configuration",)
    S3_CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    s3_configuration: S3Configuration
    def __init__(self, s3_configuration: _Optional[_Union[S3Configuration, _Mapping]] = ...) -> None: ...

class MagneticStoreWriteProperties(_message.Message):
    __slots__ = ("enable_magnetic_store_writes", "magnetic_store_rejected_data_location")
    ENABLE_MAGNETIC_STORE_WRITES_FIELD_NUMBER: _ClassVar[int]
    MAGNETIC_STORE_REJECTED_DATA_LOCATION_FIELD_NUMBER: _ClassVar[int]
    enable_magnetic_store_writes: bool
    magnetic_store_rejected_data_location: MagneticStoreRejectedDataLocation
    def __init__(self, enable_magnetic_store_writes: _Optional[bool] = ..., magnetic_store_rejected_data_location: _Optional[_Union[MagneticStoreRejectedDataLocation, _Mapping]] = ...) -> None: ...

class Schema(_message.Message):
    __slots__ = ("composite_partition_key",)
    COMPOSITE_PARTITION_KEY_FIELD_NUMBER: _ClassVar[int]
    composite_partition_key: _containers.RepeatedCompositeFieldContainer[_common_pb2.PartitionKey]
    def __init__(self, composite_partition_key: _Optional[_Iterable[_Union[_common_pb2.PartitionKey, _Mapping]]] = ...) -> None: ...

class Database(_message.Message):
    __slots__ = ("arn", "database_name", "table_count", "kms_key_id", "creation_time_ms", "last_updated_time_ms")
    ARN_FIELD_NUMBER: _ClassVar[int]
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    KMS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATED_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    arn: str
    database_name: str
    table_count: int
    kms_key_id: str
    creation_time_ms: int
    last_updated_time_ms: int
    def __init__(self, arn: _Optional[str] = ..., database_name: _Optional[str] = ..., table_count: _Optional[int] = ..., kms_key_id: _Optional[str] = ..., creation_time_ms: _Optional[int] = ..., last_updated_time_ms: _Optional[int] = ...) -> None: ...

class Table(_message.Message):
    __slots__ = ("arn", "table_name", "database_name", "table_status", "retention_properties", "magnetic_store_write_properties", "creation_time_ms", "last_updated_time_ms", "table_id", "columns", "schema")
    ARN_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_STATUS_FIELD_NUMBER: _ClassVar[int]
    RETENTION_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    MAGNETIC_STORE_WRITE_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATED_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    arn: str
    table_name: str
    database_name: str
    table_status: str
    retention_properties: RetentionProperties
    magnetic_store_write_properties: MagneticStoreWriteProperties
    creation_time_ms: int
    last_updated_time_ms: int
    table_id: str
    columns: _containers.RepeatedCompositeFieldContainer[_common_pb2.Column]
    schema: Schema
    def __init__(self, arn: _Optional[str] = ..., table_name: _Optional[str] = ..., database_name: _Optional[str] = ..., table_status: _Optional[str] = ..., retention_properties: _Optional[_Union[RetentionProperties, _Mapping]] = ..., magnetic_store_write_properties: _Optional[_Union[MagneticStoreWriteProperties, _Mapping]] = ..., creation_time_ms: _Optional[int] = ..., last_updated_time_ms: _Optional[int] = ..., table_id: _Optional[str] = ..., columns: _Optional[_Iterable[_Union[_common_pb2.Column, _Mapping]]] = ..., schema: _Optional[_Union[Schema, _Mapping]] = ...) -> None: ...

class Tag(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class CreateDatabaseRequest(_message.Message):
    __slots__ = ("database_name", "kms_key_id", "tags")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    KMS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    kms_key_id: str
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    def __init__(self, database_name: _Optional[str] = ..., kms_key_id: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ...) -> None: ...

class DescribeDatabaseRequest(_message.Message):
    __slots__ = ("database_name",)
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    def __init__(self, database_name: _Optional[str] = ...) -> None: ...

class UpdateDatabaseRequest(_message.Message):
    __slots__ = ("database_name", "kms_key_id")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    KMS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    kms_key_id: str
    def __init__(self, database_name: _Optional[str] = ..., kms_key_id: _Optional[str] = ...) -> None: ...

class DeleteDatabaseRequest(_message.Message):
    __slots__ = ("database_name",)
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    def __init__(self, database_name: _Optional[str] = ...) -> None: ...

class DatabaseResponse(_message.Message):
    __slots__ = ("database",)
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    database: Database
    def __init__(self, database: _Optional[_Union[Database, _Mapping]] = ...) -> None: ...

class ListDatabasesRequest(_message.Message):
    __slots__ = ("max_results", "next_token")
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    max_results: int
    next_token: str
    def __init__(self, max_results: _Optional[int] = ..., next_token: _Optional[str] = ...) -> None: ...

class ListDatabasesResponse(_message.Message):
    __slots__ = ("databases", "next_token")
    DATABASES_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    databases: _containers.RepeatedCompositeFieldContainer[Database]
    next_token: str
    def __init__(self, databases: _Optional[_Iterable[_Union[Database, _Mapping]]] = ..., next_token: _Optional[str] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateTableRequest(_message.Message):
    __slots__ = ("database_name", "table_name", "retention_properties", "magnetic_store_write_properties", "cells", "schema", "tags")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    RETENTION_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    MAGNETIC_STORE_WRITE_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    table_name: str
    retention_properties: RetentionProperties
    magnetic_store_write_properties: MagneticStoreWriteProperties
    cells: _containers.RepeatedScalarFieldContainer[str]
    schema: Schema
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    def __init__(self, database_name: _Optional[str] = ..., table_name: _Optional[str] = ..., retention_properties: _Optional[_Union[RetentionProperties, _Mapping]] = ..., magnetic_store_write_properties: _Optional[_Union[MagneticStoreWriteProperties, _Mapping]] = ..., cells: _Optional[_Iterable[str]] = ..., schema: _Optional[_Union[Schema, _Mapping]] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ...) -> None: ...

class DescribeTableRequest(_message.Message):
    __slots__ = ("database_name", "table_name")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    table_name: str
    def __init__(self, database_name: _Optional[str] = ..., table_name: _Optional[str] = ...) -> None: ...

class UpdateTableRequest(_message.Message):
    __slots__ = ("database_name", "table_name", "retention_properties", "magnetic_store_write_properties", "schema")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    RETENTION_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    MAGNETIC_STORE_WRITE_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    table_name: str
    retention_properties: RetentionProperties
    magnetic_store_write_properties: MagneticStoreWriteProperties
    schema: Schema
    def __init__(self, database_name: _Optional[str] = ..., table_name: _Optional[str] = ..., retention_properties: _Optional[_Union[RetentionProperties, _Mapping]] = ..., magnetic_store_write_properties: _Optional[_Union[MagneticStoreWriteProperties, _Mapping]] = ..., schema: _Optional[_Union[Schema, _Mapping]] = ...) -> None: ...

class DeleteTableRequest(_message.Message):
    __slots__ = ("database_name", "table_name")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    table_name: str
    def __init__(self, database_name: _Optional[str] = ..., table_name: _Optional[str] = ...) -> None: ...

class TableResponse(_message.Message):
    __slots__ = ("table",)
    TABLE_FIELD_NUMBER: _ClassVar[int]
    table: Table
    def __init__(self, table: _Optional[_Union[Table, _Mapping]] = ...) -> None: ...

class ListTablesRequest(_message.Message):
    __slots__ = ("database_name", "max_results", "next_token")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    max_results: int
    next_token: str
    def __init__(self, database_name: _Optional[str] = ..., max_results: _Optional[int] = ..., next_token: _Optional[str] = ...) -> None: ...

class ListTablesResponse(_message.Message):
    __slots__ = ("tables", "next_token")
    TABLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tables: _containers.RepeatedCompositeFieldContainer[Table]
    next_token: str
    def __init__(self, tables: _Optional[_Iterable[_Union[Table, _Mapping]]] = ..., next_token: _Optional[str] = ...) -> None: ...

class TagResourceRequest(_message.Message):
    __slots__ = ("resource_arn", "tags")
    RESOURCE_ARN_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    resource_arn: str
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    def __init__(self, resource_arn: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ...) -> None: ...

class UntagResourceRequest(_message.Message):
    __slots__ = ("resource_arn", "tag_keys")
    RESOURCE_ARN_FIELD_NUMBER: _ClassVar[int]
    TAG_KEYS_FIELD_NUMBER: _ClassVar[int]
    resource_arn: str
    tag_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, resource_arn: _Optional[str] = ..., tag_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class ListTagsForResourceRequest(_message.Message):
    __slots__ = ("resource_arn",)
    RESOURCE_ARN_FIELD_NUMBER: _ClassVar[int]
    resource_arn: str
    def __init__(self, resource_arn: _Optional[str] = ...) -> None: ...

class TagsResponse(_message.Message):
    __slots__ = ("tags",)
    TAGS_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    def __init__(self, tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ...) -> None: ...

class ResolveTableRequest(_message.Message):
    __slots__ = ("database_name", "table_name")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    table_name: str
    def __init__(self, database_name: _Optional[str] = ..., table_name: _Optional[str] = ...) -> None: ...

class RegisterColumnsRequest(_message.Message):
    __slots__ = ("table_id", "columns")
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    table_id: str
    columns: _containers.RepeatedCompositeFieldContainer[_common_pb2.Column]
    def __init__(self, table_id: _Optional[str] = ..., columns: _Optional[_Iterable[_Union[_common_pb2.Column, _Mapping]]] = ...) -> None: ...

class RegisterColumnsResponse(_message.Message):
    __slots__ = ("columns",)
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[_common_pb2.Column]
    def __init__(self, columns: _Optional[_Iterable[_Union[_common_pb2.Column, _Mapping]]] = ...) -> None: ...

class SplitTableRequest(_message.Message):
    __slots__ = ("database_name", "table_name", "cells")
    DATABASE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    database_name: str
    table_name: str
    cells: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, database_name: _Optional[str] = ..., table_name: _Optional[str] = ..., cells: _Optional[_Iterable[str]] = ...) -> None: ...

class RegisterNodeRequest(_message.Message):
    __slots__ = ("node", "ttl_seconds")
    NODE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    node: _common_pb2.NodeInfo
    ttl_seconds: int
    def __init__(self, node: _Optional[_Union[_common_pb2.NodeInfo, _Mapping]] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class RegisterNodeResponse(_message.Message):
    __slots__ = ("lease_id",)
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    lease_id: int
    def __init__(self, lease_id: _Optional[int] = ...) -> None: ...

class KeepAliveRequest(_message.Message):
    __slots__ = ("lease_id", "node", "ttl_seconds")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    lease_id: int
    node: _common_pb2.NodeInfo
    ttl_seconds: int
    def __init__(self, lease_id: _Optional[int] = ..., node: _Optional[_Union[_common_pb2.NodeInfo, _Mapping]] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class KeepAliveResponse(_message.Message):
    __slots__ = ("lease_id",)
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    lease_id: int
    def __init__(self, lease_id: _Optional[int] = ...) -> None: ...

class DeregisterNodeRequest(_message.Message):
    __slots__ = ("lease_id", "cell", "node_id")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    CELL_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    lease_id: int
    cell: str
    node_id: str
    def __init__(self, lease_id: _Optional[int] = ..., cell: _Optional[str] = ..., node_id: _Optional[str] = ...) -> None: ...

class RemoveNodeRequest(_message.Message):
    __slots__ = ("cell", "node_id", "force")
    CELL_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    cell: str
    node_id: str
    force: bool
    def __init__(self, cell: _Optional[str] = ..., node_id: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class RemoveNodeResponse(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: _common_pb2.NodeInfo
    def __init__(self, node: _Optional[_Union[_common_pb2.NodeInfo, _Mapping]] = ...) -> None: ...

class ListCellsRequest(_message.Message):
    __slots__ = ("cell",)
    CELL_FIELD_NUMBER: _ClassVar[int]
    cell: str
    def __init__(self, cell: _Optional[str] = ...) -> None: ...

class ListCellsResponse(_message.Message):
    __slots__ = ("cells",)
    CELLS_FIELD_NUMBER: _ClassVar[int]
    cells: _containers.RepeatedCompositeFieldContainer[_common_pb2.CellInfo]
    def __init__(self, cells: _Optional[_Iterable[_Union[_common_pb2.CellInfo, _Mapping]]] = ...) -> None: ...

class WatchTablesRequest(_message.Message):
    __slots__ = ("heartbeat_ms",)
    HEARTBEAT_MS_FIELD_NUMBER: _ClassVar[int]
    heartbeat_ms: int
    def __init__(self, heartbeat_ms: _Optional[int] = ...) -> None: ...

class TableEvent(_message.Message):
    __slots__ = ("kind", "table_id", "table", "revision")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[TableEvent.Kind]
        SNAPSHOT_BEGIN: _ClassVar[TableEvent.Kind]
        SNAPSHOT_TABLE: _ClassVar[TableEvent.Kind]
        SNAPSHOT_END: _ClassVar[TableEvent.Kind]
        CREATED: _ClassVar[TableEvent.Kind]
        UPDATED: _ClassVar[TableEvent.Kind]
        DELETED: _ClassVar[TableEvent.Kind]
        HEARTBEAT: _ClassVar[TableEvent.Kind]
    KIND_UNSPECIFIED: TableEvent.Kind
    SNAPSHOT_BEGIN: TableEvent.Kind
    SNAPSHOT_TABLE: TableEvent.Kind
    SNAPSHOT_END: TableEvent.Kind
    CREATED: TableEvent.Kind
    UPDATED: TableEvent.Kind
    DELETED: TableEvent.Kind
    HEARTBEAT: TableEvent.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    kind: TableEvent.Kind
    table_id: str
    table: Table
    revision: int
    def __init__(self, kind: _Optional[_Union[TableEvent.Kind, str]] = ..., table_id: _Optional[str] = ..., table: _Optional[_Union[Table, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class DescribeTableByIdRequest(_message.Message):
    __slots__ = ("table_id",)
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    table_id: str
    def __init__(self, table_id: _Optional[str] = ...) -> None: ...

class DescribeTableByIdResponse(_message.Message):
    __slots__ = ("table", "revision")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    table: Table
    revision: int
    def __init__(self, table: _Optional[_Union[Table, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class DescribeAccountSettingsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateAccountSettingsRequest(_message.Message):
    __slots__ = ("changes_json",)
    CHANGES_JSON_FIELD_NUMBER: _ClassVar[int]
    changes_json: str
    def __init__(self, changes_json: _Optional[str] = ...) -> None: ...

class AccountSettingsResponse(_message.Message):
    __slots__ = ("settings_json",)
    SETTINGS_JSON_FIELD_NUMBER: _ClassVar[int]
    settings_json: str
    def __init__(self, settings_json: _Optional[str] = ...) -> None: ...

class GatewayDocument(_message.Message):
    __slots__ = ("kind", "id", "json")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    kind: str
    id: str
    json: str
    def __init__(self, kind: _Optional[str] = ..., id: _Optional[str] = ..., json: _Optional[str] = ...) -> None: ...

class GetGatewayDocumentRequest(_message.Message):
    __slots__ = ("kind", "id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    kind: str
    id: str
    def __init__(self, kind: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class PutGatewayDocumentRequest(_message.Message):
    __slots__ = ("document", "expected_json")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_JSON_FIELD_NUMBER: _ClassVar[int]
    document: GatewayDocument
    expected_json: str
    def __init__(self, document: _Optional[_Union[GatewayDocument, _Mapping]] = ..., expected_json: _Optional[str] = ...) -> None: ...

class PutGatewayDocumentResponse(_message.Message):
    __slots__ = ("written", "current_json")
    WRITTEN_FIELD_NUMBER: _ClassVar[int]
    CURRENT_JSON_FIELD_NUMBER: _ClassVar[int]
    written: bool
    current_json: str
    def __init__(self, written: _Optional[bool] = ..., current_json: _Optional[str] = ...) -> None: ...

class ListGatewayDocumentsRequest(_message.Message):
    __slots__ = ("kind",)
    KIND_FIELD_NUMBER: _ClassVar[int]
    kind: str
    def __init__(self, kind: _Optional[str] = ...) -> None: ...

class ListGatewayDocumentsResponse(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[GatewayDocument]
    def __init__(self, documents: _Optional[_Iterable[_Union[GatewayDocument, _Mapping]]] = ...) -> None: ...

class Endpoint(_message.Message):
    __slots__ = ("address", "cache_period_in_minutes")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CACHE_PERIOD_IN_MINUTES_FIELD_NUMBER: _ClassVar[int]
    address: str
    cache_period_in_minutes: int
    def __init__(self, address: _Optional[str] = ..., cache_period_in_minutes: _Optional[int] = ...) -> None: ...

class DescribeEndpointsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeEndpointsResponse(_message.Message):
    __slots__ = ("endpoints",)
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    def __init__(self, endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ...) -> None: ...
