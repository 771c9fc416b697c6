"""What the chaos run proves, checked against the ledger: reads during faults were right or a clear error,
and after healing every replica (read directly, not through a quorum) holds every acknowledged record once
with its acknowledged value and no rejected value."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import pyarrow as pa

from tessera import errors
from tessera.client import Client
from tessera.cluster import LocalCluster
from tests.chaos.ledger import Ledger
from tests.integration.replicas import replica_rows


@dataclass
class ReadTally:
    answered: int = 0
    errors: int = 0
    wrong: list[str] = field(default_factory=list)


def _as_map(rows: pa.Table) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    if rows.num_rows == 0 or "k" not in rows.column_names:
        return out
    versions = rows.column("ts_version").to_pylist() if "ts_version" in rows.column_names else [None] * rows.num_rows
    for k, v, x in zip(rows.column("k").to_pylist(), versions, rows.column("measure_value::double").to_pylist()):
        out.setdefault(k, []).append((v, x))
    return out


def check_read(client: Client, db: str, table: str, ledger: Ledger, rng: random.Random, tally: ReadTally,
               sample: int = 20) -> None:
    """Query a sample of acknowledged keys (with failed or pending attempts too); every value returned must
    be one the ledger allows."""
    keys = ledger.acked_keys()
    if not keys:
        return
    chosen = rng.sample(keys, min(sample, len(keys)))
    listed = ", ".join(f"'{k}'" for k in chosen)
    started = time.monotonic()
    try:
        got = client.query(f'SELECT k, "measure_value::double" FROM "{db}"."{table}" WHERE k IN ({listed})')
    except errors.TesseraError:
        tally.errors += 1
        return
    tally.answered += 1
    seen = _as_map(got)
    for key in chosen:
        allowed = ledger.allowed(key, since=started) or set()
        values = {x for _, x in seen.get(key, [])}
        if len(seen.get(key, [])) != 1 or not values <= {x for _, x in allowed}:  # acked: never absent
            tally.wrong.append(f"{key}: read {seen.get(key)}, allowed {sorted(allowed)}")


@dataclass
class ReplicaCheck:
    replicas: int = 0
    acked_keys: int = 0
    missing: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    rejected_visible: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.wrong or self.rejected_visible)


def check_replicas(cluster: LocalCluster, client: Client, db: str, table: str, ledger: Ledger) -> ReplicaCheck:
    """Every storage replica of the table's cells against the ledger."""
    route = client.route(db, table, refresh=True)
    cells = {r.cell for r in route.ranges}
    result = ReplicaCheck()
    rejected = ledger.rejected_values()
    with ledger.lock:
        keys = list(ledger.attempts)
    for node in [n for c in sorted(cells) for n in cluster.nodes("storage", c)]:
        held = _as_map(replica_rows(node.address, route))
        result.replicas += 1
        for key in keys:
            allowed = ledger.allowed(key)
            rows = held.get(key, [])
            if allowed is None:
                continue  # nothing acknowledged: absent or a failed write's value, both fine
            if not rows:
                result.missing.append(f"{node.name}: {key}")
            elif len(rows) != 1 or rows[0] not in allowed:
                result.wrong.append(f"{node.name}: {key} holds {rows}, allowed {sorted(allowed)}")
            for version, value in rows:
                if (key, version, value) in rejected:
                    result.rejected_visible.append(f"{node.name}: {key} v{version} = {value}")
    result.acked_keys = sum(1 for k in keys if ledger.allowed(k))
    return result


def wait_converged(cluster: LocalCluster, client: Client, db: str, table: str, ledger: Ledger,
                   timeout_s: float) -> tuple[ReplicaCheck, float]:
    """Check the replicas until they pass or the time is up; return the last check and the seconds taken."""
    started = time.monotonic()
    while True:
        try:
            check = check_replicas(cluster, client, db, table, ledger)
        except Exception as exc:  # noqa: BLE001 - a node still starting: try again until the deadline
            check = ReplicaCheck(missing=[f"a replica could not be read: {type(exc).__name__}: {str(exc)[:300]}"])
        elapsed = time.monotonic() - started
        if check.ok or elapsed > timeout_s:
            return check, elapsed
        time.sleep(1.0)
