"""gRPC servicer for ingest: WriteRecords and WriteBatch, both through Writer."""

from __future__ import annotations

import grpc

from services.ingest.writer import WriteOutcome, Writer
from tessera import validation
from tessera.runtime import rpc
from tessera.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc


def _ingested(outcome: WriteOutcome) -> common_pb2.RecordsIngested:
    return common_pb2.RecordsIngested(total=outcome.memory_store + outcome.magnetic_store,
                                      memory_store=outcome.memory_store, magnetic_store=outcome.magnetic_store)


class IngestServicer(ingest_pb2_grpc.IngestServicer):
    """Rejected records come back in the response (status OK); the SDK raises RejectedRecords from it."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    @rpc
    async def WriteRecords(self, request: ingest_pb2.WriteRecordsRequest, context: grpc.aio.ServicerContext
                           ) -> ingest_pb2.WriteRecordsResponse:
        outcome = await self._writer.write(request.database_name, request.table_name, request.routing_epoch,
                                           lambda ctx: validation.validate_write_records(request, ctx),
                                           request.routing_table_id)
        return ingest_pb2.WriteRecordsResponse(records_ingested=_ingested(outcome), rejected_records=outcome.rejected)

    @rpc
    async def WriteBatch(self, request: ingest_pb2.WriteBatchRequest, context: grpc.aio.ServicerContext
                         ) -> ingest_pb2.WriteBatchResponse:
        outcome = await self._writer.write(request.database_name, request.table_name, request.routing_epoch,
                                           lambda ctx: validation.validate_write_batch(request, ctx),
                                           request.routing_table_id)
        return ingest_pb2.WriteBatchResponse(records_ingested=_ingested(outcome), rejected_records=outcome.rejected)
