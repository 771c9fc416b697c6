"""UNLOAD: the statement and its options, and the files written (into a local directory through pyarrow.fs,
the same interface the object store is written through)."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import pathlib
import threading
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from services.query import unload, unload_files
from tessera.errors import Cancelled, ValidationError


def test_defaults_and_options_as_timestream_spells_them() -> None:
    got = unload.parse("UNLOAD (SELECT a, ')' AS \"x)\" FROM db.t WHERE s = '(') TO 's3://my-bucket/a/b/'")
    assert got == unload.Unload(select="SELECT a, ')' AS \"x)\" FROM db.t WHERE s = '('", bucket="my-bucket",
                                prefix="a/b")
    assert (got.format, got.compression, got.include_header, got.field_delimiter, got.escaped_by) == \
        ("CSV", "GZIP", False, ",", "\\")
    assert got.max_file_bytes == 78 * 1000 ** 3
    full = unload.parse("""-- export
        unload(SELECT 1 AS v, 'x' AS p) to 's3://bk1/f' with (
          PARTITIONED_BY = ARRAY ['p'], format='csv', Compression='none', include_header = 'TRUE',
          field_delimiter = '|', escaped_by = '\\', max_file_size = '24.5MB', encryption = 'SSE_S3');""")
    assert full is not None
    assert (full.partitioned_by, full.format, full.compression, full.include_header, full.field_delimiter) == \
        (("p",), "CSV", "NONE", True, "|")
    assert full.max_file_bytes == 24_500_000
    assert unload.parse("SELECT 1") is None
    assert unload.parse("  SELECT unload FROM t") is None
    assert unload.parse("unloaded") is None
    # Leading blanks and comments are skipped in linear time (a nested quantifier took exponential time).
    assert unload.parse(" \n" * 50_000 + "-- note\n" * 1_000 + "SELECT 1") is None


@pytest.mark.parametrize(("sql", "message"), [
    ("UNLOAD SELECT 1 TO 's3://bk1/x'", "query in parentheses"),
    ("UNLOAD (SELECT 1 TO 's3://bk1/x'", "never closed"),
    ("UNLOAD () TO 's3://bk1/x'", "needs a SELECT"),
    ("UNLOAD (SELECT 1)", "needs a destination"),
    ("UNLOAD (SELECT 1) TO 'https://b1/x'", "not an S3 location"),
    ("UNLOAD (SELECT 1) TO 's3://B_ad/x'", "not an S3 location"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/a/../x'", "'..'"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (colour = 'red')", "no option 'colour'"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (format = 'CSV', format = 'CSV')", "given twice"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (format 'CSV')", "needs a value"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (format = CSV)", "quoted value"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (compression = 'ZSTD')", "compression must be one of"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (include_header = 'yes')", "include_header must be one of"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (field_delimiter = '||')", "single character"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (field_delimiter = '\\')", "must differ from each other"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (format = 'PARQUET', field_delimiter = '|')", "'CSV' only"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (max_file_size = '100GB')", "between 16MB and 78GB"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (max_file_size = 'big')", "a size such as"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (partitioned_by = 'p')", "ARRAY['column'"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (partitioned_by = ARRAY['p', 'p'])", "twice"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (partitioned_by = ARRAY[p])", "quoted column names"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (partitioned_by = ARRAY[])", "one or more quoted column names"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (partitioned_by = ARRAY['a' 'b',,])", "quoted column names"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (format = 'CSV',)", "separated by commas"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (escaped_by = '\"')", "from the quote character"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (field_delimiter = '\"')", "from the quote character"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (encryption = 'SSE_KMS')", "AWS KMS"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH format = 'CSV'", "WITH (name = 'value'"),
    ("UNLOAD (SELECT 1) TO 's3://bk1/x' WITH (format = 'CSV' compression = 'NONE')", "separated by commas"),
])
def test_malformed_statements_say_what_is_wrong(sql: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        unload.parse(sql)
    assert message in str(info.value)


@pytest.fixture
def store(tmp_path: pathlib.Path) -> pafs.FileSystem:
    (tmp_path / "bk1").mkdir()
    return pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())


def _statement(options: str = "") -> unload.Unload:
    got = unload.parse(f"UNLOAD (SELECT 1) TO 's3://bk1/out' {options}")
    assert got is not None
    return got


def _write(table: pa.Table, statement: unload.Unload, query_id: str, store: pafs.FileSystem,
           stop: threading.Event | None = None) -> pa.Table:
    """The UNLOAD's answer (one row: rows, metadataFile, manifestFile)."""
    return unload_files.write(table, statement, query_id, store, stop).answer


