"""latest_versions: the one dedup rule (highest version, then highest value hash)."""

from __future__ import annotations

import pyarrow as pa

from tessera import layout
from tessera.dedup import latest_versions

BASE = 1_700_000_000_000_000_000


def rows(entries: list[tuple[int, int, int, int, str]]) -> pa.Table:
    """(series, time offset, version, vhash, label) → a minimal layout table."""
    return pa.table(
        {
            layout.TIME: pa.array([BASE + e[1] for e in entries], pa.int64()).cast(layout.TIME_TYPE),
            layout.MEASURE_NAME: pa.array(["m"] * len(entries)),
            layout.SERIES: pa.array([e[0] for e in entries], pa.uint64()),
            layout.VERSION: pa.array([e[2] for e in entries], pa.int64()),
            layout.VALUE_HASH: pa.array([e[3] for e in entries], pa.uint64()),
            "label": pa.array([e[4] for e in entries]),
        }
    )


def labels(table: pa.Table) -> list[str]:
    return [str(v) for v in table.column("label").to_pylist()]


def test_the_highest_version_of_each_key_wins() -> None:
    table = rows([(1, 0, 1, 50, "old"), (1, 0, 3, 10, "new"), (1, 0, 2, 90, "mid"), (2, 0, 1, 1, "other")])
    assert labels(latest_versions(table)) == ["new", "other"]


def test_a_version_tie_goes_to_the_highest_value_hash_including_the_top_bit() -> None:
    table = rows([(1, 0, 2, 5, "low"), (1, 0, 2, (1 << 64) - 1, "high"), (1, 0, 2, 1 << 63, "mid")])
    assert labels(latest_versions(table)) == ["high"]


def test_the_winner_does_not_depend_on_input_order() -> None:
    entries = [
        (7, 1, 1, 3, "a"),
        (7, 1, 1, 9, "b"),
        (7, 2, 4, 0, "c"),
        (7, 2, 1, 9, "d"),
        (1 << 63, 1, 1, 1, "e"),
    ]
    forward = latest_versions(rows(entries))
    backward = latest_versions(rows(entries[::-1]))
    assert labels(forward) == labels(backward) == ["b", "c", "e"]


def test_distinct_keys_are_all_kept_sorted_by_series_then_time() -> None:
    table = rows([(2, 5, 1, 0, "b5"), (1, 9, 1, 0, "a9"), (2, 1, 1, 0, "b1"), (1, 3, 1, 0, "a3")])
    assert labels(latest_versions(table)) == ["a3", "a9", "b1", "b5"]


def test_exact_duplicates_collapse_to_one_row() -> None:
    assert latest_versions(rows([(1, 0, 1, 4, "x"), (1, 0, 1, 4, "x")])).num_rows == 1


def test_tiny_and_chunked_tables_are_handled() -> None:
    assert latest_versions(rows([])).num_rows == 0
    assert labels(latest_versions(rows([(1, 0, 1, 1, "only")]))) == ["only"]
    chunked = pa.concat_tables([rows([(1, 0, 1, 1, "v1")]), rows([(1, 0, 2, 1, "v2")])])
    assert labels(latest_versions(chunked)) == ["v2"]


def test_replicas_resolve_a_same_version_conflict_to_the_value_most_of_them_hold() -> None:
    from tessera.dedup import resolve_replicas

    # Replica a missed the acknowledged value (vhash 5) and stored a conflicting one with a higher hash.
    a = rows([(1, 0, 1, 99, "rejected"), (2, 0, 1, 7, "x")])
    b = rows([(1, 0, 1, 5, "acknowledged"), (2, 0, 1, 7, "x")])
    c = rows([(1, 0, 1, 5, "acknowledged")])
    assert labels(resolve_replicas([a, b, c], all_answered=True)) == ["acknowledged", "x"]
    assert labels(resolve_replicas([b, a, c], all_answered=True)) == ["acknowledged", "x"]
    # A newer version wins whatever the votes; a key only one replica holds is kept.
    d = rows([(1, 0, 2, 1, "newer"), (3, 0, 1, 1, "lone")])
    assert labels(resolve_replicas([a, b, d], all_answered=True)) == ["newer", "x", "lone"]


def test_a_tie_with_a_replica_silent_is_an_error_and_with_all_answering_the_hash_decides() -> None:
    import pytest

    from tessera.dedup import ReplicasDisagree, resolve_replicas

    a = rows([(1, 0, 1, 99, "high"), (2, 5, 1, 1, "y")])
    b = rows([(1, 0, 1, 5, "low"), (2, 5, 1, 1, "y")])
    with pytest.raises(ReplicasDisagree, match="did not answer"):
        resolve_replicas([a, b], all_answered=False)
    assert labels(resolve_replicas([a, b, rows([])], all_answered=True)) == ["high", "y"]
    assert labels(resolve_replicas([b, b], all_answered=False)) == ["low", "y"]


def test_rows_that_hold_each_key_once_come_back_in_key_order_and_sorted_ones_are_not_copied() -> None:
    unique = rows([(2, 0, 1, 1, "c"), (1, 5, 1, 1, "b"), (1, 0, 9, 1, "a")])
    assert labels(latest_versions(unique)) == ["a", "b", "c"]
    in_order = latest_versions(unique)
    assert latest_versions(in_order) is in_order


def test_one_repeated_key_among_many_unique_ones_still_takes_the_newest_version() -> None:
    entries = [(s, t, 1, 1, f"{s}/{t}") for s in (3, 1, 2) for t in (20, 0, 10)]
    entries.append((2, 10, 5, 0, "upsert"))
    got = labels(latest_versions(rows(entries)))
    assert got == ["1/0", "1/10", "1/20", "2/0", "upsert", "2/20", "3/0", "3/10", "3/20"]
