"""Hash ranges and replica placement."""

from __future__ import annotations

import pytest

from tessera import errors, placement
from tessera.layout import HASH_SPACE, dimension_hash
from tessera.v1 import common_pb2


def _node(i: int, zone: str) -> common_pb2.NodeInfo:
    return common_pb2.NodeInfo(node_id=f"n{i}", zone=zone, role="storage", address=f"127.0.0.1:{9000 + i}")


def test_every_hash_falls_in_exactly_the_range_that_covers_it() -> None:
    ranges = [common_pb2.HashRange(lo=0, hi=HASH_SPACE // 2, cell="a"),
              common_pb2.HashRange(lo=HASH_SPACE // 2, hi=0, cell="b")]
    assert placement.range_for(ranges, 0).cell == "a"
    assert placement.range_for(ranges, HASH_SPACE // 2 - 1).cell == "a"
    assert placement.range_for(ranges, HASH_SPACE // 2).cell == "b"
    assert placement.range_for(ranges, HASH_SPACE - 1).cell == "b"


def test_dimension_order_does_not_change_the_routing_hash() -> None:
    assert dimension_hash([("a", "1"), ("b", "2")]) == dimension_hash([("b", "2"), ("a", "1")])
    assert dimension_hash([("a", "1")]) != dimension_hash([("a", "2")])


def test_three_nodes_in_three_zones_hold_every_tile() -> None:
    nodes = [_node(0, "a"), _node(1, "b"), _node(2, "c")]
    for bucket in range(50):
        chosen = placement.replicas(placement.tile_name("t", 0, bucket), nodes)
        assert sorted(n.node_id for n in chosen) == ["n0", "n1", "n2"]


def test_replicas_are_always_in_three_distinct_zones_and_spread_over_larger_cells() -> None:
    nodes = [_node(i, "abc"[i % 3]) for i in range(9)]
    seen = set()
    for bucket in range(200):
        chosen = placement.replicas(placement.tile_name("t", 0, bucket), nodes)
        assert len({n.zone for n in chosen}) == 3
        seen.update(n.node_id for n in chosen)
    assert len(seen) == 9


def test_placement_is_stable_when_a_node_is_added_to_another_zone_set() -> None:
    nodes = [_node(i, "abc"[i % 3]) for i in range(6)]
    before = {b: [n.node_id for n in placement.replicas(placement.tile_name("t", 0, b), nodes)] for b in range(100)}
    after_nodes = nodes + [_node(6, "a")]
    moved = sum(before[b] != [n.node_id for n in placement.replicas(placement.tile_name("t", 0, b), after_nodes)]
                for b in range(100))
    assert moved < 60  # only tiles whose zone-a winner is the new node move


def test_a_cell_with_fewer_than_three_zones_cannot_place_a_tile() -> None:
    with pytest.raises(errors.Unavailable, match="3 zones"):
        placement.replicas("t/0/1", [_node(0, "a"), _node(1, "a"), _node(2, "b")])


def test_vectorised_dimension_hashes_equal_the_per_record_hash_with_absent_dimensions() -> None:
    import pyarrow as pa

    from tessera.layout import dimension_hashes

    table = pa.table({"zone": ["a", None, "c", "a"], "host": ["h1", "h2", None, "h1"], "rack": ["r", "r", "r", None]})
    got = dimension_hashes(table, ["zone", "host", "rack"])
    rows = table.to_pylist()
    want = [dimension_hash([(k, v) for k, v in r.items() if v is not None]) for r in rows]
    assert got.tolist() == want


def test_value_hashes_ignore_nulls_and_absent_columns_but_see_every_value() -> None:
    import pyarrow as pa

    from tessera.layout import value_hashes

    base = pa.table({"t": [1.5, 1.5, 2.5], "s": ["x", None, "x"]})
    h = value_hashes(base, ["t", "s"])
    assert h[0] != h[1] and h[0] != h[2]
    assert value_hashes(base.select(["t"]), ["t"])[1] == h[1]  # a NULL is the same as no column at all
    renamed = pa.table({"u": [1.5], "s": ["x"]})
    assert value_hashes(renamed, ["u", "s"])[0] != h[0]  # the measure name is part of the hash


def test_a_dimension_column_that_is_null_in_every_row_hashes_like_an_absent_dimension() -> None:
    import pyarrow as pa

    from tessera import layout

    times = pa.array([1, 2], pa.int64()).cast(layout.TIME_TYPE)
    with_nulls = pa.table({"time": times, "measure_name": ["m", "m"], "host": ["a", "b"],
                           "rack": pa.array([None, None], pa.string()), "v": [1.0, 2.0]})
    without = with_nulls.drop_columns(["rack"])
    a, a_dims = layout.with_key_columns(with_nulls, ["host", "rack"], ["v"], pa.array([1, 1]))
    b, b_dims = layout.with_key_columns(without, ["host"], ["v"], pa.array([1, 1]))
    assert a.column(layout.SERIES).equals(b.column(layout.SERIES)) and a_dims.tolist() == b_dims.tolist()


def test_a_node_placement_moved_a_tile_from_says_so_and_a_view_that_cannot_tell_says_nothing() -> None:
    before = [_node(0, "a"), _node(1, "b"), _node(2, "c")]
    after = [*before, _node(3, "a"), _node(4, "b")]  # two nodes joined: some tiles left n0 and n1
    moved = next(f"t/{i:016x}/0" for i in range(1000)
                 if {n.node_id for n in placement.replicas(f"t/{i:016x}/0", after)} == {"n3", "n4", "n2"})
    assert placement.not_a_replica("n2", moved, after) is None
    assert placement.not_a_replica("n3", moved, after) is None
    why = placement.not_a_replica("n0", moved, after)
    assert why is not None and "n0 is not a replica" in why and "out of date" in why
    assert placement.not_a_replica("n0", moved, before) is None  # in its old view it still is
    assert placement.not_a_replica("n9", moved, after) is None  # a view without the node tells nothing
    assert placement.not_a_replica("n0", moved, after[:2]) is None  # nor one with fewer than three zones