def _manifest(store: pafs.FileSystem, result: pa.Table) -> dict[str, Any]:
    url = result.column("manifestFile")[0].as_py()
    with store.open_input_stream(url.removeprefix("s3://")) as f:
        manifest: dict[str, Any] = json.loads(f.read())
    return manifest


def _read(store: pafs.FileSystem, url: str) -> bytes:
    with store.open_input_stream(url.removeprefix("s3://"), compression=None) as f:
        data: bytes = f.read()
    return data


def test_csv_text_of_every_kind_of_value(store: pafs.FileSystem) -> None:
    table = pa.table({"n": pa.array([1, None], pa.int64()), "d": [1.5, float("nan")],
                      "s": ['a,"b"\\c', None], "t": pa.array([1, 2], pa.timestamp("ns")),
                      "arr": pa.array([[1, 2], None], pa.list_(pa.int64())), "ok": [True, False]})
    result = _write(table, _statement(), "Q1", store)
    assert result.to_pylist()[0]["rows"] == 2
    files = _manifest(store, result)["result_files"]
    assert isinstance(files, list) and len(files) == 1
    text = gzip.decompress(_read(store, files[0]["url"])).decode()
    assert text.splitlines() == ['1,1.5,"a,\\"b\\"\\\\c",1970-01-01 00:00:00.000000001,"[1,2]",true',
                                 ",NaN,,1970-01-01 00:00:00.000000002,,false"]
    parsed = list(csv.reader(io.StringIO(text), escapechar="\\", doublequote=False))
    assert parsed[0][2] == 'a,"b"\\c'


def test_files_roll_over_at_max_file_size_and_the_manifest_lists_them(store: pafs.FileSystem) -> None:
    rows = 200_000
    table = pa.table({"v": pa.array(range(rows), pa.int64()), "s": [f"value-{i:08d}" for i in range(rows)]})
    statement = dataclasses.replace(_statement("WITH (compression = 'NONE')"), max_file_bytes=1_000_000)
    manifest = _manifest(store, _write(table, statement, "Q2", store))
    files = manifest["result_files"]
    assert isinstance(files, list) and len(files) > 1
    assert sum(f["file_metadata"]["row_count"] for f in files) == rows
    back = [line for f in files for line in _read(store, f["url"]).decode().splitlines()]
    assert back == [f"{i},value-{i:08d}" for i in range(rows)]  # every row once, in order
    for f in files:
        assert f["file_metadata"]["content_length_in_bytes"] == len(_read(store, f["url"]))
    assert manifest["query_metadata"] == {
        "total_content_length_in_bytes": sum(f["file_metadata"]["content_length_in_bytes"] for f in files),
        "total_row_count": rows, "result_format": "CSV", "result_version": "Amazon Timestream version 1.0.0"}


def test_parquet_stores_timestamps_as_int96_and_partitions_leave_their_columns_out(store: pafs.FileSystem) -> None:
    table = pa.table({"v": [1.0, 2.0, 3.0], "t": pa.array([10, 20, 30], pa.timestamp("ns")),
                      "region": ["eu", None, "eu"]})
    result = _write(table, _statement("WITH (format = 'PARQUET', partitioned_by = ARRAY['region'])"),
                                "Q3", store)
    files = _manifest(store, result)["result_files"]
    assert isinstance(files, list)
    urls = sorted(f["url"] for f in files)
    assert ["/results/region=__HIVE_DEFAULT_PARTITION__/" in urls[0], "/results/region=eu/" in urls[1]] == [True, True]
    eu = pq.ParquetFile(io.BytesIO(_read(store, urls[1])))
    assert eu.schema_arrow.names == ["v", "t"]
    assert eu.metadata.schema.column(1).physical_type == "INT96"
    assert eu.read().column("t").cast(pa.int64()).to_pylist() == [10, 30]


def test_partition_and_type_limits(store: pafs.FileSystem) -> None:
    many = pa.table({"v": list(range(101)), "p": [str(i) for i in range(101)]})
    with pytest.raises(ValidationError, match="at most 100"):
        _write(many, _statement("WITH (partitioned_by = ARRAY['p'])"), "Q4", store)
    with pytest.raises(ValidationError, match="printable ASCII"):
        _write(pa.table({"v": [1], "p": ["é"]}), _statement("WITH (partitioned_by = ARRAY['p'])"),
                           "Q5", store)
    with pytest.raises(ValidationError, match="type UNKNOWN"):
        _write(pa.table({"v": pa.nulls(1)}), _statement(), "Q6", store)
    with pytest.raises(ValidationError, match="must be scalars"):
        _write(pa.table({"v": [1], "p": [[1]]}), _statement("WITH (partitioned_by = ARRAY['p'])"),
                           "Q7", store)
    assert not store.get_file_info(pafs.FileSelector("bk1", recursive=True))  # nothing written


