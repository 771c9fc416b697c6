"""Settings of a storage replica's engine: memory limit, WAL segments, tiering, compaction, test hooks."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from tessera.errors import ValidationError

MIB = 1 << 20


@dataclass(frozen=True)
class StorageConfig:
    """How one storage replica keeps its data. Built by ``main`` from the command line; validated there."""

    data_dir: Path
    """Root of the replica's data: ``wal/`` (the node's write-ahead log) and ``magnetic/`` (segments)."""
    memory_limit_bytes: int = 2048 * MIB
    """The node's memory limit (--memory-limit-mb): its resident memory is kept under it. Shared out as
    ``memstore_fraction`` for the memory stores, ``work_fraction`` for the working memory of a flush or a
    compaction, and the rest for the process itself (~150 MiB of code and libraries), requests and scans."""
    memstore_fraction: float = 0.4
    """Memory stores together hold at most this fraction of the limit; beyond it appends are refused with
    RESOURCE_EXHAUSTED (and a retry hint) until flushes catch up."""
    flush_at_fraction: float = 0.2
    """Above this fraction of the limit in memory stores (or resident memory above ``high_water_fraction``),
    the largest memory stores are flushed early, whatever their age."""
    work_fraction: float = 0.25
    """A flush or a compaction works on at most this fraction of the limit at a time (its rows, their sorted
    copy and the encoded file): large tiles are flushed a prefix at a time, merges are sized to fit."""
    high_water_fraction: float = 0.85
    """Resident memory above this fraction of the limit makes the mover flush harder than the memory stores'
    own count asks (the allocator's free lists, requests in flight and scans also take memory)."""
    throttle_retry_ms: int = 500
    """How long a writer refused at the memory limit is told to wait before retrying (RESOURCE_EXHAUSTED)."""
    wal_segment_bytes: int = 64 * MIB
    """A WAL segment is closed and a new one started beyond this size (--wal-segment-mb)."""
    tier_interval_s: float = 2.0
    """How often the background mover looks for tiles to flush, compact and expire (0: never, tests)."""
    idle_flush_s: float = 30.0
    """A tile whose time bucket has ended and that took no append for this long is flushed to the magnetic
    store, keeping the WAL tail (hence restart time) short (--idle-flush-s)."""
    open_idle_flush_s: float = 60.0
    """A tile of a bucket that has not ended (the current hour) and took no append for this long is flushed
    too (--open-idle-flush-s): a writer that stopped (a bulk load done, a device gone quiet) leaves nothing
    in memory stores and the WAL, whose rows take ~20 bytes a value against well under one in a segment;
    a tile that keeps taking appends stays in memory until its hour ends."""
    flush_max_rows: int = 500_000
    """A flush writes at most about this many rows into one segment (a single bigger tile goes alone): it
    bounds the flush's working memory (a sorted copy and the encoded file) beyond the memory stores."""
    segment_zstd_level: int = 15
    """zstd level of segment pages (--segment-zstd-level). Segments are written once (by a flush, in the
    background) and read many times: 15 is ~13% smaller than 1 on TSBS data at ~40% of the encode speed
    (~380 k rows/s a core), and still fast to read; 1 suits a node short of CPU."""
    flush_zstd_level: int = 15
    """zstd level of segments a flush writes (--flush-zstd-level); compaction rewrites lower-level ones at
    ``segment_zstd_level``, a lone one too once its tiles have gone quiet. Level 1 halves a flush's
    encoding CPU, but in the 10-minute sustained runs of 2026-12-07 (docs/benchmarks.md §2d) it let ingest
    run ahead of flushing and storage RSS went past the limit, so it is an option, not the default."""
    compact_min_segments: int = 2
    """A partition with this many segments or more is compacted (runs of comparable sizes, see compaction)."""
    compact_target_rows: int = 1_000_000
    """Compaction merges adjacent small segments into segments of about this many rows."""
    rebuild_when_new: bool = False
    """A data directory without the replica marker (new, or wiped) makes the node rebuild from its peers
    before it counts as a replica (the storage service sets this; an engine used alone has no peers)."""
    repair_interval_s: float = 10.0
    """How often anti-entropy compares this replica's tiles with its peers' (--repair-interval-s)."""
    repair_slice_s: int = 60
    """Anti-entropy compares and copies rows in time slices of this many seconds."""
    test_hooks: bool = False
    """Serve the test-only Maintain RPC (force flush / tier / compact / retention, clock offset)."""

    def validate(self) -> StorageConfig:
        """Raise ValidationError naming the setting that is out of range; return self."""
        if self.memory_limit_bytes < 16 * MIB:
            raise ValidationError(f"--memory-limit-mb is {self.memory_limit_bytes // MIB}; the minimum is 16")
        if not 0.05 <= self.flush_at_fraction < self.memstore_fraction <= 0.8:
            raise ValidationError(f"flush_at_fraction ({self.flush_at_fraction}) and memstore_fraction "
                                  f"({self.memstore_fraction}) must satisfy 0.05 <= flush < memstore <= 0.8")
        if not 0.05 <= self.work_fraction <= 0.5 or not 0.5 <= self.high_water_fraction <= 1:
            raise ValidationError("work_fraction must be in 0.05..0.5 and high_water_fraction in 0.5..1")
        if self.wal_segment_bytes < MIB:
            raise ValidationError(f"--wal-segment-mb is {self.wal_segment_bytes / MIB}; the minimum is 1")
        if self.tier_interval_s < 0 or self.idle_flush_s < 0 or self.open_idle_flush_s < 0:
            raise ValidationError("--tier-interval-s, --idle-flush-s and --open-idle-flush-s must not be negative")
        if self.flush_max_rows < 1000:
            raise ValidationError(f"flush_max_rows is {self.flush_max_rows}; the minimum is 1000")
        if not 1 <= self.segment_zstd_level <= 22 or not 1 <= self.flush_zstd_level <= 22:
            raise ValidationError(f"--segment-zstd-level ({self.segment_zstd_level}) and --flush-zstd-level "
                                  f"({self.flush_zstd_level}) must be in 1..22")
        if self.repair_interval_s <= 0 or not 1 <= self.repair_slice_s <= 3600:
            raise ValidationError(f"--repair-interval-s is {self.repair_interval_s} (must be above 0) and "
                                  f"repair_slice_s {self.repair_slice_s} (allowed 1..3600)")
        if self.compact_min_segments < 2 or self.compact_target_rows < 1000:
            raise ValidationError("compaction needs at least 2 segments and a target of at least 1000 rows")
        return self

    @property
    def memstore_limit_bytes(self) -> int:
        """Appends are refused while the memory stores hold this much."""
        return int(self.memory_limit_bytes * self.memstore_fraction)

    @property
    def flush_mark_bytes(self) -> int:
        """Above this in memory stores, the largest are flushed whatever their age."""
        return int(self.memory_limit_bytes * self.flush_at_fraction)

    @property
    def work_bytes(self) -> int:
        """What one flush or compaction may hold at a time."""
        return int(self.memory_limit_bytes * self.work_fraction)

    @property
    def segment_keys_bytes(self) -> int:
        """Key indexes of recently written segments (``segment_keys``) take at most this much, a sixteenth of
        the limit out of the process's share: 64 MiB at 1 GiB holds the keys of ~1.6 M rows."""
        return self.memory_limit_bytes // 16


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The storage engine's command-line flags."""
    p.add_argument("--memory-limit-mb", type=int, default=2048,
                   help="the node's memory limit: 40 %% for memory stores (appends beyond get RESOURCE_EXHAUSTED "
                        "with a retry hint), a quarter for flush and compaction, the rest for the process")
    p.add_argument("--wal-segment-mb", type=int, default=64)
    p.add_argument("--tier-interval-s", type=float, default=2.0)
    p.add_argument("--idle-flush-s", type=float, default=30.0,
                   help="flush a tile of an hour that has ended once it took no append for this long")
    p.add_argument("--open-idle-flush-s", type=float, default=60.0,
                   help="flush a tile of the current hour once it took no append for this long")
    p.add_argument("--segment-zstd-level", type=int, default=15, help="zstd level of magnetic-store segments")
    p.add_argument("--flush-zstd-level", type=int, default=15,
                   help="zstd level of segments written by flushes (compaction rewrites them at the segment level)")
    p.add_argument("--repair-interval-s", type=float, default=10.0,
                   help="how often anti-entropy compares this replica's tiles with its peers'")
    p.add_argument("--test-hooks", action="store_true", help="serve the test-only Maintain RPC")


def from_arguments(data_dir: Path, a: argparse.Namespace) -> StorageConfig:
    """A validated StorageConfig from parsed flags."""
    if a.tier_interval_s <= 0:
        raise ValidationError(f"--tier-interval-s is {a.tier_interval_s}; it must be above 0 (without the "
                              "background mover nothing is flushed and appends stop at the memory limit)")
    return StorageConfig(data_dir=data_dir, memory_limit_bytes=a.memory_limit_mb * MIB,
                         wal_segment_bytes=a.wal_segment_mb * MIB, tier_interval_s=a.tier_interval_s,
                         idle_flush_s=a.idle_flush_s, open_idle_flush_s=a.open_idle_flush_s,
                         segment_zstd_level=a.segment_zstd_level,
                         flush_zstd_level=a.flush_zstd_level,
                         rebuild_when_new=True, repair_interval_s=a.repair_interval_s,
                         test_hooks=a.test_hooks).validate()
