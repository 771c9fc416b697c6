"""DuckDB sessions: sandboxed, predicates see only their own columns, failures classified by class."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from tessera import errors, sqlsession


def test_sessions_cannot_touch_files_even_by_setting_it_back() -> None:
    cur = sqlsession.Sessions(threads=1).cursor()
    for sql in ("SELECT * FROM read_csv('/etc/hostname')", "COPY (SELECT 1) TO '/tmp/tessera-sandbox.csv'",
                "SET enable_external_access = true", "INSTALL httpfs"):
        with pytest.raises(duckdb.Error):
            cur.execute(sql)


def test_a_predicate_reads_its_own_column_not_one_differing_only_in_case() -> None:
    cur = sqlsession.Sessions(threads=1).cursor()
    table = pa.table({"Host": ["a1", "x"], "host": ["x", "a1"], "v": [1, 2]})
    assert sqlsession.passing_rows(cur, table, "host = 'a1'", ["host"]).to_pylist() == [1]
    assert sqlsession.passing_rows(cur, table, '"Host" = \'a1\'', ["Host"]).to_pylist() == [0]
    assert sqlsession.passing_rows(cur, table, "v > 1").to_pylist() == [1]  # no columns named: the others
    with pytest.raises(duckdb.BinderException):
        sqlsession.passing_rows(cur, table, "host = 'a1'")  # a look-alike is hidden, not read for the other
    with pytest.raises(errors.ValidationError, match="differ only in case"):
        sqlsession.passing_rows(cur, table, "host = Host", ["host", "Host"])


@pytest.mark.parametrize(("sql", "kind"), [
    ("SELECT nosuchcolumn", errors.ValidationError),
    ("SELEKT 1", errors.ValidationError),
    ("SELECT CAST('x' AS INTEGER)", errors.ValidationError),
    ("SELECT 9223372036854775807::BIGINT + 1", errors.ValidationError),
    ("SELECT * FROM read_csv('/etc/hostname')", errors.ValidationError),
])
def test_failures_of_the_sql_itself_are_validation_errors(sql: str, kind: type[errors.TesseraError]) -> None:
    with pytest.raises(duckdb.Error) as failed:
        sqlsession.Sessions(threads=1).cursor().execute(sql)
    assert type(sqlsession.sql_error(failed.value, "cannot run the query")) is kind


def test_node_faults_are_internal_and_memory_is_throttled() -> None:
    assert type(sqlsession.sql_error(duckdb.IOException("disk"), "scan")) is errors.InternalError
    assert type(sqlsession.sql_error(duckdb.InternalException("bug"), "scan")) is errors.ValidationError
    throttled = sqlsession.sql_error(duckdb.OutOfMemoryException("oom"), "scan", "2GB")
    assert isinstance(throttled, errors.Throttled) and "2GB" in throttled.message
    assert isinstance(sqlsession.sql_error(duckdb.InterruptException("x"), "scan"), errors.Cancelled)


def test_a_user_column_named_like_the_row_number_column_does_not_stand_in_for_it() -> None:
    cur = sqlsession.Sessions(threads=1).cursor()
    table = pa.table({"host": list("abcd"), "TS_ROW_NUMBER": [1, 1, 0, 2]})
    assert sqlsession.passing_rows(cur, table, "1 = 1").to_pylist() == [0, 1, 2, 3]
    assert sqlsession.passing_rows(cur, table, '"TS_ROW_NUMBER" = 1', ["TS_ROW_NUMBER"]).to_pylist() == [0, 1]


def test_only_ascii_letters_fold_as_in_duckdb() -> None:
    sqlsession.refuse_case_collisions(["É", "é", "ß", "SS"])  # distinct names to DuckDB too
    cur = sqlsession.Sessions(threads=1).cursor()
    assert sqlsession.passing_rows(cur, pa.table({"É": [1, 2], "é": [2, 1]}), '"é" = 2').to_pylist() == [0]




class _InvalidatedCursor:
    def execute(self, sql: str) -> None:
        raise duckdb.FatalException("FATAL Error: database has been invalidated")

    def close(self) -> None:
        pass


class _InvalidatedDatabase:
    """Stands in for a database an internal error invalidated: every statement fails with FatalException."""

    def cursor(self) -> _InvalidatedCursor:
        return _InvalidatedCursor()


def test_after_an_internal_error_a_refusing_database_is_replaced_and_a_healthy_one_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    broken = sqlsession.Sessions(threads=1, setup=["CREATE MACRO twice(x) AS x * 2"])
    healthy = sqlsession.Sessions(threads=1)
    healthy.cursor().execute("CREATE TABLE scratch AS SELECT 1")
    monkeypatch.setattr(broken, "_db", _InvalidatedDatabase())
    failure = sqlsession.sql_error(duckdb.InternalException("INTERNAL Error: bug"), "scan")
    assert isinstance(failure, errors.ValidationError)  # not failed over: it would recur on every replica
    cur = broken.cursor()
    assert cur.execute("SELECT twice(21), 7 / 2, current_setting('TimeZone')").fetchall() == [(42, 3, "UTC")]
    assert healthy.cursor().execute("SELECT * FROM scratch").fetchall() == [(1,)]  # checked, kept


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT x FROM t", "Column 'x' cannot be resolved"),
    ("SELECT t.x FROM t", "Column 't.x' cannot be resolved"),
    ("SELECT foo(a) FROM t", "Function 'foo' not registered"),
    ("SELECT a FROM t GROUP BY b", "'a' must be an aggregate expression or appear in GROUP BY clause"),
    ("SELECT CAST('x' AS INTEGER)", "Could not convert string 'x' to INT32"),
])
def test_common_mistakes_are_told_in_trinos_words(sql: str, message: str) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (a INTEGER, b INTEGER)")
    with pytest.raises(duckdb.Error) as info:
        con.sql(sql).fetchall()
    assert sqlsession.user_message(info.value).startswith(message)
    assert "Error: " not in sqlsession.user_message(info.value)
