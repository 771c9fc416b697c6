"""timestream-write's catalog operations (databases, tables, endpoints) over the SDK's discovery calls."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from services.gateway.context import Caller, Gateway, Operation
from services.gateway.shapes import database, table
from tessera import errors

ENDPOINT_CACHE_MINUTES = 1440
HOSTNAME_ONLY_DISCOVERY = ("aws-sdk-js/3.",)
"""User-agent marks of SDKs whose endpoint discovery puts the Address in place of the host name alone,
keeping the scheme and port of the endpoint they were configured with (the AWS SDK for JavaScript v3's
endpoint-discovery middleware sets ``request.hostname = Address``)."""


async def create_database(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    db = await gw.call("catalog", gw.client.create_database, p["DatabaseName"], p.get("KmsKeyId", ""), p.get("Tags", ()))
    return {"Database": database(caller, db)}


async def describe_database(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    return {"Database": database(caller, await gw.call("catalog", gw.client.describe_database, p["DatabaseName"]))}


async def update_database(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    db = await gw.call("catalog", gw.client.update_database, p["DatabaseName"], p["KmsKeyId"])
    return {"Database": database(caller, db)}


async def delete_database(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    await gw.call("catalog", gw.client.delete_database, p["DatabaseName"])
    return {}


async def list_databases(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    dbs, token = await gw.call("catalog", gw.client.list_databases_page, p.get("MaxResults", 0), p.get("NextToken", ""))
    return {"Databases": [database(caller, d) for d in dbs], **({"NextToken": token} if token else {})}


def _table_properties(p: dict[str, Any]) -> dict[str, Any]:
    """The SDK's create_table/update_table arguments for the request's optional properties."""
    out: dict[str, Any] = {}
    retention = p.get("RetentionProperties")
    if retention is not None:
        out["memory_retention_hours"] = retention["MemoryStoreRetentionPeriodInHours"]
        out["magnetic_retention_days"] = retention["MagneticStoreRetentionPeriodInDays"]
    magnetic = p.get("MagneticStoreWriteProperties")
    if magnetic is not None:
        out["magnetic_writes"] = magnetic["EnableMagneticStoreWrites"]
        if magnetic.get("MagneticStoreRejectedDataLocation") is not None:
            out["rejected_data_location"] = magnetic["MagneticStoreRejectedDataLocation"]
    return out


async def create_table(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    kwargs = _table_properties(p)
    kwargs["tags"] = p.get("Tags", ())
    keys = (p.get("Schema") or {}).get("CompositePartitionKey")
    if keys:
        kwargs["partition_key"] = keys
    t = await gw.call("catalog", gw.client.create_table, p["DatabaseName"], p["TableName"], **kwargs)
    return {"Table": table(caller, t)}


async def describe_table(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    return {"Table": table(caller, await gw.call("catalog", gw.client.describe_table, p["DatabaseName"], p["TableName"]))}


async def update_table(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    kwargs = _table_properties(p)
    keys = (p.get("Schema") or {}).get("CompositePartitionKey")
    if keys is not None:
        current = await gw.call("catalog", gw.client.describe_table, p["DatabaseName"], p["TableName"])
        have = [(k.type, k.name) for k in current.schema.composite_partition_key] or [("MEASURE", "")]
        want = [(k.get("Type", ""), k.get("Name", "")) for k in keys]
        if len(keys) != 1 or want != have:
            raise errors.ValidationError("Schema.CompositePartitionKey cannot change after the table is created; "
                                         "only its EnforcementInRecord can")
        kwargs["partition_key_enforcement"] = keys[0].get("EnforcementInRecord", "")
    if not kwargs:
        raise errors.ValidationError("UpdateTable needs RetentionProperties, MagneticStoreWriteProperties or Schema")
    t = await gw.call("catalog", gw.client.update_table, p["DatabaseName"], p["TableName"], **kwargs)
    return {"Table": table(caller, t)}


async def delete_table(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    await gw.call("catalog", gw.client.delete_table, p["DatabaseName"], p["TableName"])
    return {}


async def list_tables(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    tables, token = await gw.call("catalog", gw.client.list_tables_page, p.get("DatabaseName", ""), p.get("MaxResults", 0),
                                  p.get("NextToken", ""))
    return {"Tables": [table(caller, t) for t in tables], **({"NextToken": token} if token else {})}


def _tag_list(tags: list[Any]) -> list[dict[str, str]]:
    return [{"Key": t.key, "Value": t.value} for t in tags]


async def tag_resource(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    await gw.call("catalog", gw.client.tag_resource, p["ResourceARN"], p["Tags"])
    return {}


async def untag_resource(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    await gw.call("catalog", gw.client.untag_resource, p["ResourceARN"], p["TagKeys"])
    return {}


async def list_tags_for_resource(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    return {"Tags": _tag_list(await gw.call("catalog", gw.client.list_tags, p["ResourceARN"]))}


def discovery_address(endpoint: str, user_agent: str) -> str:
    """The Address DescribeEndpoints gives this client for the gateway at ``endpoint`` (a URL).

    Timestream answers a bare host name and each SDK adds the rest, and they add it differently: botocore
    (boto3, the AWS CLI) and the AWS SDK for JavaScript v2 take an Address that starts with ``http`` as the
    whole URL and put ``https://`` before any other, so a plain-HTTP gateway or one on another port than 443
    must answer its URL; the JavaScript SDK v3 swaps only the host name of the endpoint it was configured
    with, so a URL there would become a host name that does not resolve. It gets the bare host."""
    if any(mark in user_agent for mark in HOSTNAME_ONLY_DISCOVERY):
        return urlsplit(endpoint).hostname or endpoint
    return endpoint


async def describe_endpoints(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    address = discovery_address(caller.endpoint, caller.user_agent)
    return {"Endpoints": [{"Address": address, "CachePeriodInMinutes": ENDPOINT_CACHE_MINUTES}]}


OPERATIONS: dict[str, Operation] = {
    "CreateDatabase": create_database, "DescribeDatabase": describe_database, "UpdateDatabase": update_database,
    "DeleteDatabase": delete_database, "ListDatabases": list_databases, "CreateTable": create_table,
    "DescribeTable": describe_table, "UpdateTable": update_table, "DeleteTable": delete_table,
    "ListTables": list_tables, "DescribeEndpoints": describe_endpoints, "TagResource": tag_resource,
    "UntagResource": untag_resource, "ListTagsForResource": list_tags_for_resource,
}
