"""Catalog messages in Timestream's JSON shapes (DescribeDatabase, DescribeTable, ...), and ARNs.

The catalog names resources with a neutral ARN prefix; the gateway answers with the partition, region and
account of the request (the region it was signed for, the account id from the gateway's configuration)."""

from __future__ import annotations

from typing import Any

from services.gateway.context import Caller
from tessera import arns
from tessera.v1 import catalog_pb2


def arn(caller: Caller, resource: str) -> str:
    return f"arn:aws:timestream:{caller.region}:{caller.account_id}:{resource}"


def _seconds(ms: int) -> float:
    return ms / 1000.0


def database(caller: Caller, db: catalog_pb2.Database) -> dict[str, Any]:
    out: dict[str, Any] = {"Arn": arn(caller, arns.resource(db.arn)), "DatabaseName": db.database_name,
                           "TableCount": db.table_count, "CreationTime": _seconds(db.creation_time_ms),
                           "LastUpdatedTime": _seconds(db.last_updated_time_ms)}
    if db.kms_key_id:  # Timestream names its own service key here; Tessera has none, so it is left out
        out["KmsKeyId"] = db.kms_key_id
    return out


def table(caller: Caller, t: catalog_pb2.Table) -> dict[str, Any]:
    r = t.retention_properties
    m = t.magnetic_store_write_properties
    magnetic: dict[str, Any] = {"EnableMagneticStoreWrites": m.enable_magnetic_store_writes}
    s3 = m.magnetic_store_rejected_data_location.s3_configuration
    if s3.bucket_name or s3.object_key_prefix or s3.encryption_option or s3.kms_key_id:
        magnetic["MagneticStoreRejectedDataLocation"] = {"S3Configuration": {k: v for k, v in (
            ("BucketName", s3.bucket_name), ("ObjectKeyPrefix", s3.object_key_prefix),
            ("EncryptionOption", s3.encryption_option), ("KmsKeyId", s3.kms_key_id)) if v}}
    keys = [{k: v for k, v in (("Type", p.type), ("Name", p.name), ("EnforcementInRecord", p.enforcement_in_record))
             if v} for p in t.schema.composite_partition_key] or [{"Type": "MEASURE"}]
    return {"Arn": arn(caller, arns.resource(t.arn)), "TableName": t.table_name, "DatabaseName": t.database_name,
            "TableStatus": t.table_status or "ACTIVE",
            "RetentionProperties": {"MemoryStoreRetentionPeriodInHours": r.memory_store_retention_period_in_hours,
                                    "MagneticStoreRetentionPeriodInDays": r.magnetic_store_retention_period_in_days},
            "CreationTime": _seconds(t.creation_time_ms), "LastUpdatedTime": _seconds(t.last_updated_time_ms),
            "MagneticStoreWriteProperties": magnetic, "Schema": {"CompositePartitionKey": keys}}
