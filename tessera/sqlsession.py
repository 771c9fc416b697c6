"""DuckDB sessions with Timestream's semantics, for every connection that runs query SQL (the coordinator's
final stage, the filters it applies after merges, and the predicates storage replicas evaluate).

Opening a DuckDB database costs ~20 ms; a cursor on an open one ~0.004 ms. Cursors do not inherit
session settings (a SET on one), so Timestream's settings are global on the database (a connect option and
SET GLOBAL): applying them per cursor cost two statements, ~0.2 ms, on every scan's event loop.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import Counter
from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa

from tessera import errors

# Query SQL reaches only the tables a session registers: no files, no network, no extensions, no Python
# variables found by name (DuckDB's replacement scans), whoever sent the SQL. Once off, external access
# cannot be switched back on by a SET in a running database.
SANDBOX: dict[str, bool] = {"enable_external_access": False, "autoinstall_known_extensions": False,
                            "autoload_known_extensions": False, "allow_community_extensions": False}

# Integer division truncates as in Presto/Timestream (7 / 2 = 3, a connect option); every time is UTC.
GLOBAL_SETTINGS: tuple[str, ...] = ("SET GLOBAL TimeZone = 'UTC'",)
DUCKDB_SESSION_SETTINGS: tuple[str, ...] = ("SET integer_division = true", "SET TimeZone = 'UTC'")
"""The same settings for a plain DuckDB connection (tests compute references with them)."""


class Sessions:
    """One in-memory DuckDB database; ``cursor()`` hands out configured, independent sessions."""

    def __init__(self, threads: int = 2, memory_limit: str = "2GB", setup: Sequence[str] = ()) -> None:
        """``setup``: statements run once on the database, e.g. the macros of the query dialect (every
        cursor sees them)."""
        self._config: dict[str, str | bool | int | float | list[str]] = {
            "threads": threads, "memory_limit": memory_limit, "integer_division": True, **SANDBOX}
        self._setup = tuple(setup)
        self._db = self._open()
        self._lock = threading.Lock()  # cursor creation on a shared connection is serialised
        self._suspect = False
        self.memory_limit = memory_limit
        with _every_sessions_lock:
            _every_sessions.add(self)

    def _open(self) -> duckdb.DuckDBPyConnection:
        db = duckdb.connect(":memory:", config=self._config)
        for statement in (*GLOBAL_SETTINGS, *self._setup):
            db.execute(statement)
        return db

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new session with Timestream's settings (global on the database, so a cursor costs ~4 µs, not
        two SET statements); close it when done. After a DuckDB internal error somewhere in the process, the
        database is checked once, and replaced if it refuses statements (an internal error invalidates it)."""
        with self._lock:
            if self._suspect:
                self._suspect = False
                probe = self._db.cursor()
                try:
                    probe.execute("SELECT 1").fetchall()
                except duckdb.Error:
                    self._db = self._open()
                finally:
                    probe.close()
            return self._db.cursor()

    def suspect(self) -> None:
        """Check the database before the next cursor (see sql_error)."""
        self._suspect = True

    def close(self) -> None:
        self._db.close()


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(name: str) -> str:
    """A name as DuckDB compares identifiers: ASCII letters without case, everything else as it is (``É``
    and ``é`` stay two names to it)."""
    return name.translate(_ASCII_LOWER)


