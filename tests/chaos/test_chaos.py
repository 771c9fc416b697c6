"""The short chaos pass CI runs (the full matrix: ``python -m tests.chaos``): one fault of each kind against a
real cluster under a steady ledger writer and reader; nothing acknowledged may be lost, no read may be wrong,
no rejected value may be visible, and every replica must hold exactly the acknowledged records within 60 s
of the last heal."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import faults
from tests.chaos.run import run

pytestmark = pytest.mark.integration


@pytest.mark.timeout(600)
def test_short_chaos_pass_loses_nothing_and_answers_nothing_wrong(tmp_path: Path) -> None:
    report = run(tmp_path, faults.SHORT, hold_s=6, gap_s=3)
    assert report.violations == [], report.violations
    assert report.counts["acked"] > 500 and report.counts["conflict_rejected"] > 0 and report.counts["retry_acked"] > 0
    assert report.replicas_checked == 3 and report.acked_keys > 0
    assert report.converge_s <= 60
    for fault in report.faults:  # a single failure may cost retries, not writes
        assert fault.write_availability >= 0.99, (fault.fault, fault.writes_acked, fault.writes_failed)
        assert fault.reads_answered > 0 and fault.read_availability >= 0.9, (fault.fault, fault.reads_failed)
