"""Segment files give back exactly the rows written, filter them exactly, and stay small."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from services.storage import segment_reader
from services.storage.blobstore import LocalBlobStore, from_uri
from services.storage.segments import (
    METADATA_KEY,
    SegmentInfo,
    SegmentOptions,
    encode_segment,
    lookup_keys,
    may_contain,
    read_info,
    read_segment,
)
from tessera import dedup, layout
from tessera.errors import InternalError, ValidationError

T0 = 1_700_000_000_000_000_000
SMALL_GROUPS = SegmentOptions(row_group_rows=1024)
WILD_FLOATS = np.array([
    np.nan, -0.0, 0.0, np.inf, -np.inf, 1e300, -1e300, 0.1 + 0.2, 5e-324, 2.0**63, -(2.0**70), 1.7976931348623157e308,
    np.array([0x7FF8_0000_DEAD_BEEF], np.uint64).view(np.float64)[0],  # a NaN with a payload
    np.array([0xFFF0_0000_0000_0001], np.uint64).view(np.float64)[0],  # a negative signalling NaN
])
STRINGS = np.array(["", "a", "host_1", "ünïcödé", "日本語", "emoji 🎉", "x" * 300, "tab\there"], dtype=object)
INT_EDGES = np.array([2**63 - 1, -(2**63), 2**63 - 2, -(2**63) + 1, 0, -1, 1], dtype=np.int64)


def identical(got: pa.Table, want: pa.Table) -> None:
    """Assert the same schema and every value bit for bit, NULLs in the same rows."""
    assert got.schema == want.schema
    assert got.num_rows == want.num_rows
    for name in want.column_names:
        a, b = got.column(name).combine_chunks(), want.column(name).combine_chunks()
        assert a.is_valid().equals(b.is_valid()), name
        if pa.types.is_floating(a.type):
            bits_a = a.fill_null(0.0).to_numpy(zero_copy_only=False).view(np.uint64)
            bits_b = b.fill_null(0.0).to_numpy(zero_copy_only=False).view(np.uint64)
            assert np.array_equal(bits_a, bits_b), name
        else:
            assert a.equals(b), name


def sort_keys(table: pa.Table) -> pa.Table:
    return table.sort_by([(layout.SERIES, "ascending"), (layout.TIME, "ascending")])


def with_nulls(rng: np.random.Generator, arr: pa.Array, share: float) -> pa.Array:
    if share == 0:
        return arr
    mask = rng.random(len(arr)) < share
    return pc.if_else(pa.array(mask), pa.nulls(len(arr), arr.type), arr)


def random_floats(rng: np.random.Generator, n: int, style: str) -> np.ndarray:
    if style == "decimal":
        return np.round(np.cumsum(rng.normal(0, 0.3, n)) + rng.uniform(-100, 100), rng.integers(0, 4))
    if style == "whole":
        return rng.integers(-10**6, 10**6, n).astype(np.float64)
    if style == "wild":
        return np.where(rng.random(n) < 0.3, rng.choice(WILD_FLOATS, n), rng.normal(0, 1e6, n))
    if style == "tiny":
        return rng.choice(np.array([1e-9, 2e-9, -3e-9, 1.5e-9]), n)
    if style == "mostly_decimal":  # DECIMAL_X: a few values that are no short decimal
        return np.where(rng.random(n) < 0.05, rng.choice(WILD_FLOATS, n), np.round(rng.normal(0, 50, n), 2))
    if style == "few":  # a Parquet dictionary
        return rng.choice(rng.normal(0, 1, 7), n)
    return rng.normal(0, 1, n)


def random_ints(rng: np.random.Generator, n: int, style: str) -> np.ndarray:
    if style == "walk":
        return np.cumsum(rng.integers(-3, 4, n)) + int(rng.integers(-(10**12), 10**12))
    if style == "edges":
        return rng.choice(INT_EDGES, n)
    if style == "counter":
        return np.cumsum(rng.integers(990, 1010, n))
    if style == "constant":
        return np.full(n, int(rng.integers(-5, 5)), np.int64)
    return rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64, endpoint=True)


def random_rows(seed: int) -> tuple[pa.Table, list[str]]:
    """Deduplicated layout rows of a random shape, keyed the way ingest keys them, in a random order."""
    rng = np.random.default_rng(seed)
    n_series = int(rng.choice([1, 2, 7, 50, 300]))
    per_series = int(rng.choice([1, 3, 20, 200]))
    series_of_row = np.repeat(np.arange(n_series), rng.integers(1, per_series + 1, n_series))
    n = len(series_of_row)
    offsets = np.concatenate([rng.choice(10**6, size=c, replace=False)
                              for c in np.bincount(series_of_row, minlength=n_series)])
    unit = int(rng.choice([1, 1000, 1_000_000, 1_000_000_000]))
    times = T0 + np.sort(offsets) * unit if n_series == 1 else T0 + offsets * unit
    columns: dict[str, pa.Array] = {"time": pa.array(times, pa.timestamp("ns"))}
    names = np.array(["cpu", "mem", "disk", "ünï"], dtype=object)[: int(rng.integers(1, 5))]
    columns["measure_name"] = pa.array(names[rng.integers(0, len(names), n_series)][series_of_row].tolist())
    dims = [f"d{i}" for i in range(int(rng.integers(0, 4)))]
    for d in dims:
        per = rng.choice(STRINGS, n_series).tolist()
        per = [None if rng.random() < 0.2 else v for v in per]
        per[0] = per[0] or "a"  # layout.hash_each fails on an all-NULL dimension column
        columns[d] = pa.array([per[s] for s in series_of_row], pa.string())
    measures: list[str] = []
    for i in range(int(rng.integers(1, 8))):
        kind = str(rng.choice(["float", "int", "string", "bool", "timestamp", "allnull", "nulltype"]))
        name = f"m{i}_{kind}"
        null_share = float(rng.choice([0.0, 0.0, 0.1, 0.6]))
        if kind == "float":
            arr = pa.array(random_floats(rng, n, str(rng.choice(["decimal", "whole", "wild", "tiny", "normal",
                                                                 "mostly_decimal", "few"]))))
        elif kind == "int":
            arr = pa.array(random_ints(rng, n, str(rng.choice(["walk", "edges", "counter", "constant", "any"]))))
        elif kind == "string":
            arr = pa.array(rng.choice(STRINGS, n).tolist(), pa.string())
        elif kind == "bool":
            arr = pa.array(rng.random(n) < 0.5)
        elif kind == "timestamp":
            arr = pa.array(rng.integers(0, 2**62, n), pa.timestamp("ns"))
        elif kind == "allnull":
            arr = pa.nulls(n, pa.float64())
        else:
            arr = pa.nulls(n)
        columns[name] = with_nulls(rng, arr, null_share) if kind not in ("allnull", "nulltype") else arr
        measures.append(name)
    table = pa.table(columns)
    versions = pa.array(rng.choice(np.array([1, 1, 1, 2, 2**40, 2**63 - 1]), n))
    keyed, _ = layout.with_key_columns(table, dims, [m for m in measures if "nulltype" not in m], versions)
    # series that came out alike (no dimensions, same name) may share times: keep one row per key
    order = np.lexsort((times, keyed.column("ts_series").to_numpy()))
    s, t = keyed.column("ts_series").to_numpy()[order], times[order]
    first = order[np.r_[True, (s[1:] != s[:-1]) | (t[1:] != t[:-1])]]
    keyed = keyed.take(pa.array(rng.permutation(first)))  # any order in, sorted out
    n = keyed.num_rows
    if rng.random() < 0.3:  # several chunks in
        keyed = pa.concat_tables([keyed.slice(0, n // 2), keyed.slice(n // 2)])
    return keyed, [m for m in measures if "nulltype" not in m]


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path)


def stored(store: LocalBlobStore, rows: pa.Table, measures: Sequence[str], path: str = "t/seg.parquet",
           options: SegmentOptions = SMALL_GROUPS) -> SegmentInfo:
    encoded = encode_segment(rows, measures, options=options)
    store.put(path, encoded.data)
    assert encoded.info.bytes == len(encoded.data) == store.size(path)
    return encoded.info


def codecs(store: LocalBlobStore, path: str = "t/seg.parquet") -> dict[str, list[Any]]:
    doc = json.loads(pq.read_metadata(store.open_read(path)).metadata[METADATA_KEY])
    return {c[0]: c[1:] for c in doc["columns"]}


# --- exact round trips ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(60))
def test_every_row_reads_back_bit_for_bit_sorted_by_series_then_time(store: LocalBlobStore, seed: int) -> None:
    rows, measures = random_rows(seed)
    options = SMALL_GROUPS if seed % 2 else SegmentOptions(compression_level=1 + seed % 19)
    info = stored(store, rows, measures, options=options)
    got = read_segment(store, "t/seg.parquet")
    identical(got.table, sort_keys(rows))
    times = rows.column("time").cast(pa.int64()).to_numpy()
    assert (info.rows, info.min_time_ns, info.max_time_ns) == (rows.num_rows, times.min(), times.max())
    assert info.columns == tuple((c, "NULL" if pa.types.is_null(rows.schema.field(c).type)
                                  else layout.type_name_of(rows.schema.field(c).type))
                                 for c in rows.column_names if c not in layout.FIXED_COLUMNS)
    assert info.measures == tuple(measures)
    assert info.measure_names == tuple(sorted(set(rows.column("measure_name").drop_null().to_pylist())))
    assert read_info(store, "t/seg.parquet") == info
    assert got.bytes_read <= info.bytes


@pytest.mark.parametrize("seed", range(12))
def test_a_selection_of_rows_is_stored_as_those_rows_taken_would_be(store: LocalBlobStore, seed: int) -> None:
    """A flush hands the encoder its frozen chunks and the order that keeps one row per key, never a sorted
    copy: the file must be byte for byte the one the selected rows themselves make."""
    rows, measures = random_rows(seed)
    rng = np.random.default_rng(seed)
    older = rows.take(pa.array(rng.choice(rows.num_rows, max(1, rows.num_rows // 3), replace=False)))
    older = older.set_column(older.schema.get_field_index("ts_version"), "ts_version",
                             pc.subtract(older.column("ts_version"), 1))
    chunks = pa.concat_tables([rows.slice(0, rows.num_rows // 2), older, rows.slice(rows.num_rows // 2)])
    order = dedup.latest_version_order(chunks)
    assert order is not None and len(order) == rows.num_rows
    selected = encode_segment(chunks, measures, options=SMALL_GROUPS, order=order)
    taken = encode_segment(dedup.latest_versions(chunks), measures, options=SMALL_GROUPS)
    assert selected.data == taken.data and selected.info == taken.info
    store.put("t/seg.parquet", selected.data)
    identical(read_segment(store, "t/seg.parquet").table, sort_keys(rows))


def test_a_single_row_reads_back(store: LocalBlobStore) -> None:
    table = pa.table({"time": pa.array([T0], pa.timestamp("ns")), "measure_name": ["m"], "host": ["a"],
                      "measure_value::double": [-0.0]})
    rows, _ = layout.with_key_columns(table, ["host"], ["measure_value::double"], pa.array([7]))
    stored(store, rows, ["measure_value::double"])
    identical(read_segment(store, "t/seg.parquet").table, rows)


def test_rows_over_many_row_groups_restart_their_differences_per_group(store: LocalBlobStore) -> None:
    n = 10_000  # one series across ten row groups of 1,024 rows
    table = pa.table({"time": pa.array(T0 + np.arange(n) * 10**9, pa.timestamp("ns")), "measure_name": ["m"] * n,
                      "v": np.cumsum(np.full(n, 1000)), "f": np.round(np.cumsum(np.full(n, 0.25)), 2)})
    rows, _ = layout.with_key_columns(table, [], ["v", "f"], pa.array(np.ones(n, np.int64)))
    stored(store, rows, ["v", "f"])
    assert pq.read_metadata(store.open_read("t/seg.parquet")).num_row_groups == 10
    identical(read_segment(store, "t/seg.parquet").table, rows)
    start, end = T0 + 5000 * 10**9, T0 + 5100 * 10**9  # inside group 4: decodes without groups 0..3
    got = read_segment(store, "t/seg.parquet", start_ns=start, end_ns=end)
    identical(got.table, rows.slice(5000, 100))
    assert codecs(store)["v"][1:3] == ["int", 2]  # a steady counter: differences of differences


# --- how columns are stored --------------------------------------------------------------------------------------


def one_series(**measures: Any) -> tuple[pa.Table, list[str]]:
    n = len(next(iter(measures.values())))
    table = pa.table({"time": pa.array(T0 + np.arange(n) * 10**9, pa.timestamp("ns")), "measure_name": ["m"] * n,
                      **measures})
    rows, _ = layout.with_key_columns(table, [], list(measures), pa.array(np.ones(n, np.int64)))
    return rows, list(measures)


def test_short_decimals_are_stored_as_scaled_integers_and_a_few_other_values_beside_them(
        store: LocalBlobStore) -> None:
    rng = np.random.default_rng(3)
    two = np.round(rng.normal(20, 5, 500), 2)
    rows, measures = one_series(
        two=pa.array(two), whole=pa.array(np.floor(two)), nines=pa.array(np.round(two / 1e7, 9)),
        with_null=pa.array(np.r_[two[:-1], np.nan], mask=np.r_[np.zeros(499, bool), True]),
        negative_zero=pa.array(np.r_[two[:-1], -0.0]), nan=pa.array(np.r_[two[:-1], np.nan]),
        inexact=pa.array(np.r_[two[:-1], 0.1 + 0.2]), huge=pa.array(np.r_[two[:-1], 1e300]),
        inf=pa.array(np.r_[two[:-1], np.inf]), subnormal=pa.array(np.r_[5e-324, two[1:]]),
        exceptions_and_nulls=pa.array(np.r_[two[:-3], -0.0, 0.1 + 0.2, 1.0], mask=np.r_[np.zeros(499, bool), True]))
    stored(store, rows, measures)
    got = {name: (codec, scale) for name, (_, codec, _, scale) in codecs(store).items()}
    assert got["two"] == ("decimal", 2) and got["with_null"] == ("decimal", 2)
    assert got["whole"] == ("decimal", 0) and got["nines"] == ("decimal", 9)
    for name in ("negative_zero", "nan", "inexact", "huge", "inf", "subnormal", "exceptions_and_nulls"):
        assert got[name] == ("decimal_x", 2), name
    file_columns = pq.read_schema(store.open_read("t/seg.parquet")).names
    assert "ts_x:negative_zero" in file_columns and "ts_x:two" not in file_columns
    assert json.loads(pq.read_metadata(store.open_read("t/seg.parquet")).metadata[METADATA_KEY])["format"] == 2
    identical(read_segment(store, "t/seg.parquet").table, rows)
    projected = read_segment(store, "t/seg.parquet", columns=["nan"], value_hash=False).table
    assert "nan" in projected.column_names and layout.VALUE_HASH not in projected.column_names
    identical(projected, rows.select(projected.column_names))


def test_doubles_that_are_no_short_decimals_take_a_dictionary_when_few_their_bits_as_integers_when_that_pays(
        store: LocalBlobStore) -> None:
    rng = np.random.default_rng(4)
    walk = 20 + np.cumsum(rng.normal(0, 0.01, 3000))
    few = np.round(rng.normal(20, 2, 3000), 2) * 9 / 5 + 32
    wild = rng.choice(np.r_[WILD_FLOATS[~np.isnan(WILD_FLOATS)], walk[:20]], 3000)
    rows, measures = one_series(walk=pa.array(walk), few=pa.array(rng.choice(few[:40], 3000)), wild=pa.array(wild),
                                noise=pa.array(rng.normal(0, 1, 3000), mask=rng.random(3000) < 0.3),
                                empty=pa.nulls(3000, pa.float64()))
    stored(store, rows, measures)
    got = {name: codec for name, (_, codec, _, _) in codecs(store).items()}
    assert got["walk"] == "float_bits" and got["few"] == "float"
    assert got["noise"] == "float" and got["empty"] == "float"  # noise's bit differences save nothing
    meta = pq.read_metadata(store.open_read("t/seg.parquet"))
    few_chunk = meta.row_group(0).column(meta.schema.names.index("few"))
    assert few_chunk.has_dictionary_page
    identical(read_segment(store, "t/seg.parquet").table, rows)
    identical(read_segment(store, "t/seg.parquet", start_ns=T0 + 1500 * 10**9).table,
              rows.filter(pc.greater_equal(rows.column("time"), pa.scalar(T0 + 1500 * 10**9, pa.timestamp("ns")))))


def test_a_file_of_the_first_format_still_reads_back_exactly(store: LocalBlobStore) -> None:
    data = Path(__file__).parent / "data"
    store.put("t/old.parquet", (data / "segment_format1.parquet").read_bytes())
    rows = pa.ipc.open_file(data / "segment_format1_rows.arrow").read_all()
    assert json.loads(pq.read_metadata(store.open_read("t/old.parquet")).metadata[METADATA_KEY])["format"] == 1
    identical(read_segment(store, "t/old.parquet").table, sort_keys(rows))
    keys = sort_keys(rows).slice(5, 3)
    identical(lookup_keys(store, "t/old.parquet", keys.column("ts_series").to_numpy(),
                          keys.column("time").cast(pa.int64()).to_numpy()), keys)


def test_a_file_of_only_first_format_codecs_is_marked_as_the_first_format(store: LocalBlobStore) -> None:
    rows, measures = one_series(two=pa.array(np.round(np.linspace(0, 9, 100), 2)), n=pa.array(np.arange(100)))
    stored(store, rows, measures)
    assert json.loads(pq.read_metadata(store.open_read("t/seg.parquet")).metadata[METADATA_KEY])["format"] == 1


def test_short_series_store_their_sorted_hashes_as_deltas_and_keep_statistics(store: LocalBlobStore) -> None:
    n = 5000
    table = pa.table({"time": pa.array(T0 + np.arange(n) * 10**6, pa.timestamp("ns")), "measure_name": ["m"] * n,
                      "request_id": [f"r{i}" for i in range(n)], "v": np.arange(n)})
    rows, _ = layout.with_key_columns(table, ["request_id"], ["v"], pa.array(np.ones(n, np.int64)))
    stored(store, rows, ["v"])
    assert codecs(store)["ts_series"][1] == "delta"
    meta = pq.read_metadata(store.open_read("t/seg.parquet"))
    assert meta.row_group(0).column(meta.schema.names.index("ts_series")).statistics.has_min_max
    identical(read_segment(store, "t/seg.parquet").table, sort_keys(rows))
    identical(read_segment(store, "t/seg.parquet", dimension_in={"request_id": ["r7", "r4000"]}).table,
              sort_keys(rows.filter(pc.is_in(rows.column("request_id"), pa.array(["r7", "r4000"])))))
    keys = sort_keys(rows).slice(4000, 2)
    identical(lookup_keys(store, "t/seg.parquet", keys.column("ts_series").to_numpy(),
                          keys.column("time").cast(pa.int64()).to_numpy()), keys)


def test_times_are_stored_in_the_coarsest_exact_unit(store: LocalBlobStore) -> None:
    for step, scale in ((10**9, 6), (1_000_500_000, 3), (1_000_001_000, 3), (1_000_000_001, 0)):
        rows, measures = one_series(v=pa.array(np.arange(50)))
        rows = rows.set_column(0, "time", pa.array(T0 + np.arange(50) * step, pa.timestamp("ns")))
        stored(store, rows, measures)
        assert codecs(store)["time"][3] == scale
        identical(read_segment(store, "t/seg.parquet").table, rows)


def test_the_value_hash_is_recomputed_not_stored(store: LocalBlobStore) -> None:
    rows, measures = random_rows(5)
    stored(store, rows, measures)
    assert codecs(store)["ts_vhash"][1] == "computed"
    assert "ts_vhash" not in pq.read_schema(store.open_read("t/seg.parquet")).names


def test_a_value_hash_that_does_not_recompute_is_stored_and_read_back(store: LocalBlobStore) -> None:
    rows, measures = one_series(a=pa.array([1.5, 2.5, 3.5]), b=pa.array([1, 2, 3]))
    for given_measures, vhash in ((["a"], rows.column("ts_vhash")), (measures, pa.array([1, 2, 3], pa.uint64()))):
        odd = rows.set_column(rows.column_names.index("ts_vhash"), "ts_vhash", vhash)
        stored(store, odd, given_measures)
        assert codecs(store)["ts_vhash"][1] == "plain"
        identical(read_segment(store, "t/seg.parquet").table, odd)


def test_tsbs_shaped_rows_take_under_half_a_byte_a_value(store: LocalBlobStore) -> None:
    rng = np.random.default_rng(1)
    hosts, epochs = 100, 360
    walk = np.clip(np.cumsum(rng.normal(0, 1, (hosts, epochs, 10)), axis=1) + rng.uniform(0, 100, (hosts, 1, 10)),
                   0, 100)
    table = pa.table({"time": pa.array(np.tile(T0 + np.arange(epochs) * 10**10, hosts), pa.timestamp("ns")),
                      "measure_name": ["cpu"] * (hosts * epochs),
                      "hostname": np.repeat([f"host_{h}" for h in range(hosts)], epochs).tolist(),
                      "region": np.repeat([f"r{h % 9}" for h in range(hosts)], epochs).tolist(),
                      **{f"f{j}": np.floor(walk[:, :, j]).astype(np.int64).ravel() for j in range(10)}})
    measures = [f"f{j}" for j in range(10)]
    rows, _ = layout.with_key_columns(table, ["hostname", "region"], measures, pa.array(np.ones(len(table), np.int64)))
    info = stored(store, rows, measures, options=SegmentOptions())
    assert info.bytes / (rows.num_rows * 10) < 0.40
    assert len(json.dumps(info.to_json())) / (rows.num_rows * 10) < 0.01


# --- filtered reads ----------------------------------------------------------------------------------------------


def expected(rows: pa.Table, start_ns: int | None, end_ns: int | None, dimension_in: Mapping[str, Sequence[str]],
             measure_names: Sequence[str] | None) -> pa.Table:
    """The rows a filtered read must return, computed the plain way."""
    times = rows.column("time").cast(pa.int64()).to_numpy()
    keep = np.ones(rows.num_rows, bool)
    if start_ns is not None:
        keep &= times >= start_ns
    if end_ns is not None:
        keep &= times < end_ns
    lists = {**dimension_in, **({"measure_name": measure_names} if measure_names is not None else {})}
    for name, values in lists.items():
        if name not in rows.column_names:
            keep[:] = False
            continue
        hit = pc.is_in(rows.column(name), value_set=pa.array(list(values), pa.string()))
        keep &= pc.fill_null(hit, False).to_numpy(zero_copy_only=False)
    return rows.filter(pa.array(keep))


@pytest.mark.parametrize("seed", range(40))
def test_reads_return_exactly_the_rows_in_the_time_range_with_the_listed_dimensions_and_names(
        store: LocalBlobStore, seed: int) -> None:
    rows, measures = random_rows(100 + seed)
    stored(store, rows, measures)
    rng = np.random.default_rng(seed)
    times = rows.column("time").cast(pa.int64()).to_numpy()
    lo, hi = np.sort(rng.choice(times, 2))
    start = None if rng.random() < 0.3 else int(lo)
    end = None if rng.random() < 0.3 else int(hi) + int(rng.integers(0, 2))
    dims = [c for c in rows.column_names if c.startswith("d")]
    dimension_in = {d: rng.choice(STRINGS, int(rng.integers(0, 4))).tolist() for d in dims if rng.random() < 0.5}
    names = None if rng.random() < 0.5 else rng.choice(["cpu", "mem", "disk", "ünï", "none"], 2).tolist()
    got = read_segment(store, "t/seg.parquet", start_ns=start, end_ns=end, dimension_in=dimension_in,
                       measure_names=names)
    identical(got.table, expected(sort_keys(rows), start, end, dimension_in, names))


def test_a_projection_has_the_fixed_columns_and_those_asked_for_with_a_correct_value_hash(
        store: LocalBlobStore) -> None:
    rows, measures = random_rows(7)
    stored(store, rows, measures)
    asked = [measures[0], "no_such_column"]
    got = read_segment(store, "t/seg.parquet", columns=asked)
    keep = [c for c in rows.column_names if c in layout.FIXED_COLUMNS or c == measures[0]]
    identical(got.table, sort_keys(rows).select(keep))
    lean = read_segment(store, "t/seg.parquet", columns=asked, value_hash=False)
    identical(lean.table, sort_keys(rows).select([c for c in keep if c != "ts_vhash"]))
    assert lean.bytes_read <= got.bytes_read


def test_pruned_reads_read_fewer_bytes_than_full_ones(store: LocalBlobStore) -> None:
    n = 20_000  # 20 series of 1,000 rows; row groups of 1,024 rows
    table = pa.table({"time": pa.array(T0 + np.tile(np.arange(1000), 20) * 10**9, pa.timestamp("ns")),
                      "measure_name": ["m"] * n, "host": np.repeat([f"h{i:02d}" for i in range(20)], 1000).tolist(),
                      "v": np.random.default_rng(0).normal(0, 1, n)})
    rows, _ = layout.with_key_columns(table, ["host"], ["v"], pa.array(np.ones(n, np.int64)))
    info = stored(store, rows, ["v"])
    full = read_segment(store, "t/seg.parquet")
    one_host = read_segment(store, "t/seg.parquet", dimension_in={"host": ["h07"]})
    no_host = read_segment(store, "t/seg.parquet", dimension_in={"host": ["zz"]})
    no_name = read_segment(store, "t/seg.parquet", measure_names=["other"])
    late = read_segment(store, "t/seg.parquet", start_ns=T0 + 2000 * 10**9)
    assert full.table.num_rows == n and full.bytes_read <= info.bytes
    assert one_host.table.num_rows == 1000 and one_host.bytes_read < full.bytes_read / 5
    assert no_host.table.num_rows == 0 and no_host.bytes_read < full.bytes_read / 5
    assert no_name.table.num_rows == late.table.num_rows == 0
    footer = pq.read_metadata(store.open_read("t/seg.parquet")).serialized_size + 8
    assert no_name.bytes_read == late.bytes_read == footer  # every row group pruned by its statistics
    identical(no_host.table, full.table.slice(0, 0))


def test_a_dimension_the_segment_lacks_matches_nothing_and_a_measure_cannot_be_an_in_list(
        store: LocalBlobStore) -> None:
    rows, measures = one_series(v=pa.array([1.0, 2.0]))
    stored(store, rows, measures)
    assert read_segment(store, "t/seg.parquet", dimension_in={"absent": ["x"]}).table.num_rows == 0
    assert read_segment(store, "t/seg.parquet", dimension_in={}).table.num_rows == 2
    with pytest.raises(ValidationError, match="not a string column"):
        read_segment(store, "t/seg.parquet", dimension_in={"v": ["1.0"]})


# --- write-time dedup ------------------------------------------------------------------------------------------


def test_may_contain_never_misses_a_stored_key_and_rules_out_other_series_and_times(store: LocalBlobStore) -> None:
    rows, measures = random_rows(13)  # 31,517 rows
    info = encode_segment(rows, measures).info
    back = SegmentInfo.from_json(json.loads(json.dumps(info.to_json())))
    assert back == info
    series = rows.column("ts_series").to_numpy()
    times = rows.column("time").cast(pa.int64()).to_numpy()
    assert may_contain(back, series, times).all()
    other_series = series ^ np.uint64(0x5A5A)
    assert not may_contain(back, other_series, times).any()
    assert not may_contain(back, series, times + 2 * 10**18).any()
    assert not may_contain(back, series[:0], times[:0]).any()


@pytest.mark.parametrize("seed", [4, 13, 23])  # 6, 31 and 1 row groups
def test_lookup_keys_returns_the_stored_rows_of_the_keys_it_holds_only(store: LocalBlobStore, seed: int) -> None:
    rows, measures = random_rows(seed)
    stored(store, rows, measures)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(rows.num_rows, min(25, rows.num_rows), replace=False))
    series = rows.column("ts_series").to_numpy()[pick]
    times = rows.column("time").cast(pa.int64()).to_numpy()[pick]
    asked_series = np.r_[series, series[:3], np.uint64(12345)]
    asked_times = np.r_[times, times[:3] + 1, times[0]]
    got = lookup_keys(store, "t/seg.parquet", asked_series, asked_times)
    identical(got, sort_keys(rows.take(pa.array(pick))))
    none = lookup_keys(store, "t/seg.parquet", np.array([], np.uint64), np.array([], np.int64))
    assert none.num_rows == 0 and none.schema == rows.schema


# --- what cannot be stored, or read ----------------------------------------------------------------------------


def test_rows_that_cannot_be_stored_exactly_are_rejected() -> None:
    rows, measures = one_series(v=pa.array([1.0, 2.0]))
    cases: list[tuple[pa.Table, str]] = [
        (rows.slice(0, 0), "no rows"),
        (pa.concat_tables([rows, rows.slice(1)]), "twice"),
        (rows.drop_columns(["ts_version"]), "lack the column 'ts_version'"),
        (rows.set_column(rows.column_names.index("v"), "v", rows.column("v").cast(pa.float32())), "float"),
        (rows.set_column(0, "time", rows.column("time").cast(pa.timestamp("ns", "UTC"))), "'time'"),
        (rows.append_column("s", pa.array(["a", "b"], pa.large_string())), "'s'"),
        (rows.set_column(rows.column_names.index("ts_series"), "ts_series", pa.array([1, None], pa.uint64())),
         "NULL in key column 'ts_series'"),
    ]
    for bad, message in cases:
        with pytest.raises(ValidationError, match=message):
            encode_segment(bad, measures)


def test_a_file_that_is_not_a_segment_is_an_internal_error_naming_it(store: LocalBlobStore) -> None:
    store.put("t/junk.parquet", b"PAR1 not really PAR1")
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"x": [1]}), sink)
    store.put("t/plain.parquet", sink.getvalue().to_pybytes())
    for path in ("t/junk.parquet", "t/plain.parquet", "t/missing.parquet"):
        with pytest.raises(InternalError, match=f"cannot read segment {path}"):
            read_segment(store, path)


def test_a_segment_in_an_object_store_reads_like_a_local_one() -> None:
    objects = from_uri("mock:///bucket/magnetic")
    rows, measures = random_rows(0)
    objects.put("t/seg.parquet", encode_segment(rows, measures).data)
    identical(read_segment(objects, "t/seg.parquet", measure_names=["cpu"]).table,
              expected(sort_keys(rows), None, None, {}, ["cpu"]))


def test_a_segment_rewritten_under_its_name_is_read_afresh_when_the_manifest_identity_changes(
        store: LocalBlobStore) -> None:
    first, measures = random_rows(3)
    info = stored(store, first, measures)
    identity = (info.rows, info.bytes, info.min_time_ns, info.max_time_ns)
    identical(read_segment(store, "t/seg.parquet", identity=identity).table, sort_keys(first))
    assert segment_reader.FOOTERS.get((repr(store), "t/seg.parquet", *identity)) is not None
    identical(read_segment(store, "t/seg.parquet", identity=identity).table, sort_keys(first))  # from the cache
    second, measures2 = random_rows(4)
    info2 = stored(store, second, measures2)  # the same name, other rows
    identity2 = (info2.rows, info2.bytes, info2.min_time_ns, info2.max_time_ns)
    assert identity2 != identity
    identical(read_segment(store, "t/seg.parquet", identity=identity2).table, sort_keys(second))
    identical(read_segment(store, "t/seg.parquet").table, sort_keys(second))  # no identity: never cached
