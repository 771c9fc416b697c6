"""timestream-query's operations: Query (typed pages that any gateway can continue), CancelQuery,
PrepareQuery, and the account settings."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from typing import Any

import sqlglot
from sqlglot import exp

from services.gateway import results, shapes
from services.gateway.context import QUERY_TIMEOUT_MS, Caller, Gateway, JsonText, Operation
from services.query.dialect import Timestream
from services.query.results import PAGE_BYTES, aws_column_info
from tessera import arrowipc, errors
from tessera.v1 import query_pb2

_PARAMETER = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_LITERAL = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")")  # string literals and quoted names
_METADATA = re.compile(r"^\s*(SHOW|DESCRIBE)\b", re.IGNORECASE)


def _mac(key: bytes, coordinator: str, inner: str) -> str:
    return hmac.new(key, f"{coordinator}\n{inner}".encode(), hashlib.sha256).hexdigest()[:32]


def _token(caller: Caller, coordinator: str, inner: str) -> str:
    """A gateway NextToken: the coordinator holding the result and its own token, so that any gateway
    instance can fetch the next page, sealed with a key derived from the signer's secret (every gateway knows
    it; another access key cannot use the token, as AWS binds tokens to the caller)."""
    payload = [coordinator, inner, _mac(caller.token_key, coordinator, inner)]
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _untoken(caller: Caller, token: str) -> tuple[str, str]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, RecursionError):
        decoded = None
    if (isinstance(decoded, list) and len(decoded) == 3 and all(isinstance(x, str) for x in decoded)
            and hmac.compare_digest(decoded[2], _mac(caller.token_key, decoded[0], decoded[1]))):
        return decoded[0], decoded[1]
    raise errors.ValidationError("Invalid pagination token: NextToken was not produced by a Query of this "
                                 "cluster for this access key")


async def query(gw: Gateway, caller: Caller, p: dict[str, Any]) -> JsonText:
    sql, token = p["QueryString"], p.get("NextToken", "")
    coordinator, inner = _untoken(caller, token) if token else ("", "")
    insights = not token and p.get("QueryInsights", {}).get("Mode") == "ENABLED_WITH_RATE_CONTROL"
    if insights:
        gw.insights_rate.take()
    page, coordinator = await gw.call("query", gw.client.query_page, sql, inner, coordinator,
                                      max_rows=p.get("MaxRows", 0), arrow=True, query_id=p.get("ClientToken", ""),
                                      max_page_bytes=PAGE_BYTES, timeout_ms=QUERY_TIMEOUT_MS, insights=insights)
    table = arrowipc.from_ipc(page.arrow_ipc)
    status = page.query_status
    out: dict[str, Any] = {
        "QueryId": page.query_id, "ColumnInfo": aws_column_info(table.schema),
        "QueryStatus": {"ProgressPercentage": status.progress_percentage,
                        "CumulativeBytesScanned": status.cumulative_bytes_scanned,
                        "CumulativeBytesMetered": status.cumulative_bytes_metered}}
    if page.next_token:
        out["NextToken"] = _token(caller, coordinator, page.next_token)
    if insights:
        out["QueryInsightsResponse"] = _insights_response(caller, page.insights)
    head = json.dumps(out, separators=(",", ":"))  # a non-empty object: its closing brace makes room for Rows
    return JsonText(f'{head[:-1]},"Rows":{results.rows_json(table)}}}')


def _insights_response(caller: Caller, insights: query_pb2.QueryInsights) -> dict[str, Any]:
    """Timestream's QueryInsightsResponse: the table read with the widest span of time and the one with the
    largest share of its partitions, the number of tables, and the result's size."""
    out: dict[str, Any] = {"QueryTableCount": len(insights.tables), "OutputRows": insights.output_rows,
                           "OutputBytes": insights.output_bytes}
    if insights.HasField("unload"):
        out |= {"UnloadPartitionCount": insights.unload.partition_count,
                "UnloadWrittenRows": insights.unload.written_rows, "UnloadWrittenBytes": insights.unload.written_bytes}
    if insights.tables:
        def table_arn(t: query_pb2.TableInsight) -> str:
            return shapes.arn(caller, f"database/{t.database_name}/table/{t.table_name}")

        widest = max(insights.tables, key=lambda t: t.temporal_range_ns)
        spread = max(insights.tables, key=lambda t: t.spatial_coverage)
        out["QueryTemporalRange"] = {"Max": {"Value": widest.temporal_range_ns, "TableArn": table_arn(widest)}}
        out["QuerySpatialCoverage"] = {"Max": {"Value": spread.spatial_coverage, "TableArn": table_arn(spread),
                                               "PartitionKey": list(spread.partition_key)}}
    return out


