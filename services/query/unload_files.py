"""The files an UNLOAD writes, laid out as Timestream lays them out under the TO folder:

    <folder>/results/[<col>=<value>/…]<query id>_<run>_<file>.csv | .gz | .parquet
    <folder>/<query id>_<run>_<id>_metadata.json     ColumnInfo of the SELECT, as the Query API gives it
    <folder>/<query id>_<run>_<id>_manifest.json     every data file with its bytes and rows, and the totals

``<run>`` is ten digits shared by the files of one UNLOAD, ``<file>`` sixteen letters and digits per file.
The manifest is written last: a run that fails leaves no manifest (and, as in Timestream, whatever files it
had written). CSV follows Timestream's rules: no header unless asked, ``"`` quotes a value that holds the
delimiter or a line break, ``"`` and the escape character inside a value are preceded by the escape
character, NULL is an empty field (an empty string is ``""``), arrays, rows and time series are JSON text, scalars the Query API's text
(nine fractional digits on timestamps). Parquet stores timestamps as INT96, as Timestream's files do.
"""

from __future__ import annotations

import json
import random
import string
import threading
import zlib
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from services.query.results import aws_column_info, scalar_strings
from services.query.unload import Unload
from tessera.errors import Cancelled, InternalError, ValidationError

MAX_PARTITIONS = 100
GZIP_LEVEL = 1
BATCH_ROWS = 65_536
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
"""The folder name of a NULL partition value (Hive's, which Parquet and CSV dataset readers map back to NULL)."""
_ALNUM = string.ascii_letters + string.digits
_UNSUPPORTED = {"TIME": pa.types.is_time, "UNKNOWN": pa.types.is_null}


@dataclass(frozen=True)
class DataFile:
    url: str
    bytes: int
    rows: int


@dataclass(frozen=True)
class Exported:
    """What an UNLOAD wrote: its answer (the one row) and the figures of QueryInsights."""

    answer: pa.Table
    partitions: int
    rows: int
    bytes: int


def check_destination(fs: pafs.FileSystem, unload: Unload, store: str) -> None:
    """Before the SELECT runs: the bucket must exist in the object store (``store`` names it in errors)."""
    try:
        info = fs.get_file_info(unload.bucket)
    except OSError as exc:
        raise InternalError(f"UNLOAD cannot reach the object store at {store}: {exc} (check the query nodes' "
                            "--s3-endpoint and --s3-credentials)") from exc
    if info.type == pafs.FileType.NotFound:
        raise ValidationError(f"UNLOAD destination {unload.destination}: the bucket '{unload.bucket}' does not exist "
                              f"in the object store at {store}")


def write(table: pa.Table, unload: Unload, query_id: str, fs: pafs.FileSystem,
          cancelled: threading.Event | None = None) -> Exported:
    """Write ``table`` (the SELECT's result) as ``unload`` asks; the UNLOAD's own answer is one row of
    ``rows``, ``metadataFile`` and ``manifestFile`` (their s3:// URLs). ``cancelled`` is checked between batches and
    before the metadata and manifest: a cancelled or timed-out UNLOAD stops and writes no manifest."""
    _check_columns(table.schema, unload.partitioned_by)
    partitions = _partitions(table, unload.partitioned_by)  # every folder name checked before any write
    data = _storable(table.drop_columns(list(unload.partitioned_by)), unload)
    stop = cancelled or threading.Event()
    run = "".join(random.choices(string.digits, k=10))
    root = f"{unload.bucket}/{unload.prefix}" if unload.prefix else unload.bucket
    files: list[DataFile] = []
    try:
        for folder, rows in partitions:
            part = data if rows is None else data.take(rows)
            files += _write_files(fs, unload, f"{root}/results{folder}", f"{query_id}_{run}", part, stop)
        _raise_if(stop)
        stem = f"{root}/{query_id}_{run}_{_token()}"
        metadata = {"ColumnInfo": aws_column_info(table.schema),
                    "Author": {"Name": "Amazon Timestream", "MetadataFileVersion": "1.0"}}
        _put(fs, f"{stem}_metadata.json", json.dumps(metadata).encode())
        written = sum(f.rows for f in files)
        manifest = {
            "result_files": [{"url": f.url, "file_metadata": {"content_length_in_bytes": f.bytes, "row_count": f.rows}}
                             for f in files],
            "query_metadata": {"total_content_length_in_bytes": sum(f.bytes for f in files),
                               "total_row_count": written, "result_format": unload.format,
                               "result_version": "Amazon Timestream version 1.0.0"},
            "author": {"name": "Amazon Timestream", "manifest_file_version": "1.0"}}
        _raise_if(stop)
        _put(fs, f"{stem}_manifest.json", json.dumps(manifest).encode())
    except OSError as exc:
        raise InternalError(f"UNLOAD cannot write to {unload.destination}: {exc}") from exc
    answer = pa.table({"rows": pa.array([written], pa.int64()), "metadataFile": [f"s3://{stem}_metadata.json"],
                       "manifestFile": [f"s3://{stem}_manifest.json"]})
    return Exported(answer, len(partitions) if unload.partitioned_by else 0, written, sum(f.bytes for f in files))


