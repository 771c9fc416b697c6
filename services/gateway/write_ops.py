"""timestream-write's WriteRecords over the SDK's records path (the request's records are already the
boto3-shaped dicts the SDK takes)."""

from __future__ import annotations

from typing import Any

from services.gateway.context import Caller, Gateway, Operation


async def write_records(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    ingested = await gw.call("write", gw.client.write_records, p["DatabaseName"], p["TableName"], p["Records"],
                             p.get("CommonAttributes"))
    return {"RecordsIngested": {"Total": ingested.total, "MemoryStore": ingested.memory_store,
                                "MagneticStore": ingested.magnetic_store}}


OPERATIONS: dict[str, Operation] = {"WriteRecords": write_records}