async def cancel_query(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    return {"CancellationMessage": await gw.call("query", gw.client.cancel_query, p["QueryId"])}


async def prepare_query(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    """Validate a query and describe its result columns (it runs with LIMIT 0) and its parameters: Tessera
    knows only the scheduled-query parameter @scheduled_runtime (a TIMESTAMP). ``ValidateOnly=false`` asks
    Timestream to also keep the prepared query for a later scheduled query; no operation reads one back, so
    the answer is the same and nothing is kept."""
    sql: str = p["QueryString"]
    outside_literals = _LITERAL.split(sql)[::2]  # split keeps the literals at odd positions
    names = sorted({n for part in outside_literals for n in _PARAMETER.findall(part)})
    unknown = [n for n in names if n != "scheduled_runtime"]
    if unknown:
        raise errors.ValidationError(f"Unknown query parameter @{unknown[0]}: the only parameter is "
                                     "@scheduled_runtime")
    pieces = _LITERAL.split(sql)
    probe = "".join(piece if i % 2 else piece.replace("@scheduled_runtime", "now()") for i, piece in enumerate(pieces))
    if not _METADATA.match(probe):  # newlines: a trailing -- comment must not swallow the wrapper
        probe = f"SELECT * FROM (\n{probe.rstrip().rstrip(';')}\n) AS prepared LIMIT 0"
    page, _ = await gw.call("query", gw.client.query_page, probe, arrow=True, timeout_ms=QUERY_TIMEOUT_MS)
    columns = aws_column_info(arrowipc.from_ipc(page.arrow_ipc).schema)
    aliased = [False] * len(columns) if _METADATA.match(probe) else _aliased(probe, len(columns))
    return {"QueryString": sql,
            "Columns": [{"Name": c["Name"], "Type": c["Type"], "Aliased": a} for c, a in zip(columns, aliased)],
            "Parameters": [{"Name": f"@{n}", "Type": {"ScalarType": "TIMESTAMP"}} for n in names]}


def _aliased(sql: str, count: int) -> list[bool]:
    """Per result column, whether the query names it with ``AS`` (PrepareQuery's ``Aliased``): read from the
    select list of the outermost query (the first SELECT of a set operation); a ``*`` stands for the
    columns the others leave, and a select list that cannot be matched to the columns counts none."""
    try:
        tree = sqlglot.parse_one(sql, read=Timestream)
    except sqlglot.errors.SqlglotError:
        return [False] * count
    while isinstance(tree, exp.Subquery) or (isinstance(tree, exp.Select) and _wrapper(tree)):
        tree = tree.this if isinstance(tree, exp.Subquery) else tree.args["from_"].this
    while isinstance(tree, exp.SetOperation):
        tree = tree.this
    if not isinstance(tree, exp.Select):
        return [False] * count
    stars = [e for e in tree.expressions if e.is_star]
    if len(tree.expressions) - len(stars) > count or len(stars) > 1 or (not stars and len(tree.expressions) != count):
        return [False] * count
    out: list[bool] = []
    for e in tree.expressions:
        out.extend([False] * (count - len(tree.expressions) + 1) if e.is_star else [isinstance(e, exp.Alias)])
    return out


def _wrapper(select: exp.Select) -> bool:
    """Whether ``select`` is prepare_query's own ``SELECT * FROM (…) AS prepared LIMIT 0``."""
    source = select.args.get("from_")
    return (source is not None and isinstance(source.this, exp.Subquery) and source.this.alias == "prepared"
            and len(select.expressions) == 1 and select.expressions[0].is_star)


DEFAULT_SETTINGS: dict[str, Any] = {"QueryPricingModel": "BYTES_SCANNED", "MaxQueryTCU": 0}


def _account_settings(kept: dict[str, Any]) -> dict[str, Any]:
    """The settings as the API answers them: the defaults under what was set, and QueryCompute in its
    response shape (a provisioned capacity is active at once: its last update SUCCEEDED)."""
    settings = {**DEFAULT_SETTINGS, **kept}
    compute = settings.get("QueryCompute")
    if isinstance(compute, dict) and isinstance(compute.get("ProvisionedCapacity"), dict):
        requested = compute["ProvisionedCapacity"]
        capacity: dict[str, Any] = {}
        if "TargetQueryTCU" in requested:
            capacity["ActiveQueryTCU"] = requested["TargetQueryTCU"]
        if "NotificationConfiguration" in requested:
            capacity["NotificationConfiguration"] = requested["NotificationConfiguration"]
        capacity["LastUpdate"] = {**({"TargetQueryTCU": requested["TargetQueryTCU"]}
                                     if "TargetQueryTCU" in requested else {}), "Status": "SUCCEEDED"}
        settings["QueryCompute"] = {**compute, "ProvisionedCapacity": capacity}
    return settings


async def describe_account_settings(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    """Kept in the catalog, so every gateway answers the same."""
    return _account_settings(await gw.call("catalog", gw.client.describe_account_settings))


def _check_tcu(value: Any, member: str) -> None:
    if not isinstance(value, int) or not 4 <= value <= 1000 or value % 4:
        raise errors.ValidationError(f"{member} {value} must be a multiple of 4 from 4 to 1000")


async def update_account_settings(gw: Gateway, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    """Kept and echoed (they are billing settings: Tessera meters bytes scanned but bills nothing), with
    Timestream's rules: compute units in multiples of 4 from 4 to 1000, and no way back from COMPUTE_UNITS."""
    changes = {k: p[k] for k in ("MaxQueryTCU", "QueryPricingModel", "QueryCompute") if k in p}
    if "MaxQueryTCU" in changes:
        _check_tcu(changes["MaxQueryTCU"], "MaxQueryTCU")
    target = ((changes.get("QueryCompute") or {}).get("ProvisionedCapacity") or {}).get("TargetQueryTCU")
    if target is not None:
        _check_tcu(target, "QueryCompute.ProvisionedCapacity.TargetQueryTCU")
    if changes.get("QueryPricingModel") == "BYTES_SCANNED":
        current = await gw.call("catalog", gw.client.describe_account_settings)
        if current.get("QueryPricingModel") == "COMPUTE_UNITS":
            raise errors.ValidationError("QueryPricingModel cannot go back from COMPUTE_UNITS to BYTES_SCANNED: the "
                                         "switch to compute units is one-way")
    return _account_settings(await gw.call("catalog", gw.client.update_account_settings, changes))


OPERATIONS: dict[str, Operation] = {
    "Query": query, "CancelQuery": cancel_query, "PrepareQuery": prepare_query,
    "DescribeAccountSettings": describe_account_settings, "UpdateAccountSettings": update_account_settings,
}