def test_an_empty_result_writes_a_manifest_of_no_files(store: pafs.FileSystem) -> None:
    result = _write(pa.table({"v": pa.array([], pa.int64())}), _statement(), "Q8", store)
    assert result.to_pylist()[0]["rows"] == 0
    manifest = _manifest(store, result)
    assert manifest["result_files"] == []


def _files(store: pafs.FileSystem) -> list[str]:
    return sorted(i.path for i in store.get_file_info(pafs.FileSelector("bk1", recursive=True)) if i.size)


def test_every_row_lands_in_exactly_one_partition_even_nan_and_signed_zeros(store: pafs.FileSystem) -> None:
    table = pa.table({"v": [1, 2, 3, 4, 5, 6], "p": [float("nan"), 0.0, -0.0, None, 1.5, float("nan")]})
    result = _write(table, _statement("WITH (partitioned_by = ARRAY['p'], compression = 'NONE')"),
                                "Q9", store)
    manifest = _manifest(store, result)
    files = manifest["result_files"]
    assert isinstance(files, list)
    by_folder = {f["url"].split("/results/")[1].split("/")[0]: _read(store, f["url"]).decode().split() for f in files}
    assert by_folder == {"p=NaN": ["1", "6"], "p=0.0": ["2"], "p=-0.0": ["3"], "p=__HIVE_DEFAULT_PARTITION__": ["4"],
                         "p=1.5": ["5"]}
    assert result.column("rows")[0].as_py() == 6 == manifest["query_metadata"]["total_row_count"]
    exported = unload_files.write(table, _statement("WITH (partitioned_by = ARRAY['p'])"), "Q9b", store)
    assert (exported.partitions, exported.rows) == (5, 6) and exported.bytes > 0


def test_empty_strings_and_nulls_differ_in_csv(store: pafs.FileSystem) -> None:
    result = _write(pa.table({"s": ["", None, "x"]}), _statement("WITH (compression = 'NONE')"), "Q10",
                                store)
    (entry,) = _manifest(store, result)["result_files"]
    assert _read(store, entry["url"]).decode() == '""\n\nx\n'


def test_intervals_go_to_parquet_as_text_and_a_refused_export_writes_nothing(store: pafs.FileSystem) -> None:
    table = pa.table({"d": pa.array([pa.MonthDayNano([0, 1, 1_500_000_000])], pa.month_day_nano_interval())})
    result = _write(table, _statement("WITH (format = 'PARQUET')"), "Q11", store)
    (entry,) = _manifest(store, result)["result_files"]
    assert pq.read_table(io.BytesIO(_read(store, entry["url"]))).column("d").to_pylist() == ["1 00:00:01.500000000"]
    before = _files(store)
    with pytest.raises(ValidationError, match="two columns named 'v'"):
        _write(pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["v", "v"]), _statement(),
                           "Q12", store)
    with pytest.raises(ValidationError, match="printable ASCII"):  # checked for every partition before any write
        _write(pa.table({"v": [1, 2], "p": ["ok", "é"]}),
                           _statement("WITH (partitioned_by = ARRAY['p'])"), "Q13", store)
    assert _files(store) == before


def test_a_cancelled_export_stops_and_writes_no_manifest(store: pafs.FileSystem) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        _write(pa.table({"v": list(range(10))}), _statement(), "Q14", store, stop)
    assert not [p for p in _files(store) if p.endswith("_manifest.json")]


def test_a_missing_bucket_is_the_callers_error(store: pafs.FileSystem) -> None:
    missing = unload.parse("UNLOAD (SELECT 1) TO 's3://nobucket/x'")
    assert missing is not None
    with pytest.raises(ValidationError, match="the bucket 'nobucket' does not exist"):
        unload_files.check_destination(store, missing, "http://127.0.0.1:1")
    unload_files.check_destination(store, _statement(), "http://127.0.0.1:1")  # bk1 exists


def test_the_unload_benchmark_runs(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    from loadtest import unload_speed

    unload_speed.main(["--rows", "3001", "--repeats", "1", "--dir", str(tmp_path / "speed")])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0] for line in lines] == list(unload_speed.FORMATS)
    assert all("rows/s" in line for line in lines)
