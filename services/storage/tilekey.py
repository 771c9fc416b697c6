"""The identity of a tile: (table, lower bound of its dimension-hash range, time bucket)."""

from __future__ import annotations

from dataclasses import dataclass

from tessera import layout
from tessera.errors import ValidationError


@dataclass(frozen=True)
class TileKey:
    """Identity of a tile: table, lower bound of its dimension-hash range, and time bucket."""

    table_id: str
    range_lo: int
    bucket: int

    def __post_init__(self) -> None:
        bad = (
            not self.table_id or self.table_id in (".", "..") or "/" in self.table_id or "\0" in self.table_id
        )
        if bad:
            raise ValidationError(f"tile table_id {self.table_id!r} is not usable as a directory name")
        if not 0 <= self.range_lo < layout.HASH_SPACE:
            raise ValidationError(f"tile range_lo {self.range_lo} is outside the 64-bit hash space")

    def dir_name(self) -> str:
        """Relative name of the tile: ``{table_id}/{range_lo:016x}_{bucket}``."""
        return f"{self.table_id}/{self.range_lo:016x}_{self.bucket}"

    @classmethod
    def from_dir_name(cls, name: str) -> TileKey:
        """Inverse of ``dir_name``; raises ValueError for a name that is not a tile's."""
        table_id, sep, leaf = name.rpartition("/")
        lo_hex, sep2, bucket = leaf.partition("_")
        if not sep or not sep2 or len(lo_hex) != 16:
            raise ValueError(f"{name!r} is not a tile name")
        try:
            return cls(table_id, int(lo_hex, 16), int(bucket))
        except ValidationError as exc:
            raise ValueError(f"{name!r} is not a tile name: {exc.message}") from exc
