"""InfluxDB line protocol built column-wise from Arrow batches (also what VictoriaMetrics' /write gets)."""

from __future__ import annotations

import pyarrow as pa

from loadtest.peers import influx
from loadtest.tsbs import FIELDS, TAGS, CpuOnly

T0 = 1_451_606_400_000_000_000


def one_row(tags: dict[str, str | None], fields: dict[str, pa.Array], t: int = T0) -> pa.Table:
    cols: dict[str, pa.Array] = {"time": pa.array([t], pa.timestamp("ns"))}
    cols.update({k: pa.array([v], pa.string()) for k, v in tags.items()})
    cols.update(fields)
    return pa.table(cols)


def test_an_integer_row_gets_the_i_suffix_and_a_nanosecond_timestamp() -> None:
    batch = one_row({"hostname": "host_0", "region": "eu-west-1"},
                    {"usage_user": pa.array([58], pa.int64()), "usage_system": pa.array([2], pa.int64())})
    out = influx.line_protocol(batch, tags=("hostname", "region"), fields=("usage_user", "usage_system"))
    assert out == b"cpu,hostname=host_0,region=eu-west-1 usage_user=58i,usage_system=2i 1451606400000000000\n"


def test_floats_have_no_suffix_and_keep_their_decimals() -> None:
    batch = one_row({"hostname": "h"}, {"a": pa.array([58.13]), "b": pa.array([100.0])})
    assert influx.line_protocol(batch, tags=("hostname",), fields=("a", "b")) == b"cpu,hostname=h a=58.13,b=100 " \
        b"1451606400000000000\n"


def test_spaces_commas_and_equals_signs_in_tag_values_are_escaped() -> None:
    batch = one_row({"hostname": "a b,c=d"}, {"v": pa.array([1], pa.int64())})
    out = influx.line_protocol(batch, tags=("hostname",), fields=("v",))
    assert out == b"cpu,hostname=a\\ b\\,c\\=d v=1i 1451606400000000000\n"


def test_tag_keys_field_keys_and_the_measurement_are_escaped_too() -> None:
    batch = one_row({"my tag": "x"}, {"f,1": pa.array([1], pa.int64())})
    out = influx.line_protocol(batch, measurement="my cpu", tags=("my tag",), fields=("f,1",))
    assert out == b"my\\ cpu,my\\ tag=x f\\,1=1i 1451606400000000000\n"


def test_a_null_or_empty_tag_is_left_out_and_a_null_field_too() -> None:
    batch = one_row({"hostname": "h", "rack": None, "os": ""},
                    {"a": pa.array([None], pa.int64()), "b": pa.array([7], pa.int64())})
    out = influx.line_protocol(batch, tags=("hostname", "rack", "os"), fields=("a", "b"))
    assert out == b"cpu,hostname=h b=7i 1451606400000000000\n"


def test_a_tsbs_batch_gives_one_line_per_row_with_every_tag_and_field() -> None:
    data = CpuOnly(scale=3, end_ns=T0 + 20_000_000_000)
    batch = pa.concat_tables(data.chunks())
    lines = influx.line_protocol(batch).decode().splitlines()
    assert len(lines) == batch.num_rows == 6
    series, field_set, ts = lines[4].split(" ")
    assert series.split(",")[0] == "cpu" and [kv.split("=")[0] for kv in series.split(",")[1:]] == list(TAGS)
    assert [kv.split("=")[0] for kv in field_set.split(",")] == list(FIELDS)
    assert all(kv.endswith("i") for kv in field_set.split(","))
    assert ts == str(T0 + 10_000_000_000)
    assert series.startswith("cpu,hostname=host_1,")


def test_a_sliced_batch_renders_only_its_own_rows() -> None:
    batch = pa.concat_tables(CpuOnly(scale=4, end_ns=T0 + 10_000_000_000).chunks()).slice(1, 2)
    lines = influx.line_protocol(batch).decode().splitlines()
    assert [line.split(",")[1] for line in lines] == ["hostname=host_1", "hostname=host_2"]


def test_an_empty_batch_is_an_empty_payload() -> None:
    batch = pa.concat_tables(CpuOnly(scale=1, end_ns=T0 + 10_000_000_000).chunks()).slice(0, 0)
    assert influx.line_protocol(batch) == b""
