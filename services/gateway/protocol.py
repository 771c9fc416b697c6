"""The AWS JSON 1.0 protocol of timestream-write and timestream-query on one HTTP endpoint:

    POST /   X-Amz-Target: Timestream_20181101.<Operation>   Content-Type: application/x-amz-json-1.0

A request is authenticated (SigV4), its body validated against the operation's model, and handled; every
error is a JSON body ``{"__type": ..., "message": ...}`` with the status AWS uses, so SDKs raise the
modelled exception class and retry only what they would retry against AWS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from services.gateway import catalog_ops, model, query_ops, sigv4, write_ops
from services.gateway.context import Gateway, Operation
from services.gateway.shapes import Caller
from tessera import errors

log = structlog.get_logger()
CONTENT_TYPE = "application/x-amz-json-1.0"
MAX_BODY_BYTES = 8 << 20
OPERATIONS: dict[str, Operation] = {**catalog_ops.OPERATIONS, **write_ops.OPERATIONS, **query_ops.OPERATIONS}
LATER = {
    "CreateBatchLoadTask": "batch-load tasks", "DescribeBatchLoadTask": "batch-load tasks",
    "ListBatchLoadTasks": "batch-load tasks", "ResumeBatchLoadTask": "batch-load tasks",
    "CreateScheduledQuery": "scheduled queries", "DeleteScheduledQuery": "scheduled queries",
    "DescribeScheduledQuery": "scheduled queries", "ExecuteScheduledQuery": "scheduled queries",
    "ListScheduledQueries": "scheduled queries", "UpdateScheduledQuery": "scheduled queries",
}
"""Operations of the service models that Tessera answers with a clear ValidationException for now."""


class ApiError(Exception):
    """An error in AWS's terms: HTTP status, ``__type`` and message (plus modelled members, if any)."""

    def __init__(self, status: int, code: str, message: str, **members: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.members = status, code, message, members


def api_error(operation: str, exc: errors.TesseraError) -> ApiError:
    """The AWS error a Tessera error becomes, for ``operation``."""
    is_query = operation in ("Query", "PrepareQuery")
    if isinstance(exc, model.SerializationError):
        return ApiError(400, "SerializationException", exc.message)
    if isinstance(exc, errors.RejectedRecords):
        return ApiError(419, "RejectedRecordsException", exc.message, RejectedRecords=[
            {"RecordIndex": r.record_index, "Reason": r.reason,
             **({"ExistingVersion": r.existing_version} if r.HasField("existing_version") else {})}
            for r in exc.rejected_records])
    if isinstance(exc, errors.NotFound):  # the Query operation has no ResourceNotFoundException
        return ApiError(400, "ValidationException" if is_query else "ResourceNotFoundException", exc.message)
    if isinstance(exc, errors.Conflict):
        return ApiError(400, "ConflictException", exc.message)
    if isinstance(exc, errors.Throttled):
        return ApiError(400, "ThrottlingException", exc.message)
    if isinstance(exc, (errors.ValidationError, errors.FailedPrecondition)):
        return ApiError(400, "ValidationException", exc.message)
    if isinstance(exc, (errors.Cancelled, errors.DeadlineExceeded)) and is_query:
        return ApiError(400, "QueryExecutionException", exc.message)
    return ApiError(500, "InternalServerException", exc.message)  # retried by SDKs, as AWS's 500s are


def _reply(status: int, body: dict[str, Any], request_id: str) -> web.Response:
    return web.Response(status=status, body=json.dumps(body, separators=(",", ":")).encode(),
                        headers={"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id})


def _error_reply(err: ApiError, request_id: str) -> web.Response:
    # The modelled members sit at the top level of the body (RejectedRecords), beside __type and message.
    body = {"__type": f"com.amazonaws.timestream.v20181101#{err.code}", "message": err.message, **err.members}
    return _reply(err.status, body, request_id)


class Handler:
    """The gateway's one HTTP handler."""

    def __init__(self, gateway: Gateway, secrets: Callable[[], dict[str, str]],
                 regions: frozenset[str] | None) -> None:
        self._gateway = gateway
        self._secrets = secrets
        self._regions = regions

    async def __call__(self, request: web.Request) -> web.Response:
        request_id = str(uuid.uuid4())
        operation = ""
        try:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise ApiError(413, "ValidationException", f"The request body is larger than the limit of "
                               f"{MAX_BODY_BYTES} bytes") from None
            identity = self._authenticate(request, body)
            operation = self._operation(request)
            found = model.operation(operation)
            if found is None:
                raise ApiError(400, "UnknownOperationException", f"Operation {operation} is not part of "
                               "timestream-write or timestream-query (2018-11-01)")
            params = self._params(body)
            model.validate(found[1], params)
            if operation in LATER:
                raise ApiError(400, "ValidationException", f"{operation} is not supported by Tessera yet: "
                               f"{LATER[operation]} come with their own feature (see "
                               "docs/timestream-compatibility.md)")
            caller = Caller(identity.region, self._gateway.account_id, f"{request.scheme}://{request.host}")
            return _reply(200, await OPERATIONS[operation](self._gateway, caller, params), request_id)
        except ApiError as err:
            return _error_reply(err, request_id)
        except errors.TesseraError as exc:
            return _error_reply(api_error(operation, exc), request_id)
        except Exception as exc:  # the boundary: log it whole, answer a JSON 500 naming the cause
            log.exception("request_failed", operation=operation, request_id=request_id)
            return _error_reply(ApiError(500, "InternalServerException", f"{operation} failed: {exc!r}"), request_id)

    def _authenticate(self, request: web.Request, body: bytes) -> sigv4.Identity:
        try:
            return sigv4.verify(request.method, request.raw_path.split("?", 1)[0], request.query_string,
                                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers], body, self._secrets(), self._regions)
        except sigv4.AuthError as err:
            raise ApiError(err.status, err.code, err.message) from None

    @staticmethod
    def _operation(request: web.Request) -> str:
        if request.method != "POST" or request.path != "/":
            raise ApiError(404, "UnknownOperationException", "Timestream's API is POST / with an X-Amz-Target "
                           f"header; got {request.method} {request.path}")
        prefix, _, operation = request.headers.get("X-Amz-Target", "").partition(".")
        if prefix != model.TARGET_PREFIX or not operation:
            raise ApiError(400, "UnknownOperationException", "X-Amz-Target must be "
                           f"{model.TARGET_PREFIX}.<Operation>; got '{request.headers.get('X-Amz-Target', '')}'")
        return operation

    @staticmethod
    def _params(body: bytes) -> dict[str, Any]:
        if not body.strip():
            return {}
        try:
            params = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "SerializationException", f"The request body is not valid JSON: {exc}") from None
        if not isinstance(params, dict):
            raise ApiError(400, "SerializationException", "The request body must be a JSON object")
        return params


async def ping(request: web.Request) -> web.Response:
    """Liveness for load balancers and `tessera status` (no signature needed, nothing revealed)."""
    return web.Response(text="ok")


def application(handler: Handler) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_get("/ping", ping)
    app.router.add_route("*", "/{tail:.*}", handler)
    return app
