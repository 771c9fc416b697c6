"""Tessera's exceptions, and their one mapping to and from gRPC status codes.

    TesseraError                     root; carries a stable ``error_id``
    ├── ValidationError              INVALID_ARGUMENT      bad input; nothing changed
    ├── NotFound                     NOT_FOUND
    ├── Conflict                     ALREADY_EXISTS
    ├── FailedPrecondition           FAILED_PRECONDITION   e.g. deleting a database that has tables
    │   └── StaleRoute               FAILED_PRECONDITION   wrong cell / old epoch: refresh the route
    ├── RejectedRecords              INVALID_ARGUMENT      some records of a write were rejected
    ├── Throttled                    RESOURCE_EXHAUSTED
    ├── Unavailable                  UNAVAILABLE           retry, possibly elsewhere
    │   └── Unreachable              UNAVAILABLE           no answer at all (refused, reset, stalled peer)
    ├── Cancelled                    CANCELLED
    ├── DeadlineExceeded             DEADLINE_EXCEEDED
    └── InternalError                INTERNAL

Servers raise these; ``to_status`` turns one into a status code plus an ``ErrorDetail`` in the trailing
metadata, and ``from_rpc_error`` turns that back into the same exception type on the client. Each class also
names the Timestream exception and HTTP status the HTTP gateway answers it with (``aws_exception``,
``http_status``): gRPC and HTTP side by side, here and nowhere else (the gateway adds only what depends on
the operation, such as Query having no ResourceNotFoundException).
"""

from __future__ import annotations

from typing import Any, ClassVar

import grpc

from tessera.v1 import common_pb2

DETAIL_METADATA_KEY = "tessera-error-bin"


class TesseraError(Exception):
    """Root of every Tessera error."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN
    error_id: ClassVar[str] = "error"
    aws_exception: ClassVar[str] = "InternalServerException"
    http_status: ClassVar[int] = 500
    """500s are retried by AWS SDKs: right for what is transient or of unknown outcome (writes are idempotent)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def detail(self) -> common_pb2.ErrorDetail:
        """The wire form carried in the status metadata."""
        return common_pb2.ErrorDetail(error_id=self.error_id, message=self.message)


class ValidationError(TesseraError):
    """The request broke a rule or a limit; the message names the field and the limit."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    error_id = "validation"
    aws_exception = "ValidationException"
    http_status = 400


class NotFound(TesseraError):
    code = grpc.StatusCode.NOT_FOUND
    error_id = "not_found"
    aws_exception = "ResourceNotFoundException"
    http_status = 400


class Conflict(TesseraError):
    code = grpc.StatusCode.ALREADY_EXISTS
    error_id = "conflict"
    aws_exception = "ConflictException"
    http_status = 400


class FailedPrecondition(TesseraError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    error_id = "failed_precondition"
    aws_exception = "ValidationException"
    http_status = 400


class StaleRoute(FailedPrecondition):
    """The caller's route is out of date; ``epoch`` is the current routing epoch of the table."""

    error_id = "stale_route"
    aws_exception = "InternalServerException"
    http_status = 500

    def __init__(self, message: str, epoch: int) -> None:
        super().__init__(message)
        self.epoch = epoch

    def detail(self) -> common_pb2.ErrorDetail:
        d = super().detail()
        d.routing_epoch = self.epoch
        return d


class RejectedRecords(TesseraError):
    """Some records were rejected; the others were stored. Mirrors Timestream's RejectedRecordsException."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    error_id = "rejected_records"
    aws_exception = "RejectedRecordsException"
    http_status = 419

    def __init__(self, message: str, rejected: list[common_pb2.RejectedRecord], ingested: int = 0) -> None:
        super().__init__(message)
        self.rejected_records = rejected
        self.records_ingested = ingested

    def detail(self) -> common_pb2.ErrorDetail:
        d = super().detail()
        d.rejected_records.extend(self.rejected_records)
        return d


class QuotaExceeded(TesseraError):
    """A count limit of the account is reached (e.g. active batch-load tasks); retrying now does not help."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    error_id = "quota_exceeded"
    aws_exception = "ServiceQuotaExceededException"
    http_status = 400


class Throttled(TesseraError):
    """The server is over a limit for now (memory, rate); retry after ``retry_after_ms``."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    error_id = "throttled"
    aws_exception = "ThrottlingException"
    http_status = 400

    def __init__(self, message: str, retry_after_ms: int = 0) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms

    def detail(self) -> common_pb2.ErrorDetail:
        d = super().detail()
        d.retry_after_ms = self.retry_after_ms
        return d


class Unavailable(TesseraError):
    code = grpc.StatusCode.UNAVAILABLE
    error_id = "unavailable"


class Unreachable(Unavailable):
    """No answer from the server itself: connection refused or reset, or a stalled peer whose connection was
    dropped (an UNAVAILABLE that the server did not send)."""


class Cancelled(TesseraError):
    code = grpc.StatusCode.CANCELLED
    error_id = "cancelled"
    aws_exception = "QueryExecutionException"
    http_status = 400


class DeadlineExceeded(TesseraError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    error_id = "deadline_exceeded"


class InternalError(TesseraError):
    code = grpc.StatusCode.INTERNAL
    error_id = "internal"


_BY_ID: dict[str, type[TesseraError]] = {
    cls.error_id: cls
    for cls in (ValidationError, NotFound, Conflict, FailedPrecondition, StaleRoute, RejectedRecords,
                Throttled, QuotaExceeded, Unavailable, Cancelled, DeadlineExceeded, InternalError)
}
_BY_CODE: dict[grpc.StatusCode, type[TesseraError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: ValidationError,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: Conflict,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Throttled,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def to_status(err: TesseraError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, Any], ...]]:
    """Status code, message and trailing metadata for a domain error."""
    return err.code, err.message, ((DETAIL_METADATA_KEY, err.detail().SerializeToString()),)


def from_detail(code: grpc.StatusCode, message: str, detail: common_pb2.ErrorDetail | None) -> TesseraError:
    """Rebuild the typed exception from a status and its optional detail."""
    if detail is None:
        return _BY_CODE.get(code, InternalError)(message)
    cls = _BY_ID.get(detail.error_id, _BY_CODE.get(code, InternalError))
    if cls is StaleRoute:
        return StaleRoute(detail.message, detail.routing_epoch)
    if cls is RejectedRecords:
        return RejectedRecords(detail.message, list(detail.rejected_records))
    if cls is Throttled:
        return Throttled(detail.message, detail.retry_after_ms)
    return cls(detail.message)


def from_rpc_error(exc: grpc.RpcError) -> TesseraError:
    """Translate a gRPC error (sync or aio) into the matching TesseraError."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    message = exc.details() if hasattr(exc, "details") else str(exc)
    detail = None
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == DETAIL_METADATA_KEY:
            detail = common_pb2.ErrorDetail.FromString(value)
    err = from_detail(code, message or "", detail)
    if detail is None and code == grpc.StatusCode.UNAVAILABLE:
        err = Unreachable(f"cannot reach the server: {message}")
    return err
