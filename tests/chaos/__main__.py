"""The full chaos matrix: ``python -m tests.chaos [--data-dir D] [--hold-s 10] [--only TEXT…] [--out report.json]``.

Prints one row per fault (writes acknowledged / failed, write and read availability, wrong reads) and the
totals (attempted, acknowledged, lost, rejected values visible, time to converge); exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from tests.chaos import faults
from tests.chaos.run import run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=None, help="where the cluster lives (default: a temporary dir)")
    p.add_argument("--hold-s", type=float, default=10.0, help="how long each fault is held")
    p.add_argument("--gap-s", type=float, default=5.0, help="pause between faults")
    p.add_argument("--short", action="store_true", help="the CI pass's faults only")
    p.add_argument("--only", nargs="+", default=None, metavar="TEXT",
                   help="run only the faults whose name contains one of these (e.g. 'SIGSTOP query')")
    p.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    a = p.parse_args(argv)
    chosen = faults.SHORT if a.short else faults.FULL
    if a.only:
        chosen = tuple(f for f in chosen if any(text in f.name for text in a.only))
        if not chosen:
            p.error(f"no fault's name contains any of {a.only}; they are: {', '.join(f.name for f in faults.FULL)}")
    data_dir = a.data_dir or Path(tempfile.mkdtemp(prefix="tessera-chaos-"))
    report = run(data_dir, chosen, a.hold_s, a.gap_s)
    print("| fault | role | writes acked | writes failed | write availability | reads ok | reads failed | "
          "read availability | wrong reads |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for f in report.faults:
        print(f"| {f.fault} | {f.role} | {f.writes_acked} | {f.writes_failed} | {f.write_availability:.2%} | "
              f"{f.reads_answered} | {f.reads_failed} | {f.read_availability:.2%} | {len(f.wrong_reads)} |")
    c = report.counts
    print(f"\nattempted {c['attempted']}, acknowledged {c['acked']} (conflicts rejected {c['conflict_rejected']}, "
          f"retries acknowledged {c['retry_acked']}, upserts acknowledged {c['upsert_acked']}); "
          f"{report.replicas_checked} replicas checked against {report.acked_keys} acknowledged keys; "
          f"lost {len(report.lost)}, wrong on a replica {len(report.wrong_on_replicas)}, rejected visible "
          f"{len(report.rejected_visible)}; converged {report.converge_s} s after the last heal")
    for v in report.violations:
        print("VIOLATION:", v)
    if a.out:
        a.out.write_text(json.dumps(report.to_json(), indent=2))
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