def refuse_case_collisions(names: Sequence[str]) -> None:
    """Timestream's names are case-sensitive (``host`` and ``Host`` may both be dimensions); DuckDB's
    identifiers are not: it would read ``host`` as ``Host`` (a wrong answer) or rename one of them under
    ``*``. SQL that would see two such columns together is refused instead."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(fold(name), name)
        if other != name:
            raise errors.ValidationError(f"the query reads columns '{other}' and '{name}', whose names differ only "
                                         "in case: Tessera cannot run a query that reads both yet; use only one "
                                         "of them (and no *)")


def _row_number_name(names: Sequence[str]) -> str:
    """A column name DuckDB cannot confuse with any of ``names`` (a user may name a column TS_ROW_NUMBER)."""
    taken = {fold(n) for n in names}
    name = "ts_row_number"
    while fold(name) in taken:
        name += "_"
    return name


def passing_rows(cursor: duckdb.DuckDBPyConnection, table: pa.Table, predicate: str,
                 columns: Sequence[str] = ()) -> pa.Array:
    """The row numbers of ``table``, ascending, whose rows pass the DuckDB SQL ``predicate``. DuckDB sees
    only ``columns`` (those the predicate reads), so a column whose name differs from another's only in case
    is never read in its place. With no ``columns`` it sees every column except such look-alikes (a
    predicate that reads one fails to bind instead of reading the other). Raises duckdb.Error for a
    predicate that fails."""
    if columns:
        names = [c for c in dict.fromkeys(columns) if c in table.schema.names]
        refuse_case_collisions(names)
    else:
        folded = Counter(fold(n) for n in table.schema.names)
        names = [n for n in table.schema.names if folded[fold(n)] == 1]
    row = _row_number_name(names)
    numbered = table.select(names).append_column(row, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    matched = cursor.from_arrow(numbered).filter(predicate).project(f'"{row}"').to_arrow_table()
    return pa.array(np.sort(matched.column(0).to_numpy()))


# What the SQL itself got wrong (a bad name, type, value or function; file access the sandbox refuses):
# the caller's error, the same on every replica, so not worth another replica. Anything else DuckDB raises
# (I/O, an internal error) is this node's fault: another replica may well answer.
_CALLERS_FAULT: tuple[type[duckdb.Error], ...] = (
    duckdb.ParserException, duckdb.SyntaxException, duckdb.BinderException, duckdb.CatalogException,
    duckdb.ConversionException, duckdb.InvalidInputException, duckdb.OutOfRangeException,
    duckdb.NotImplementedException, duckdb.PermissionException, duckdb.TypeMismatchException,
    duckdb.InvalidTypeException, duckdb.ConstraintException, duckdb.DataError, duckdb.ProgrammingError)


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (DuckDB's carry the SQL and a caret below), or its class name."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# DuckDB's wording of the commonest mistakes, in Trino's (hence Timestream's): what users and their tools
# search for. Anything else keeps DuckDB's text without its "Binder Error: " style prefix.
_TRINO_WORDING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r'Referenced column "(?P<c>[^"]*)" not found in FROM clause!?'), "Column '{c}' cannot be resolved"),
    (re.compile(r'Table "(?P<t>[^"]*)" does not have a column named "(?P<c>[^"]*)"'), "Column '{t}.{c}' cannot be resolved"),
    (re.compile(r"Scalar Function with name (?P<f>\S+) does not exist!?"), "Function '{f}' not registered"),
    (re.compile(r'column "(?P<c>[^"]*)" must appear in the GROUP BY clause or must be part of an aggregate function\.?'),
     "'{c}' must be an aggregate expression or appear in GROUP BY clause"),
)
_DUCKDB_PREFIX = re.compile(r"^(?:Binder|Catalog|Parser|Conversion|Invalid Input) Error: ")


def user_message(exc: BaseException) -> str:
    """The first line of a DuckDB error in Trino's words where it is one of the common mistakes."""
    line = _DUCKDB_PREFIX.sub("", first_line(exc))
    for pattern, wording in _TRINO_WORDING:
        found = pattern.search(line)
        if found:
            return line[:found.start()] + wording.format(**found.groupdict()) + line[found.end():]
    return line


def sql_error(exc: duckdb.Error, what: str, memory_limit: str = "") -> errors.TesseraError:
    """The Tessera error for a DuckDB failure of ``what`` (e.g. "cannot run the query"), by its class, never
    by its text: ValidationError for the SQL's own faults and DuckDB's internal errors (they recur on every
    replica), Cancelled for an interrupt, Throttled (no retry hint: the client does not retry it) for memory,
    InternalError (another replica may answer) for the rest (I/O, an invalidated database)."""
    first = first_line(exc)
    if isinstance(exc, duckdb.InterruptException):
        return errors.Cancelled(f"{what}: cancelled")
    if isinstance(exc, duckdb.OutOfMemoryException):
        limit = f" ({memory_limit})" if memory_limit else ""
        return errors.Throttled(f"{what}: the node's query memory limit{limit} was exceeded: {first}")
    if isinstance(exc, _CALLERS_FAULT):
        return errors.ValidationError(f"{what}: {user_message(exc)}")
    if isinstance(exc, (duckdb.InternalException, duckdb.FatalException)):
        with _every_sessions_lock:  # the failed database refuses every statement from now on: which one?
            every = list(_every_sessions)
        for sessions in every:
            sessions.suspect()
    if isinstance(exc, duckdb.InternalException):
        # A DuckDB bug that this SQL triggers: it would trigger it on every replica (and invalidate each
        # one's database, which Sessions.cursor then replaces), so it is not worth another replica.
        return errors.ValidationError(f"{what}: the SQL engine failed on this query (an internal error): {first}")
    return errors.InternalError(f"{what}: {first}")


_every_sessions: weakref.WeakSet[Sessions] = weakref.WeakSet()
_every_sessions_lock = threading.Lock()
_shared: Sessions | None = None
_shared_lock = threading.Lock()


def shared() -> Sessions:
    """The process-wide Sessions (created on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Sessions()
        return _shared
