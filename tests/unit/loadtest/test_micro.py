"""The in-process step costs run end to end on small inputs and report every step."""

from __future__ import annotations

from loadtest import micro


def test_every_step_is_measured_with_a_positive_cost() -> None:
    steps = micro.measure(records=50, batch_rows=200)
    assert len(steps) == 14
    assert all(cost > 0 and unit in ("µs a record", "ms", "k rows/s") for _, cost, unit in steps)
    assert any("200,000-row mixed-type" in step for step, _, _ in steps)
    assert any(step.startswith("storage: scan") for step, _, _ in steps)
    assert any(step.startswith("storage: read 1 host") for step, _, _ in steps)
