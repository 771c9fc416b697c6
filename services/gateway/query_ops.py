"""timestream-query's operations: Query (typed pages that any gateway can continue), CancelQuery,
PrepareQuery, and the account settings."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from services.gateway import results
from services.gateway.context import Gateway, Operation
from services.gateway.shapes import Caller
from services.query.results import PAGE_BYTES
from tessera import arrowipc, errors

_PARAMETER = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_METADATA = re.compile(r"^\s*(SHOW|DESCRIBE)\b", re.IGNORECASE)


def _token(coordinator: str, inner: str) -> str:
    """A gateway NextToken: the coordinator holding the result and its own token, so that any gateway
    instance can fetch the next page (the SDK refuses an address that is not a registered coordinator)."""
    return base64.urlsafe_b64encode(json.dumps([coordinator, inner]).encode()).decode()


def _untoken(token: str) -> tuple[str, str]:
    try:
        coordinator, inner = json.loads(base64.urlsafe_b64decode(token.encode()))
        if isinstance(coordinator, str) and isinstance(inner, str):
            return coordinator, inner
    except (ValueError, binascii.Error, TypeError):
        pass
    raise errors.ValidationError("Invalid pagination token: NextToken was not produced by a Query of this "
                                 "cluster")


async def query(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    sql, token = p["QueryString"], p.get("NextToken", "")
    coordinator, inner = _untoken(token) if token else ("", "")
    page, coordinator = await gw.call(gw.client.query_page, sql, inner, coordinator, max_rows=p.get("MaxRows", 0),
                                      arrow=True, query_id=p.get("ClientToken", ""), max_page_bytes=PAGE_BYTES)
    table = arrowipc.from_ipc(page.arrow_ipc)
    status = page.query_status
    out: dict[str, Any] = {
        "QueryId": page.query_id, "Rows": results.rows(table), "ColumnInfo": results.column_info(table.schema),
        "QueryStatus": {"ProgressPercentage": status.progress_percentage,
                        "CumulativeBytesScanned": status.cumulative_bytes_scanned,
                        "CumulativeBytesMetered": status.cumulative_bytes_metered}}
    if page.next_token:
        out["NextToken"] = _token(coordinator, page.next_token)
    return out


async def cancel_query(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    return {"CancellationMessage": await gw.call(gw.client.cancel_query, p["QueryId"])}


async def prepare_query(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    """Validate a query and describe its result columns (it runs with LIMIT 0) and its parameters: Tessera
    knows only the scheduled-query parameter @scheduled_runtime (a TIMESTAMP)."""
    sql: str = p["QueryString"]
    if p.get("ValidateOnly") is False:
        raise errors.ValidationError("PrepareQuery with ValidateOnly=false (a stored prepared query) is not "
                                     "supported: pass ValidateOnly=true")
    names = sorted(set(_PARAMETER.findall(sql)))
    unknown = [n for n in names if n != "scheduled_runtime"]
    if unknown:
        raise errors.ValidationError(f"Unknown query parameter @{unknown[0]}: the only parameter is "
                                     "@scheduled_runtime")
    probe = sql.replace("@scheduled_runtime", "now()")
    if not _METADATA.match(probe):
        probe = f"SELECT * FROM ({probe.rstrip().rstrip(';')}) AS prepared LIMIT 0"
    page, _ = await gw.call(gw.client.query_page, probe, arrow=True, max_rows=1)
    schema = arrowipc.from_ipc(page.arrow_ipc).schema
    return {"QueryString": sql,
            "Columns": [{"Name": c["Name"], "Type": c["Type"], "Aliased": False} for c in results.column_info(schema)],
            "Parameters": [{"Name": f"@{n}", "Type": {"ScalarType": "TIMESTAMP"}} for n in names]}


DEFAULT_SETTINGS: dict[str, Any] = {"QueryPricingModel": "BYTES_SCANNED", "MaxQueryTCU": 0}


def _settings(gw: Gateway) -> dict[str, Any]:
    if gw.settings_path is not None and gw.settings_path.exists():
        return {**DEFAULT_SETTINGS, **json.loads(gw.settings_path.read_text())}
    return dict(DEFAULT_SETTINGS)


async def describe_account_settings(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    return _settings(gw)


async def update_account_settings(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    """Kept and echoed (they are billing settings: Tessera meters bytes scanned but bills nothing)."""
    settings = _settings(gw)
    settings.update({k: p[k] for k in ("MaxQueryTCU", "QueryPricingModel", "QueryCompute") if k in p})
    if gw.settings_path is None:
        raise errors.ValidationError("this gateway was started without --state-dir: account settings cannot be "
                                     "kept")
    tmp = gw.settings_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings))
    tmp.replace(gw.settings_path)
    return settings


OPERATIONS: dict[str, Operation] = {
    "Query": query, "CancelQuery": cancel_query, "PrepareQuery": prepare_query,
    "DescribeAccountSettings": describe_account_settings, "UpdateAccountSettings": update_account_settings,
}
