"""What a tile's manifest keeps about a segment (``SegmentInfo``), and the dedup test it answers unopened.

The key summary in ``SegmentInfo`` lists per distinct series its time range and row count (32 bytes a
series before compression): ``may_contain`` answers "might this segment hold key (series, time)?" from
the manifest alone, without false negatives; for TSBS shapes it is ~0.005 bytes a value.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from services.storage.segment_codecs import FORMAT_VERSION


@dataclass(frozen=True, eq=False)
class KeySummary:
    """Per distinct series of a segment (sorted): its first and last time and its row count."""

    series: npt.NDArray[np.uint64]
    min_time_ns: npt.NDArray[np.int64]
    max_time_ns: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        for name in ("series", "min_time_ns", "max_time_ns", "rows"):
            getattr(self, name).setflags(write=False)  # frozen means frozen: the manifest shares it

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeySummary):
            return NotImplemented
        return all(np.array_equal(getattr(self, n), getattr(other, n))
                   for n in ("series", "min_time_ns", "max_time_ns", "rows"))

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def of(cls, series: npt.NDArray[np.uint64], times: npt.NDArray[np.int64]) -> KeySummary:
        """The summary of keys sorted by (series, time)."""
        if not len(series):
            return cls(np.empty(0, np.uint64), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))
        first = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
        last = np.r_[first[1:] - 1, len(series) - 1]
        return cls(series[first].copy(), times[first].copy(), times[last].copy(), (last - first + 1).astype(np.int64))

    def encode(self) -> str:
        """The four arrays, little-endian, zlib-compressed, base64: compact inside a JSON manifest."""
        raw = b"".join([self.series.astype("<u8").tobytes(), self.min_time_ns.astype("<i8").tobytes(),
                        self.max_time_ns.astype("<i8").tobytes(), self.rows.astype("<i8").tobytes()])
        return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")

    @classmethod
    def decode(cls, text: str, count: int) -> KeySummary:
        """Inverse of ``encode``."""
        raw = zlib.decompress(base64.b64decode(text))
        if len(raw) != 32 * count:
            raise ValueError(f"key summary holds {len(raw)} bytes, want {32 * count} for {count} series")
        parts = [np.frombuffer(raw, dtype, count, 8 * count * i) for i, dtype in enumerate(("<u8", "<i8", "<i8", "<i8"))]
        return cls(parts[0].astype(np.uint64), parts[1].astype(np.int64), parts[2].astype(np.int64),
                   parts[3].astype(np.int64))


@dataclass(frozen=True)
class SegmentInfo:
    """What a manifest keeps about a segment: size, time span, schema and the key summary."""

    rows: int
    bytes: int
    min_time_ns: int
    max_time_ns: int
    """Inclusive bounds of the rows' times."""
    columns: tuple[tuple[str, str], ...]
    """The non-fixed columns stored, (name, Timestream type), in the rows' column order."""
    measures: tuple[str, ...]
    """Which of ``columns`` are measures; every other one is a dimension."""
    measure_names: tuple[str, ...]
    """The distinct non-NULL measure_name values, sorted: a reader can skip the segment without opening it."""
    keys: KeySummary = field(repr=False)

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The non-fixed columns that are not measures."""
        measures = set(self.measures)
        return tuple(name for name, _ in self.columns if name not in measures)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``from_json`` inverts it)."""
        return {"format": FORMAT_VERSION, "rows": self.rows, "bytes": self.bytes, "min_time_ns": self.min_time_ns,
                "max_time_ns": self.max_time_ns, "columns": [list(c) for c in self.columns],
                "measures": list(self.measures), "measure_names": list(self.measure_names),
                "series": len(self.keys.series), "keys": self.keys.encode()}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SegmentInfo:
        """The info ``to_json`` wrote; ValueError if the document is not one."""
        try:
            if doc.get("format") != FORMAT_VERSION:
                raise ValueError(f"segment info format {doc.get('format')!r}, this build reads {FORMAT_VERSION}")
            return cls(int(doc["rows"]), int(doc["bytes"]), int(doc["min_time_ns"]), int(doc["max_time_ns"]),
                       tuple((str(n), str(t)) for n, t in doc["columns"]), tuple(str(m) for m in doc["measures"]),
                       tuple(str(m) for m in doc["measure_names"]), KeySummary.decode(doc["keys"], int(doc["series"])))
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise ValueError(f"not a segment info: {exc}") from exc


def may_contain(info: SegmentInfo, series: npt.ArrayLike, times: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Per key (series[i], times[i]): False if the segment surely lacks it (its series is absent, or the
    time is outside the series' range); True if it may hold it. No false negatives."""
    s = np.asarray(series, dtype=np.uint64)
    t = np.asarray(times, dtype=np.int64)
    keys = info.keys
    if not len(keys.series) or not len(s):
        return np.zeros(len(s), dtype=np.bool_)
    at = np.searchsorted(keys.series, s)
    clipped = np.minimum(at, len(keys.series) - 1)
    found: npt.NDArray[np.bool_] = (at < len(keys.series)) & (keys.series[clipped] == s)
    return found & (keys.min_time_ns[clipped] <= t) & (t <= keys.max_time_ns[clipped])
