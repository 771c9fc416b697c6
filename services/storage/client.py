"""Client for storage replicas, used by ingest (append), the query coordinator (list, scan) and other
replicas (anti-entropy: digests, scan)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import grpc

from tessera import errors
from tessera.runtime import GRPC_OPTIONS
from tessera.v1 import storage_pb2, storage_pb2_grpc

APPEND_METHOD = "/tessera.v1.Storage/Append"


class StorageClient:
    """One replica's stub; calls raise TesseraError (Unavailable when the node cannot be reached)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._channel = grpc.aio.insecure_channel(address, options=GRPC_OPTIONS)
        self._stub = storage_pb2_grpc.StorageStub(self._channel)
        # Append takes the request already serialised, so a write to three replicas serialises it once.
        self._append = self._channel.unary_unary(APPEND_METHOD, request_serializer=None,
                                                 response_deserializer=storage_pb2.AppendResponse.FromString)

    async def append(self, payload: bytes, timeout_s: float) -> storage_pb2.AppendResponse:
        """Append a serialised AppendRequest."""
        return cast(storage_pb2.AppendResponse, await _unary(self._append, payload, timeout_s))

    async def list_tiles(self, request: storage_pb2.ListTilesRequest, timeout_s: float
                         ) -> storage_pb2.ListTilesResponse:
        return cast(storage_pb2.ListTilesResponse, await _unary(self._stub.ListTiles, request, timeout_s))

    async def repair_tiles(self, request: storage_pb2.RepairTilesRequest, timeout_s: float
                           ) -> storage_pb2.RepairTilesResponse:
        return cast(storage_pb2.RepairTilesResponse, await _unary(self._stub.RepairTiles, request, timeout_s))

    async def tile_digests(self, request: storage_pb2.TileDigestsRequest, timeout_s: float
                           ) -> storage_pb2.TileDigestsResponse:
        return cast(storage_pb2.TileDigestsResponse, await _unary(self._stub.TileDigests, request, timeout_s))

    async def claim_columns(self, request: storage_pb2.ClaimColumnsRequest, timeout_s: float
                            ) -> storage_pb2.ClaimColumnsResponse:
        return cast(storage_pb2.ClaimColumnsResponse, await _unary(self._stub.ClaimColumns, request, timeout_s))

    async def list_claims(self, request: storage_pb2.ListClaimsRequest, timeout_s: float
                          ) -> storage_pb2.ListClaimsResponse:
        return cast(storage_pb2.ListClaimsResponse, await _unary(self._stub.ListClaims, request, timeout_s))

    async def scan(self, request: storage_pb2.ScanRequest, timeout_s: float) -> AsyncIterator[storage_pb2.ScanChunk]:
        try:
            async for chunk in self._stub.Scan(request, timeout=timeout_s):
                yield chunk
        except grpc.aio.AioRpcError as exc:
            raise errors.from_rpc_error(exc) from exc

    async def close(self) -> None:
        await self._channel.close()


async def _unary(method: Callable[..., Awaitable[object]], request: object, timeout_s: float) -> object:
    """One unary call; gRPC errors become TesseraError (Unavailable when the node cannot be reached)."""
    try:
        return await method(request, timeout=timeout_s)
    except grpc.aio.AioRpcError as exc:
        raise errors.from_rpc_error(exc) from exc


class StoragePool:
    """One StorageClient per address, shared by every caller in the process."""

    def __init__(self) -> None:
        self._clients: dict[str, StorageClient] = {}

    def get(self, address: str) -> StorageClient:
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = StorageClient(address)
        return client

    async def close(self) -> None:
        for c in self._clients.values():
            await c.close()
        self._clients.clear()
