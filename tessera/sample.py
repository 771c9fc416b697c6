"""The sample data set of the seeds' industrial IoT scenario: factories, machines, four measures.

Each machine reports temperature, pressure, vibration and energy as one multi-measure record every
``interval_s`` seconds. Values are seeded and deterministic, with a daily cycle and per-machine offsets,
and machine m07 of each factory runs hot (an anomaly to find).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

DATABASE = "iot"
TABLE = "machine_metrics"
FACTORIES = ("berlin", "osaka", "austin")
MACHINES_PER_FACTORY = 10


def machine_metrics(end_ms: int, hours: float = 3.0, interval_s: int = 10, seed: int = 7) -> pa.Table:
    """Rows ending just before ``end_ms``: time (ms), factory, machine, line, and the four measures."""
    rng = np.random.default_rng(seed)
    steps = int(hours * 3600 // interval_s)
    times = end_ms - (np.arange(steps, 0, -1, dtype=np.int64) * interval_s * 1000)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("time", "factory", "machine", "line", "temperature",
                                                        "pressure", "vibration", "energy")}
    phase = 2 * np.pi * (times % 86_400_000) / 86_400_000
    for f_i, factory in enumerate(FACTORIES):
        for m in range(1, MACHINES_PER_FACTORY + 1):
            machine = f"m{m:02d}"
            hot = 15.0 if m == 7 else 0.0
            base = 60 + 3 * f_i + m * 0.5 + hot
            cols["time"].append(times)
            cols["factory"].append(np.full(steps, factory))
            cols["machine"].append(np.full(steps, machine))
            cols["line"].append(np.full(steps, f"line-{(m - 1) // 5 + 1}"))
            cols["temperature"].append(np.round(base + 4 * np.sin(phase) + rng.normal(0, 0.8, steps), 2))
            cols["pressure"].append(np.round(101.3 + 2 * np.cos(phase) + rng.normal(0, 0.3, steps), 2))
            cols["vibration"].append(np.round(np.abs(rng.normal(0.4 + hot / 30, 0.1, steps)), 3))
            cols["energy"].append(rng.integers(900, 1400, steps, dtype=np.int64))
    return pa.table({k: np.concatenate(v) for k, v in cols.items()})


EXAMPLE_QUERIES = (
    (f'SELECT factory, round(avg(temperature), 2) AS avg_temp, max(vibration) AS max_vib '
    f'FROM "{DATABASE}"."{TABLE}" WHERE time > ago(1h) GROUP BY factory ORDER BY factory'),
    (f'SELECT bin(time, 15m) AS t, machine, round(avg(temperature), 2) AS temp FROM "{DATABASE}"."{TABLE}" '
    f"WHERE factory = 'osaka' AND machine IN ('m07', 'm01') AND time > ago(2h) "
    f"GROUP BY bin(time, 15m), machine ORDER BY t, machine"),
    (f'SELECT factory, machine, count(*) AS readings FROM "{DATABASE}"."{TABLE}" WHERE temperature > 80 '
    f"GROUP BY factory, machine HAVING count(*) > 10 ORDER BY readings DESC LIMIT 5"),
)
