"""Every tile of one storage replica: recovery at start, appends, and filtered scans with digests.

Layout on disk: ``{data_dir}/tiles/{table_id}/{range_lo:016x}_{bucket}/wal.log`` (see ``TileKey``).

A scan reads the deduplicated snapshot of each requested tile, conforms it to the table schema the
caller sends (columns the tile has never seen become typed NULL columns), keeps the rows with
``start_ns <= time < end_ns`` that pass the SQL predicate (evaluated by DuckDB), and returns the
projected rows together with a digest over the key and version of every row that passed
(``tessera.digest``), which is what lets the coordinator compare two replicas without shipping rows twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import structlog

from services.storage.tile import WAL_FILE, AppendResult, Tile, TileKey, empty_table
from tessera import digest, layout
from tessera.errors import InternalError, ValidationError
from tessera.sqlsession import Sessions

_log = structlog.get_logger()


@dataclass(frozen=True)
class ScanResult:
    """Rows of a scan (None in digest-only mode), digest of its input rows, row count, bytes read."""

    table: pa.Table | None
    digest: int
    rows: int
    bytes_scanned: int


def conform(table: pa.Table, schema: Sequence[tuple[str, str]]) -> pa.Table:
    """The fixed columns, then each schema column, typed as declared; missing columns are typed NULLs."""
    fields: dict[str, pa.DataType] = dict(layout.FIXED_COLUMNS)
    for name, type_name in schema:
        if name in fields:
            continue
        try:
            fields[name] = layout.ARROW_TYPES[type_name]
        except KeyError:
            raise ValidationError(
                f"scan schema column {name!r} has type {type_name!r}; want one of {sorted(layout.ARROW_TYPES)}"
            ) from None
    n = table.num_rows
    present = set(table.column_names)
    columns = []
    for name, arrow_type in fields.items():
        if name not in present:
            columns.append(pa.nulls(n, arrow_type))
            continue
        column = table.column(name)
        if column.type != arrow_type:
            try:
                column = column.cast(arrow_type)
            except pa.ArrowInvalid as exc:
                raise ValidationError(
                    f"scan schema column {name!r} is {arrow_type} but the tile stores {column.type}: {exc}"
                ) from exc
        columns.append(column)
    return pa.table(columns, schema=pa.schema(fields))


def output_columns(schema: Sequence[tuple[str, str]], columns: Sequence[str], with_keys: bool) -> list[str]:
    """Names of the columns a scan returns: requested (or all) known columns, time always, keys if asked."""
    known = [layout.TIME, layout.MEASURE_NAME] + [n for n, _ in schema if n not in layout.FIXED_COLUMNS]
    if columns:
        allowed = set(known) | set(layout.FIXED_COLUMNS)
        wanted = [c for c in dict.fromkeys(columns) if c in allowed]
    else:
        wanted = known
    if layout.TIME not in wanted:
        wanted.insert(0, layout.TIME)
    if with_keys:
        wanted += [c for c in layout.KEY_COLUMNS if c not in wanted]
    return wanted


class TileStore:
    """The tiles of one storage replica under ``data_dir/tiles``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.tiles_dir = data_dir / "tiles"
        self._tiles: dict[TileKey, Tile] = {}
        self._creating: dict[TileKey, asyncio.Future[Tile]] = {}
        self._duck: Sessions | None = None
        self._closed = False

    async def open(self) -> None:
        """Discover every tile under data_dir/tiles and recover it from its WAL."""
        found = await asyncio.to_thread(self._discover)
        for directory, key in found:
            try:
                self._tiles[key] = await asyncio.to_thread(Tile.open, directory, key)
            except (OSError, pa.ArrowException) as exc:
                raise InternalError(f"cannot open tile {key.dir_name()} in {directory}: {exc}") from exc
        self._duck = Sessions(threads=1)
        _log.info("tile store opened", data_dir=str(self.data_dir), tiles=len(self._tiles))

    def _discover(self) -> list[tuple[Path, TileKey]]:
        self.tiles_dir.mkdir(parents=True, exist_ok=True)
        found = []
        for wal in sorted(self.tiles_dir.glob(f"*/*/{WAL_FILE}")):
            directory = wal.parent
            try:
                key = TileKey.from_dir_name(f"{directory.parent.name}/{directory.name}")
            except ValueError:
                _log.warning("skipping a directory that is not a tile", path=str(directory))
                continue
            found.append((directory, key))
        return found

    def tile(self, key: TileKey) -> Tile | None:
        """The local tile for a key, if this replica has it."""
        return self._tiles.get(key)

    async def _tile_for_write(self, key: TileKey) -> Tile:
        tile = self._tiles.get(key)
        if tile is not None:
            return tile
        if self._closed:
            raise InternalError(f"cannot create tile {key.dir_name()}: the tile store is closed")
        creating = self._creating.get(key)
        if creating is None:  # one creator per key; concurrent first writers wait for it
            creating = asyncio.ensure_future(self._create_tile(key))
            self._creating[key] = creating
        # Shielded: the tile is registered by the creating task even if this caller is cancelled, so no
        # second Tile (and second WAL handle) is ever opened on the same directory.
        return await asyncio.shield(creating)

    async def _create_tile(self, key: TileKey) -> Tile:
        try:
            tile = await asyncio.to_thread(Tile.open, self.tiles_dir / key.dir_name(), key)
            if self._closed:
                await tile.close()
                raise InternalError(f"cannot create tile {key.dir_name()}: the tile store is closed")
            self._tiles[key] = tile
            return tile
        finally:
            del self._creating[key]

    async def append(self, key: TileKey, rows: pa.Table, ipc: bytes | None = None) -> AppendResult:
        """Append layout rows to a tile (created on first use); returns after the WAL fsync.

        ``ipc``, when given, is ``rows`` already serialised: it becomes the WAL entry if every row is stored.
        """
        try:
            tile = await self._tile_for_write(key)
        except OSError as exc:
            raise InternalError(f"cannot create tile {key.dir_name()}: {exc}") from exc
        return await tile.append(rows, ipc)

    def list_tiles(self, table_id: str, min_bucket: int, max_bucket: int) -> list[TileKey]:
        """Local tiles of a table with min_bucket <= bucket <= max_bucket, by range then bucket."""
        keys = [k for k in self._tiles if k.table_id == table_id and min_bucket <= k.bucket <= max_bucket]
        return sorted(keys, key=lambda k: (k.range_lo, k.bucket))

    async def scan(
        self,
        tiles: Sequence[TileKey],
        schema: Sequence[tuple[str, str]],
        columns: Sequence[str],
        predicate: str,
        start_ns: int,
        end_ns: int,
        with_keys: bool,
        want_rows: bool = True,
    ) -> ScanResult:
        """Filter the requested local tiles; return projected rows (unless digest-only) and the digest."""
        local = [t for t in dict.fromkeys(tiles) if t in self._tiles]
        present = [self._tiles[k] for k in local]
        if self._duck is None:
            raise InternalError("cannot scan: the tile store is not open")
        cursor = self._duck.cursor()  # one open result per session: a configured cursor per scan
        try:
            return await asyncio.to_thread(
                _scan, cursor, present, schema, columns, predicate, start_ns, end_ns, with_keys, want_rows
            )
        finally:
            cursor.close()

    async def close(self) -> None:
        """Sync and close every tile; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        tiles, self._tiles = list(self._tiles.values()), {}
        for tile in tiles:
            try:
                await tile.close()
            except (OSError, InternalError) as exc:
                # Close the rest regardless; the WAL keeps what was synced.
                _log.error("cannot close tile", tile=tile.key.dir_name(), error=str(exc))
        if self._duck is not None:
            self._duck.close()
            self._duck = None


def _scan(
    cursor: duckdb.DuckDBPyConnection,
    tiles: list[Tile],
    schema: Sequence[tuple[str, str]],
    columns: Sequence[str],
    predicate: str,
    start_ns: int,
    end_ns: int,
    with_keys: bool,
    want_rows: bool,
) -> ScanResult:
    """The blocking body of a scan, run in a worker thread.

    Only the columns the output and the digest need are filtered (filtering every column of every row in
    range first cost ~3 times as much for a selective query), and DuckDB sees column names only through
    the predicate: it evaluates it over the tiles' rows and returns row numbers, which the time mask then
    narrows. (DuckDB matches names regardless of case, Tessera does not: "Cpu" and "cpu" are two columns.)
    """
    bytes_scanned = 0
    parts = []
    for tile in tiles:
        snapshot = tile.snapshot()
        bytes_scanned += snapshot.nbytes
        if snapshot.num_rows:
            parts.append(conform(snapshot, schema))
    table = pa.concat_tables(parts) if parts else conform(empty_table(), schema)
    wanted = output_columns(schema, columns, with_keys) if want_rows else [layout.TIME]
    read = table.select(list(dict.fromkeys([*wanted, *_DIGEST_COLUMNS])))
    keep = _in_range(table, start_ns, end_ns)  # None: every row is in range
    if predicate.strip():  # evaluated on empty input too, so a bad predicate fails whatever the data
        try:
            numbered = table.append_column(_ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
            matched = cursor.from_arrow(numbered).filter(predicate).project(_quoted(_ROW)).to_arrow_table()
        except duckdb.Error as exc:
            raise ValidationError(f"cannot evaluate scan predicate {predicate!r}: {exc}") from exc
        rows = np.sort(matched.column(0).to_numpy())
        if keep is not None:
            rows = rows[keep[rows]]
        read = read.take(pa.array(rows))
    elif keep is not None:
        read = read.filter(pa.array(keep))
    rows_digest = digest.rows_digest(read)
    out = read.select(wanted) if want_rows else None
    return ScanResult(out, rows_digest, read.num_rows, bytes_scanned)


_DIGEST_COLUMNS = (layout.TIME, *layout.KEY_COLUMNS)
_ROW = "ts_scan_row"  # user names may not start with ts_: no clash


def _in_range(table: pa.Table, start_ns: int, end_ns: int) -> npt.NDArray[np.bool_] | None:
    """Per row, whether its time is in [start_ns, end_ns); None when every row is."""
    if table.num_rows == 0:
        return None
    times = table.column(layout.TIME).cast(pa.int64()).to_numpy()
    mask: npt.NDArray[np.bool_] = (times >= start_ns) & (times < end_ns)
    return None if mask.all() else mask


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
