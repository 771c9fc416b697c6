"""Tessera: a self-hosted, distributed, Timestream-compatible time-series database.

The SDK is ``tessera.Client``; errors are in ``tessera.errors``.
"""

from tessera.client import Client
from tessera.errors import (
                            Conflict,
                            NotFound,
                            RejectedRecords,
                            StaleRoute,
                            TesseraError,
                            Unavailable,
                            ValidationError,
)

__all__ = ["Client", "Conflict", "NotFound", "RejectedRecords", "StaleRoute", "TesseraError", "Unavailable",
           "ValidationError"]
