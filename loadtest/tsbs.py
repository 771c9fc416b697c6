"""TSBS devops "cpu-only" data, bit for bit as TSBS generates it, vectorised (shared/reference/tsbs.md §1).

Faithful to TSBS in shape: measurement ``cpu``; 10 string tags per host fixed for the run (hostname
``host_<i>``, region and its datacenters, rack 0..99, os, arch, team, service 0..19, service_version 0..1,
service_environment); 10 fields, each an independent random walk starting at U[0,1)·100, stepping by N(0,1)
each interval and clamped to [0, 100]; epoch 0 emits the initial state; rows are time-ordered, host order
within an epoch; the end is exclusive. ``integer=True`` truncates values to int64 as TSBS has done since
2018; ``integer=False`` keeps two decimals (the form the Parquet size notes use).

Draws come from Go's pre-1.20 ``math/rand`` seeded with ``seed`` (``loadtest.gorand``), in TSBS's order
(§1.3): per host, 10 ``Float64`` initial states then region, datacenter, rack, arch, os, service,
service_version, service_environment and team; then per later epoch one ``NormFloat64`` per host and field,
host-major. So the values are TSBS's own (the golden vectors of §1.6 are tests), as are row counts,
timestamps and vocabularies.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from loadtest.gorand import GoRand

FIELDS = ("usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq",
          "usage_steal", "usage_guest", "usage_guest_nice")
TAGS = ("hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version",
        "service_environment")
REGIONS: dict[str, tuple[str, ...]] = {
    "us-east-1": ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"),
    "us-west-1": ("us-west-1a", "us-west-1b"),
    "us-west-2": ("us-west-2a", "us-west-2b", "us-west-2c"),
    "eu-west-1": ("eu-west-1a", "eu-west-1b", "eu-west-1c"),
    "eu-central-1": ("eu-central-1a", "eu-central-1b"),
    "ap-southeast-1": ("ap-southeast-1a", "ap-southeast-1b"),
    "ap-southeast-2": ("ap-southeast-2a", "ap-southeast-2b"),
    "ap-northeast-1": ("ap-northeast-1a", "ap-northeast-1c"),
    "sa-east-1": ("sa-east-1a", "sa-east-1b", "sa-east-1c"),
}
OS = ("Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10")
ARCH = ("x64", "x86")
TEAMS = ("SF", "NYC", "LON", "CHI")
ENVIRONMENTS = ("production", "staging", "test")
DEFAULT_START_NS = 1_451_606_400_000_000_000  # 2016-01-01T00:00:00Z, TSBS's default start
SECOND_NS = 1_000_000_000


@dataclass(frozen=True)
class CpuOnly:
    """One TSBS cpu-only data set: ``scale`` hosts from ``start_ns`` (inclusive) to ``end_ns`` (exclusive)."""

    scale: int = 100
    start_ns: int = DEFAULT_START_NS
    end_ns: int = DEFAULT_START_NS + 24 * 3600 * SECOND_NS
    interval_ns: int = 10 * SECOND_NS
    seed: int = 123
    integer: bool = True

    def __post_init__(self) -> None:
        if self.scale < 1:
            raise ValueError(f"scale must be at least 1 host, got {self.scale}")
        if self.interval_ns <= 0 or self.end_ns <= self.start_ns:
            raise ValueError("need interval_ns > 0 and end_ns > start_ns")

    @property
    def epochs(self) -> int:
        """Timestamps per host: floor((end - start) / interval)."""
        return (self.end_ns - self.start_ns) // self.interval_ns

    @property
    def rows(self) -> int:
        """Rows in the data set (epochs × hosts); each row holds 10 values."""
        return self.epochs * self.scale

    def hosts(self) -> pa.Table:
        """The tags of every host, one row each, in host order."""
        return self._setup(GoRand(self.seed))[0]

    def _setup(self, rng: GoRand) -> tuple[pa.Table, np.ndarray]:
        """TSBS's per-host draws: the hosts' tags and their initial field states (hosts × fields)."""
        region_names = list(REGIONS)
        state = np.empty((self.scale, len(FIELDS)))
        columns: dict[str, list[str]] = {tag: [] for tag in TAGS}
        for host in range(self.scale):
            state[host] = [rng.float64() * 100.0 for _ in FIELDS]
            region = region_names[rng.intn(len(region_names))]
            datacenters = REGIONS[region]
            tags = {"hostname": f"host_{host}", "region": region,
                    "datacenter": datacenters[rng.intn(len(datacenters))], "rack": str(rng.int63n(100)),
                    "arch": ARCH[rng.intn(len(ARCH))], "os": OS[rng.intn(len(OS))], "service": str(rng.int63n(20)),
                    "service_version": str(rng.int63n(2)),
                    "service_environment": ENVIRONMENTS[rng.intn(len(ENVIRONMENTS))],
                    "team": TEAMS[rng.intn(len(TEAMS))]}
            for tag in TAGS:
                columns[tag].append(tags[tag])
        return pa.table(columns), state

    def chunks(self, epochs_per_chunk: int = 360) -> Iterator[pa.Table]:
        """The data set as Arrow tables of whole epochs: time (timestamp[ns]), the 10 tags, the 10 fields."""
        rng = GoRand(self.seed)
        hosts, state = self._setup(rng)
        for first in range(0, self.epochs, epochs_per_chunk):
            count = min(epochs_per_chunk, self.epochs - first)
            values = np.empty((count, self.scale, len(FIELDS)))
            stepped = count - 1 if first == 0 else count  # epoch 0 emits the initial state
            steps = rng.norm_float64s(stepped * self.scale * len(FIELDS)).reshape(stepped, self.scale, len(FIELDS))
            for e in range(count):
                if first + e > 0:
                    np.clip(state + steps[e - (count - stepped)], 0.0, 100.0, out=state)
                values[e] = state
            yield self._table(hosts, first, count, values)

    def _table(self, hosts: pa.Table, first: int, count: int, values: np.ndarray) -> pa.Table:
        times = self.start_ns + (first + np.arange(count, dtype=np.int64)) * self.interval_ns
        host_idx = pa.array(np.tile(np.arange(self.scale), count))
        columns: dict[str, pa.Array] = {"time": pa.array(np.repeat(times, self.scale), pa.timestamp("ns"))}
        for tag in TAGS:
            columns[tag] = hosts.column(tag).take(host_idx)
        flat = values.reshape(count * self.scale, len(FIELDS))
        for j, name in enumerate(FIELDS):
            col = flat[:, j]
            columns[name] = pa.array(np.floor(col).astype(np.int64)) if self.integer else pa.array(np.round(col, 2))
        return pa.table(columns)