def _raise_if(cancelled: threading.Event) -> None:
    if cancelled.is_set():
        raise Cancelled("the UNLOAD was cancelled (or timed out); the files it wrote have no manifest")


def _check_columns(schema: pa.Schema, partitioned_by: tuple[str, ...]) -> None:
    twice = [n for n in dict.fromkeys(schema.names) if schema.names.count(n) > 1]
    if twice:
        raise ValidationError(f"UNLOAD cannot export two columns named '{twice[0]}': give them different aliases")
    for f in schema:
        for name, is_type in _UNSUPPORTED.items():
            if is_type(f.type):
                raise ValidationError(f"UNLOAD cannot export column '{f.name}' of type {name}: the types time and "
                                      "unknown (an untyped NULL) do not apply to UNLOAD; cast it, e.g. to VARCHAR")
    if not partitioned_by:
        return
    missing = [c for c in partitioned_by if c not in schema.names]
    nested = [c for c in partitioned_by if c in schema.names and pa.types.is_nested(schema.field(c).type)]
    if nested:
        raise ValidationError(f"UNLOAD cannot partition by column '{nested[0]}': partition columns must be scalars "
                              "(not arrays, rows or time series)")
    if missing:
        raise ValidationError(f"UNLOAD partitioned_by column '{missing[0]}' is not a column of the query's result "
                              f"(its columns: {', '.join(schema.names)})")
    if tuple(schema.names[-len(partitioned_by):]) != partitioned_by:
        raise ValidationError("UNLOAD partitioned_by columns must be the last columns of the SELECT, in the same "
                              f"order ({', '.join(partitioned_by)})")
    if len(partitioned_by) == len(schema.names):
        raise ValidationError("UNLOAD needs at least one column besides the partitioned_by columns")


def _storable(table: pa.Table, unload: Unload) -> pa.Table:
    """The columns as the format can hold them: Parquet has no interval type, so intervals are written as
    the Query API's text (CSV writes every value as text anyway)."""
    if unload.format != "PARQUET":
        return table
    for i, f in enumerate(table.schema):
        if pa.types.is_interval(f.type) or pa.types.is_duration(f.type):
            table = table.set_column(i, f.name, pa.array(scalar_strings(table.column(i)), pa.string()))
    return table


def _partitions(table: pa.Table, columns: tuple[str, ...]) -> list[tuple[str, pa.Array | None]]:
    """(folder suffix such as ``/region=eu/host=a``, the row numbers of that partition; None: every row). Each
    row is in exactly one partition (the rows of a group are the ones its grouping put there: NaN, 0.0 and
    -0.0 each group by themselves, which an equality test would not)."""
    if not columns:
        return [("", None)]
    numbered = table.select(list(columns)).append_column("tessera_row", pa.array(range(table.num_rows), pa.int64()))
    groups = numbered.group_by(list(columns), use_threads=False).aggregate([("tessera_row", "list")])
    if groups.num_rows > MAX_PARTITIONS:
        raise ValidationError(f"UNLOAD would write {groups.num_rows} partitions: at most {MAX_PARTITIONS} are allowed "
                              "in one query; narrow the query (for example by time) or partition by fewer columns")
    texts = [scalar_strings(groups.column(c)) for c in columns]
    return [("".join(f"/{name}={_folder_value(name, texts[c][k])}" for c, name in enumerate(columns)),
             groups.column("tessera_row_list")[k].values)
            for k in range(groups.num_rows)]


