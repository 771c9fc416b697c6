"""The chaos writer's ledger: every record it tried to write, with known keys and values, and what came of it.

A record is acknowledged (the write returned and did not reject it), rejected (returned in
RejectedRecords), or failed (the call raised: the outcome is unknown, the record may or may not be
stored). Besides new keys the writer sends, on keys whose every attempt so far was decided:

- upserts: a higher version with another value (must be acknowledged, and win);
- conflicts: the same version with another value (must be rejected, and never be visible anywhere);
- retries: an exact copy of the acknowledged record (must be acknowledged, changing nothing).

From the ledger follow what the checker demands: per key, the value of its newest acknowledged version,
unless a failed attempt may have stored a newer one (then any of the possible values); and the rejected
values, which no read and no replica may ever show.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

from tessera import errors
from tessera.client import Client

Outcome = Literal["pending", "acked", "rejected", "failed"]
Kind = Literal["new", "upsert", "conflict", "retry"]


@dataclass(frozen=True)
class Attempt:
    key: str
    version: int
    value: float
    kind: Kind
    outcome: Outcome
    at: float
    """Monotonic time the call returned."""


@dataclass
class Ledger:
    """Every attempt, by key (each key has one fixed timestamp: the key is the record's identity)."""

    time_ms: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _settled: list[str] = field(default_factory=list)
    _settled_at: dict[str, int] = field(default_factory=dict)
    """Position of each settled key in ``_settled`` (kept as the attempts change: a walk over the whole
    ledger per batch made the writer, not the cluster, the bottleneck of a long run)."""

    def begin(self, attempts: list[Attempt]) -> None:
        """Attempts about to be sent (pending: a read may see them before the call returns)."""
        with self.lock:
            for a in attempts:
                self.attempts.setdefault(a.key, []).append(a)
                self._update_settled(a.key)

    def _update_settled(self, key: str) -> None:
        held = self.attempts[key]
        settled = any(x.outcome == "acked" for x in held) and not any(x.outcome in ("failed", "pending")
                                                                       for x in held)
        at = self._settled_at.get(key)
        if settled and at is None:
            self._settled_at[key] = len(self._settled)
            self._settled.append(key)
        elif not settled and at is not None:
            last = self._settled.pop()
            if last != key:
                self._settled[at] = last
                self._settled_at[last] = at
            del self._settled_at[key]

    def finish(self, attempts: list[Attempt], outcomes: list[Outcome]) -> None:
        """Replace pending attempts by what came of them."""
        now = time.monotonic()
        with self.lock:
            for a, outcome in zip(attempts, outcomes):
                held = self.attempts[a.key]
                held[held.index(a)] = Attempt(a.key, a.version, a.value, a.kind, outcome, now)
                self._update_settled(a.key)

    def settled_keys(self) -> list[str]:
        """Keys with at least one acknowledged attempt and no failed one (their value is known exactly)."""
        with self.lock:
            return list(self._settled)

    def acked_keys(self) -> list[str]:
        """Keys with at least one acknowledged attempt (whatever else was tried on them)."""
        with self.lock:
            return [k for k, a in self.attempts.items() if any(x.outcome == "acked" for x in a)]

    def latest_acked(self, key: str) -> Attempt | None:
        with self.lock:
            acked = [a for a in self.attempts.get(key, []) if a.outcome == "acked"]
        return max(acked, key=lambda a: a.version) if acked else None

    def allowed(self, key: str, since: float | None = None) -> set[tuple[int, float]] | None:
        """(version, value) a read of this key may show; None: the key may be absent (nothing acked).

        ``since``: the monotonic time the read started; a value acknowledged meanwhile, or still pending or
        failed, may show too (the read raced the write). Without it: after every write has returned."""
        with self.lock:
            attempts = list(self.attempts.get(key, []))
        acked = [a for a in attempts if a.outcome == "acked"]
        before = [a for a in acked if since is None or a.at < since]
        top = max((a.version for a in before), default=None)
        maybe = {(a.version, a.value) for a in attempts
                 if a.outcome in ("failed", "pending") and (top is None or a.version > top)}
        maybe |= {(a.version, a.value) for a in acked if since is not None and a.at >= since
                  and (top is None or a.version >= top)}
        if top is None:
            return None if maybe or not acked else set()
        winner = next(a for a in before if a.version == top)
        return {(winner.version, winner.value)} | maybe

    def rejected_values(self) -> set[tuple[str, int, float]]:
        """(key, version, value) that were rejected and never acknowledged nor possibly stored by a failure."""
        with self.lock:
            out = set()
            for key, attempts in self.attempts.items():
                fine = {(a.version, a.value) for a in attempts if a.outcome != "rejected"}  # pending too
                out |= {(key, a.version, a.value) for a in attempts
                        if a.outcome == "rejected" and (a.version, a.value) not in fine}
            return out

    def counts(self) -> dict[str, int]:
        with self.lock:
            flat = [a for attempts in self.attempts.values() for a in attempts]
        out = {f"{k}_{o}": 0 for k in ("new", "upsert", "conflict", "retry")
               for o in ("pending", "acked", "rejected", "failed")}
        for a in flat:
            out[f"{a.kind}_{a.outcome}"] += 1
        out["attempted"] = len(flat)
        out["acked"] = sum(1 for a in flat if a.outcome == "acked")
        return out


KEYS_PER_GENERATION = 1000
GENERATIONS = 100
"""Every ``KEYS_PER_GENERATION`` new keys the records gain a dimension the table has never had (``g0``,
``g1``, … up to ``g99``, then the names repeat: a table holds at most 128 dimensions): the writer keeps adding
columns, so faults also meet the first write of a column (etcd down included)."""


def record(key: str, t_ms: int, version: int, value: float) -> dict[str, object]:
    """The Timestream record of a ledger key (the same dimensions on every attempt of the key)."""
    generation = int(key[1:]) // KEYS_PER_GENERATION % GENERATIONS
    return {"Dimensions": [{"Name": "k", "Value": key}, {"Name": f"g{generation}", "Value": "1"}],
            "MeasureName": "v", "MeasureValue": repr(value), "MeasureValueType": "DOUBLE", "Time": str(t_ms),
            "Version": version}


class Writer:
    """Writes batches of ledger records from a thread until stopped; every outcome goes to the ledger."""

    def __init__(self, client: Client, db: str, table: str, ledger: Ledger, seed: int = 7,
                 batch: int = 20) -> None:
        self._client = client
        self._db = db
        self._table = table
        self.ledger = ledger
        self._rng = random.Random(seed)
        self._batch = batch
        self._next = 0
        self._base_ms = int(time.time() * 1000) - 60_000
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-writer", daemon=True)
        self.errors: list[str] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.write_once()

    def write_once(self) -> None:
        settled = self.ledger.settled_keys() if self._next > 50 else []
        planned = [self._plan(settled) for _ in range(self._batch)]
        planned = [p for i, p in enumerate(planned) if p[0] not in {q[0] for q in planned[:i]}]  # a key once
        attempts = [Attempt(k, v, x, kind, "pending", time.monotonic()) for k, v, x, kind in planned]
        self.ledger.begin(attempts)
        records = [record(a.key, self.ledger.time_ms[a.key], a.version, a.value) for a in attempts]
        outcomes: list[Outcome] = ["acked"] * len(attempts)
        try:
            self._client.write_records(self._db, self._table, records)
        except errors.RejectedRecords as exc:
            for r in exc.rejected_records:
                outcomes[r.record_index] = "rejected"
        except errors.TesseraError as exc:
            outcomes = ["failed"] * len(attempts)
            self.errors.append(f"{type(exc).__name__}: {exc.message[:200]}")
        self.ledger.finish(attempts, outcomes)

    def _plan(self, settled: list[str]) -> tuple[str, int, float, Kind]:
        roll = self._rng.random()
        if settled and roll < 0.3:
            key = self._rng.choice(settled)
            latest = self.ledger.latest_acked(key)
            assert latest is not None
            if roll < 0.1:
                return key, latest.version + 1, self._value(), "upsert"
            if roll < 0.2:
                return key, latest.version, self._value(), "conflict"
            return key, latest.version, latest.value, "retry"
        key = f"k{self._next:07d}"
        self.ledger.time_ms[key] = self._base_ms + self._next
        self._next += 1
        return key, 1, self._value(), "new"

    def _value(self) -> float:
        return round(self._rng.uniform(0, 1000), 3)
