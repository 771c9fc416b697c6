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

from services.gateway import batch_load, catalog_ops, model, query_ops, sigv4, write_ops
from services.gateway.context import Caller, Gateway, JsonText, Operation
from tessera import errors

log = structlog.get_logger()
CONTENT_TYPE = "application/x-amz-json-1.0"
MAX_BODY_BYTES = 8 << 20
OPERATIONS: dict[str, Operation] = {**catalog_ops.OPERATIONS, **write_ops.OPERATIONS, **batch_load.OPERATIONS,
                                    **query_ops.OPERATIONS}
LATER = {op: feature for feature, ops in {
    "scheduled queries": ("CreateScheduledQuery", "DeleteScheduledQuery", "DescribeScheduledQuery",
                          "ExecuteScheduledQuery", "ListScheduledQueries", "UpdateScheduledQuery"),
}.items() for op in ops}
"""Operations of the service models that Tessera answers with a clear ValidationException for now."""


class ApiError(Exception):
    """An error in AWS's terms: HTTP status, ``__type`` and message (plus modelled members, if any)."""

    def __init__(self, status: int, code: str, message: str, **members: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.members = status, code, message, members


QUERY_OPERATIONS = frozenset({"Query", "PrepareQuery"})
_ROUTINE = frozenset({"RejectedRecordsException", "ThrottlingException"})


def api_error(operation: str, exc: errors.TesseraError) -> ApiError:
    """The AWS error a Tessera error becomes: its class's own (tessera.errors), except where the operation
    changes it as it does in Timestream."""
    if isinstance(exc, model.SerializationError):
        return ApiError(400, "SerializationException", exc.message)
    name, status = exc.aws_exception, exc.http_status
    in_query = operation in QUERY_OPERATIONS
    if isinstance(exc, errors.Throttled) and exc.retry_after_ms == 0:  # a limit, not back-pressure: no retry
        name = "QueryExecutionException" if in_query else "ServiceQuotaExceededException"
    elif in_query and isinstance(exc, errors.NotFound):  # the Query operation has no ResourceNotFoundException
        name = "ValidationException"
    elif in_query and isinstance(exc, errors.DeadlineExceeded):  # the query's own time limit: do not rerun it
        name, status = "QueryExecutionException", 400
    members: dict[str, Any] = {}
    if isinstance(exc, errors.RejectedRecords):
        members["RejectedRecords"] = [
            {"RecordIndex": r.record_index, "Reason": r.reason,
             **({"ExistingVersion": r.existing_version} if r.HasField("existing_version") else {})}
            for r in exc.rejected_records]
    return ApiError(status, name, exc.message, **members)


def _reply(status: int, body: dict[str, Any] | JsonText, request_id: str) -> web.Response:
    text = body.text if isinstance(body, JsonText) else json.dumps(body, separators=(",", ":"))
    return web.Response(status=status, body=text.encode(),
                        headers={"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id})


def _error_reply(err: ApiError, request_id: str) -> web.Response:
    # The modelled members sit at the top level of the body (RejectedRecords), beside __type and message.
    # ``Message`` too: it is the modelled member of every Timestream exception (botocore reads ``message``).
    body = {"__type": f"com.amazonaws.timestream.v20181101#{err.code}", "message": err.message,
            "Message": err.message, **err.members}
    return _reply(err.status, body, request_id)


class Handler:
    """The gateway's one HTTP handler."""

    def __init__(self, gateway: Gateway, secrets: Callable[[], dict[str, str]],
                 regions: frozenset[str] | None, advertise: str = "") -> None:
        """``advertise``: the URL DescribeEndpoints answers with (default: the scheme and host the request
        came in on; set it behind a proxy that terminates TLS)."""
        self._gateway = gateway
        self._secrets = secrets
        self._regions = regions
        self._advertise = advertise

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
            user_agent = " ".join([*request.headers.getall("X-Amz-User-Agent", []),
                                   *request.headers.getall("User-Agent", [])])
            caller = Caller(identity.region, self._gateway.account_id,
                            self._advertise or f"{request.scheme}://{request.host}", identity.access_key_id,
                            identity.token_key, user_agent)
            return _reply(200, await OPERATIONS[operation](self._gateway, caller, params), request_id)
        except ApiError as err:
            return _logged(err, operation, request_id)
        except errors.TesseraError as exc:
            return _logged(api_error(operation, exc), operation, request_id)
        except Exception:  # the boundary: logged whole; the client gets a JSON 500 with the request id only
            log.exception("request_failed", operation=operation, request_id=request_id)
            return _error_reply(ApiError(500, "InternalServerException", f"{operation or 'the request'} failed "
                                         f"with an internal error; the gateway's log has it under request id "
                                         f"{request_id}"), request_id)

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


def _logged(err: ApiError, operation: str, request_id: str) -> web.Response:
    """The error's reply, and a log line an operator can find by the request id the client saw: server-side
    failures (5xx) as warnings, the caller's own (4xx) at info, the routine ones (rejected records, throttling:
    a busy writer's normal traffic) at debug."""
    emit = log.warning if err.status >= 500 else log.debug if err.code in _ROUTINE else log.info
    emit("request_refused", operation=operation or "?", request_id=request_id, status=err.status, error=err.code,
         message=err.message[:500])
    return _error_reply(err, request_id)