def _folder_value(column: str, text: str | None) -> str:
    if text is None:
        return NULL_PARTITION
    if not text.isascii() or not text.isprintable():
        raise ValidationError(f"UNLOAD partition column '{column}' has the value {text!r}: partition values may hold "
                              "printable ASCII characters only (they become S3 object keys)")
    return text.replace("%", "%25").replace("/", "%2F")


def _write_files(fs: pafs.FileSystem, unload: Unload, folder: str, stem: str, rows: pa.Table,
                 cancelled: threading.Event) -> list[DataFile]:
    """``rows`` in one or more files (a new one each time a file reaches max_file_size)."""
    extension = ".parquet" if unload.format == "PARQUET" else ".gz" if unload.compression == "GZIP" else ".csv"
    written: list[DataFile] = []
    batches = iter(rows.to_batches(max_chunksize=BATCH_ROWS))
    pending = next(batches, None)
    while pending is not None:
        path = f"{folder}/{stem}_{_token()}{extension}"
        count = 0
        raw = _open(fs, path)
        try:
            writer = _Writer(raw, unload, rows.schema)
            while pending is not None and (count == 0 or raw.tell() < unload.max_file_bytes):
                _raise_if(cancelled)
                writer.write(pending)
                count += pending.num_rows
                pending = next(batches, None)
            writer.close()
            size = raw.tell()
        finally:
            raw.close()
        written.append(DataFile(f"s3://{path}", size, count))
    return written


class _Writer:
    """Rows into one open file in the UNLOAD's format. GZIP is level 1 (zlib's fastest): 4-6 times the speed
    of the default level for files a few percent larger."""

    def __init__(self, raw: pa.NativeFile, unload: Unload, schema: pa.Schema) -> None:
        self._unload = unload
        self._raw = raw
        self._parquet: pq.ParquetWriter | None = None
        self._gzip = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if unload.compression == "GZIP" else None
        if unload.format == "PARQUET":
            gzip = unload.compression == "GZIP"
            self._parquet = pq.ParquetWriter(raw, schema, compression="gzip" if gzip else "none",
                                             compression_level=GZIP_LEVEL if gzip else None,
                                             use_deprecated_int96_timestamps=True)
            return
        if unload.include_header:
            self._text(unload.field_delimiter.join(_csv_text(n, unload) for n in schema.names) + "\n")

    def write(self, batch: pa.RecordBatch) -> None:
        if self._parquet is not None:
            self._parquet.write_batch(batch)
        else:
            self._text(_csv_lines(batch, self._unload))

    def _text(self, text: str) -> None:
        data = text.encode()
        self._raw.write(self._gzip.compress(data) if self._gzip is not None else data)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()  # it leaves the file open for its owner
        elif self._gzip is not None:
            self._raw.write(self._gzip.flush())


def _csv_lines(batch: pa.RecordBatch, unload: Unload) -> str:
    if batch.num_rows == 0:
        return ""
    columns = [[("" if v is None else _csv_text(v, unload)) for v in scalar_strings(pa.chunked_array([batch.column(i)]))]
               for i in range(batch.num_columns)]
    if not columns:
        return "\n" * int(batch.num_rows)
    return "".join(unload.field_delimiter.join(row) + "\n" for row in zip(*columns))


def _csv_text(value: str, unload: Unload) -> str:
    if not value:
        return '""'  # an empty string, told apart from NULL (an empty field)
    escape = unload.escaped_by
    if escape in value or '"' in value:
        value = value.replace(escape, escape + escape).replace('"', escape + '"')
    if unload.field_delimiter in value or "\n" in value or "\r" in value:
        return f'"{value}"'
    return value


def _put(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    with _open(fs, path) as out:
        out.write(data)


def _open(fs: pafs.FileSystem, path: str) -> pa.NativeFile:
    """A new object (an object store needs no folders: pyarrow would write empty marker objects for them,
    which readers of ``results/`` then meet as files)."""
    if fs.type_name != "s3":
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    return fs.open_output_stream(path, compression=None)


def _token() -> str:
    return "".join(random.choices(_ALNUM, k=16))
