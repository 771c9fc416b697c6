"""The manifest of one partition of the magnetic store: which segment files hold its rows.

A partition is (table, dimension-hash range) on one replica; its segments are immutable Parquet files that
may each cover several time buckets (tiles). The manifest is the single source of truth for which files are
live: a file not listed is garbage (an interrupted flush or compaction) and is swept at start; a listed file
is complete and durable, because the manifest is written only after it (``BlobStore.put`` is atomic and
durable). Replacing the manifest is the commit point of every flush, compaction and retention rewrite, so a
crash at any point leaves either the old or the new set of files, never a mix: no row lost, none doubled.

``flushed_lsn`` records, per bucket, the newest WAL entry whose rows are in the segments: WAL replay skips
that tile's entries up to it, since the WAL's checkpoint can lag behind (it is the minimum over all tiles).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from services.storage.blobstore import BlobStore
from services.storage.segments import SegmentInfo
from tessera import layout
from tessera.errors import InternalError

FORMAT = 1
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class SegmentEntry:
    """One live segment file: its name in the partition directory and what it holds."""

    name: str
    info: SegmentInfo
    supersedes: bool = False
    """It may hold newer versions of keys that older segments also hold: reads deduplicate across segments."""
    level: int = 0
    """zstd level it was written at (0: not recorded, taken as final). Flushes write fast, low levels;
    compaction rewrites at the node's segment level, alone if need be (``compaction.plan_runs``)."""

    @property
    def identity(self) -> tuple[object, ...]:
        """What tells this file from another written under the same name: its rows, size and time span."""
        return (self.info.rows, self.info.bytes, self.info.min_time_ns, self.info.max_time_ns)

    @property
    def min_bucket(self) -> int:
        """First time bucket with rows in this segment."""
        return layout.bucket_of(self.info.min_time_ns)

    @property
    def max_bucket(self) -> int:
        """Last time bucket with rows in this segment."""
        return layout.bucket_of(self.info.max_time_ns)

    def overlaps(self, buckets: Iterable[int]) -> bool:
        """Whether any of the buckets lies in this segment's time range."""
        return any(self.min_bucket <= b <= self.max_bucket for b in buckets)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = {"name": self.name, "info": self.info.to_json(), "supersedes": self.supersedes}
        if self.level:
            out["level"] = self.level
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentEntry:
        """Inverse of ``to_json``."""
        return cls(str(data["name"]), SegmentInfo.from_json(data["info"]), bool(data.get("supersedes", False)),
                   int(data.get("level", 0)))


@dataclass(frozen=True)
class Manifest:
    """An immutable version of a partition's manifest; every change makes a new one."""

    generation: int = 0
    segments: tuple[SegmentEntry, ...] = ()
    flushed_lsn: Mapping[int, int] = field(default_factory=dict)
    next_segment: int = 1
    """Sequence number for the next segment file's name (names are never reused)."""

    def buckets(self) -> set[int]:
        """Every bucket some live segment has rows in (a superset: segments list a time range)."""
        out: set[int] = set()
        for s in self.segments:
            out.update(range(s.min_bucket, s.max_bucket + 1))
        return out

    def segment_name(self) -> tuple[str, Manifest]:
        """A fresh file name, and the manifest that has reserved it."""
        return f"seg-{self.next_segment:012d}.parquet", replace(self, next_segment=self.next_segment + 1)

    def with_flush(self, entry: SegmentEntry, flushed: Mapping[int, int]) -> Manifest:
        """A flush committed: one more segment, and the buckets' WAL entries up to ``flushed`` are in it."""
        merged = dict(self.flushed_lsn)
        for bucket, lsn in flushed.items():
            merged[bucket] = max(lsn, merged.get(bucket, 0))
        return replace(self, generation=self.generation + 1, segments=(*self.segments, entry), flushed_lsn=merged)

    def with_replaced(self, old: Iterable[str], new: Iterable[SegmentEntry]) -> Manifest:
        """A compaction or retention rewrite committed: the ``old`` files give way to ``new`` ones."""
        gone = set(old)
        missing = gone - {s.name for s in self.segments}
        if missing:
            raise InternalError(f"cannot replace segments {sorted(missing)}: the manifest does not list them")
        kept = tuple(s for s in self.segments if s.name not in gone)
        return replace(self, generation=self.generation + 1, segments=(*kept, *new))

    def to_bytes(self) -> bytes:
        """The manifest as JSON bytes."""
        return json.dumps({
            "format": FORMAT, "generation": self.generation, "next_segment": self.next_segment,
            "segments": [s.to_json() for s in self.segments],
            "flushed_lsn": {str(b): lsn for b, lsn in sorted(self.flushed_lsn.items())},
        }, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Manifest:
        """Parse a manifest; raise InternalError naming ``where`` when it is not one."""
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, this build reads {FORMAT}")
            return cls(
                generation=int(doc["generation"]),
                segments=tuple(SegmentEntry.from_json(s) for s in doc["segments"]),
                flushed_lsn={int(b): int(lsn) for b, lsn in doc["flushed_lsn"].items()},
                next_segment=int(doc.get("next_segment", 1)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InternalError(f"cannot read manifest {where}: {exc}") from exc


def load(store: BlobStore, directory: str) -> Manifest:
    """The partition's manifest in ``directory``; an empty one when there is none yet."""
    path = f"{directory}/{MANIFEST_FILE}"
    if not store.exists(path):
        return Manifest()
    return Manifest.from_bytes(store.read(path), path)


def save(store: BlobStore, directory: str, manifest: Manifest) -> None:
    """Replace the partition's manifest atomically and durably (the commit point of every change)."""
    store.put(f"{directory}/{MANIFEST_FILE}", manifest.to_bytes())


def orphans(store: BlobStore, directory: str, manifest: Manifest) -> list[str]:
    """Segment files in ``directory`` the manifest does not list (left by an interrupted flush/compaction)."""
    live = {s.name for s in manifest.segments} | {MANIFEST_FILE}
    out = []
    for path in store.list(directory):
        name = path.rsplit("/", 1)[-1]
        if name not in live and name.endswith(".parquet"):
            out.append(path)
    return out
