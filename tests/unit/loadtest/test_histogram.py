"""Latency histograms give HDR percentiles and merge across processes through their encoded form."""

from __future__ import annotations

import pickle

import pytest

from loadtest.histogram import Latency


def filled(values_ms: range) -> Latency:
    h = Latency()
    for v in values_ms:
        h.record_us(v * 1000)
    return h


def test_percentiles_are_within_three_significant_digits() -> None:
    s = filled(range(1, 1001)).summary()
    assert s.count == 1000
    assert s.p50_ms == pytest.approx(500, rel=1e-3)
    assert s.p95_ms == pytest.approx(950, rel=1e-3)
    assert s.p99_ms == pytest.approx(990, rel=1e-3)
    assert s.p999_ms == pytest.approx(999, rel=1e-3)
    assert s.max_ms == pytest.approx(1000, rel=1e-3)
    assert s.mean_ms == pytest.approx(500.5, rel=1e-3)


def test_an_encoded_histogram_decodes_to_the_same_figures() -> None:
    h = filled(range(1, 200))
    assert Latency.decode(pickle.loads(pickle.dumps(h.encode()))).summary() == h.summary()


def test_merging_two_workers_equals_recording_everything_in_one() -> None:
    merged = Latency.decode(filled(range(1, 501)).encode())
    merged.merge(Latency.decode(filled(range(501, 1001)).encode()))
    assert merged.summary() == filled(range(1, 1001)).summary()


def test_an_empty_histogram_summarises_to_zeros_and_survives_encoding() -> None:
    s = Latency.decode(Latency().encode()).summary()
    assert s.count == 0 and s.p99_ms == 0.0


def test_calls_slower_than_60_seconds_are_kept_and_counted_as_clamped() -> None:
    h = Latency()
    h.record_seconds(75.0)
    h.record_seconds(0.0000001)
    s = Latency.decode(h.encode()).summary()
    assert s.count == 2 and s.clamped == 1
    assert s.max_ms == pytest.approx(60_000, rel=1e-3)
    assert s.min_ms == pytest.approx(0.001)
