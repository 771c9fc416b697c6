"""PostgreSQL COPY text payloads built column-wise from Arrow batches."""

from __future__ import annotations

import pyarrow as pa

from loadtest.peers import postgres
from loadtest.tsbs import FIELDS, TAGS, CpuOnly

T0 = 1_451_606_400_000_000_000


def test_a_row_is_tab_separated_with_a_utc_timestamp_and_a_newline() -> None:
    batch = pa.table({"time": pa.array([T0 + 1_500_000], pa.timestamp("ns")), "hostname": ["host_0"],
                      "usage_user": pa.array([58], pa.int64()), "usage_system": pa.array([2.5])})
    out = postgres.copy_payload(batch, ("time", "hostname", "usage_user", "usage_system"))
    assert out == b"2016-01-01 00:00:00.001500+00\thost_0\t58\t2.5\n"


def test_nanoseconds_are_rounded_up_to_the_microsecond() -> None:
    batch = pa.table({"time": pa.array([T0 + 1], pa.timestamp("ns"))})
    assert postgres.copy_payload(batch, ("time",)) == b"2016-01-01 00:00:00.000001+00\n"


def test_nulls_become_backslash_n_and_specials_in_text_are_escaped() -> None:
    batch = pa.table({"a": pa.array([None, "tab\there"], pa.string()), "b": pa.array(["back\\slash", "new\nline"]),
                      "c": pa.array([1, None], pa.int64())})
    out = postgres.copy_payload(batch, ("a", "b", "c"))
    assert out == b"\\N\tback\\\\slash\t1\ntab\\there\tnew\\nline\t\\N\n"


def test_a_tsbs_batch_has_21_columns_in_the_tables_order() -> None:
    batch = pa.concat_tables(CpuOnly(scale=2, end_ns=T0 + 10_000_000_000).chunks())
    rows = postgres.copy_payload(batch).decode().splitlines()
    assert len(rows) == 2
    cells = rows[1].split("\t")
    assert len(cells) == 1 + len(TAGS) + len(FIELDS)
    assert cells[0] == "2016-01-01 00:00:00.000000+00" and cells[1] == "host_1"
    assert postgres.COPY_SQL.startswith("COPY cpu (time, hostname, region,")


def test_the_schema_is_flat_with_double_fields_and_the_two_indexes() -> None:
    ddl = postgres.schema_sql()
    assert ddl[0] == "DROP TABLE IF EXISTS cpu"
    assert "time timestamptz NOT NULL, hostname text," in ddl[1] and "usage_guest_nice double precision)" in ddl[1]
    assert ddl[2:] == ["CREATE INDEX cpu_hostname_time ON cpu (hostname, time DESC)",
                       "CREATE INDEX cpu_time ON cpu (time DESC)"]
