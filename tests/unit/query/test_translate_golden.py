"""Golden tests for services.query.translate: Timestream SQL in, DuckDB SQL and scan specs out.

Each ``golden/*.sql`` file holds cases for one feature, in blocks like::

    -- name: a duration literal becomes an interval
    -- input
    SELECT ago(15s) FROM db.t
    -- sql
    SELECT ... (the expected Translation.sql, on one line)
    -- scans
    {"view": "t0", "database": "db", ...}      (one JSON object per TableScan, in order)

or, for a query that must be rejected::

    -- name: an INSERT is rejected
    -- input
    INSERT INTO db.t VALUES (1)
    -- error
    only SELECT queries are supported          (a substring of the ValidationError message)

Every case runs with the clock fixed at ``NOW_NS`` (2026-11-22 10:00:00.123456789 UTC). To regenerate the
expectations after a deliberate change, run with ``TESSERA_UPDATE_GOLDEN=1`` and review the diff: the files
hold reviewed expectations, not whatever the code happens to produce.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot.errors

from services.query.translate import FINAL_STAGE_MACROS, translate
from tessera.errors import ValidationError
from tessera.limits import QUERY_STRING_MAX_CHARS
from tessera.sqlsession import DUCKDB_SESSION_SETTINGS

NOW_NS = 1_795_341_600_123_456_789  # 2026-11-22 10:00:00.123456789 UTC
GOLDEN_DIR = Path(__file__).parent / "golden"
_MARKER = re.compile(r"^-- (name|input|sql|scans|error)\s*:?\s*(.*)$")


@dataclass
class Case:
    """One golden block; sections hold the raw text under each ``-- <section>`` marker."""

    name: str
    sections: dict[str, str] = field(default_factory=dict)


def parse_golden(text: str) -> tuple[str, list[Case]]:
    """The file's preamble (lines before the first case) and its cases."""
    preamble: list[str] = []
    cases: list[Case] = []
    section: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if cases and section is not None:
            cases[-1].sections[section] = "\n".join(lines).strip()

    for line in text.splitlines():
        marker = _MARKER.match(line)
        if marker is None:
            (lines if cases else preamble).append(line)
            continue
        flush()
        lines = []
        kind, rest = marker.groups()
        if kind == "name":
            cases.append(Case(rest.strip()))
            section = None
        else:
            section = kind
    flush()
    return "\n".join(preamble).strip(), cases


def run_case(case: Case) -> dict[str, str]:
    """The actual sections for a case's input: sql + scans, or the error message."""
    try:
        translation = translate(case.sections["input"], NOW_NS)
    except ValidationError as exc:
        return {"error": exc.message}
    # A scan without the last-point pushdown is written without its ``latest`` (most scans).
    scans = [json.dumps({k: v for k, v in dataclasses.asdict(s).items() if k != "latest" or v is not None})
             for s in translation.scans]
    return {"sql": translation.sql, "scans": "\n".join(scans)}


def render_golden(preamble: str, cases: list[Case]) -> str:
    """A golden file's text; the inverse of ``parse_golden``."""
    out = [preamble, ""] if preamble else []
    for case in cases:
        out.append(f"-- name: {case.name}")
        for section in ("input", "sql", "scans", "error"):
            if section in case.sections:
                out.append(f"-- {section}")
                if case.sections[section]:
                    out.append(case.sections[section])
        out.append("")
    return "\n".join(out)


def check(case: Case, actual: dict[str, str]) -> list[str]:
    """Mismatches between a case's expectations and what translate produced."""
    if "error" in case.sections:
        if "error" not in actual:
            return [f"{case.name}: expected an error containing {case.sections['error']!r}, got {actual}"]
        if case.sections["error"] not in actual["error"]:
            return [f"{case.name}: error {actual['error']!r} lacks {case.sections['error']!r}"]
        return []
    if "error" in actual:
        return [f"{case.name}: unexpected error {actual['error']!r}"]
    problems = []
    if actual["sql"] != case.sections.get("sql", ""):
        problems.append(
            f"{case.name}: sql\n  expected {case.sections.get('sql')}\n  actual   {actual['sql']}"
        )
    expected_scans = [json.loads(line) for line in case.sections.get("scans", "").splitlines() if line]
    actual_scans = [json.loads(line) for line in actual["scans"].splitlines() if line]
    if expected_scans != actual_scans:
        problems.append(f"{case.name}: scans\n  expected {expected_scans}\n  actual   {actual_scans}")
    return problems


GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.sql"))


def test_there_are_golden_files_for_every_feature() -> None:
    names = {p.stem for p in GOLDEN_FILES}
    assert {
        "durations",
        "measure_value",
        "time_bounds",
        "pushdown",
        "functions",
        "errors",
        "statements",
    } <= names


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden_file_translates_as_expected(path: Path) -> None:
    preamble, cases = parse_golden(path.read_text())
    assert cases, f"{path.name} holds no cases"
    assert len({c.name for c in cases}) == len(cases), f"{path.name} repeats a case name"
    results = [run_case(case) for case in cases]
    if os.environ.get("TESSERA_UPDATE_GOLDEN") == "1":
        for case, actual in zip(cases, results, strict=True):
            for section in ("sql", "scans", "error"):
                case.sections.pop(section, None)
            case.sections.update(actual)
        path.write_text(render_golden(preamble, cases))
        return
    problems = [p for case, actual in zip(cases, results, strict=True) for p in check(case, actual)]
    assert not problems, "\n".join(problems)


_DEFAULT_COLUMNS = ("time", "measure_name", "host", "region", "az", "cpu", "v")


def _column_type(name: str) -> pa.DataType:
    """A plausible storage type for a golden column name, so the final SQL can be bound by DuckDB."""
    if name == "time" or name.endswith("_time") or name == "measure_value::timestamp":
        return pa.timestamp("ns")
    if name in ("host", "region", "az", "measure_name", "measure_value::varchar"):
        return pa.string()
    if name in ("ms", "ns", "secs", "measure_value::bigint"):
        return pa.int64()
    if name == "measure_value::boolean":
        return pa.bool_()
    return pa.float64()


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden_sql_runs_in_duckdb_over_views_holding_only_the_scanned_columns(path: Path) -> None:
    _, cases = parse_golden(path.read_text())
    for case in cases:
        if "sql" not in case.sections:
            continue
        translation = translate(case.sections["input"], NOW_NS)
        con = duckdb.connect()
        try:
            for setting in (*DUCKDB_SESSION_SETTINGS, *FINAL_STAGE_MACROS):
                con.execute(setting)
            for scan in translation.scans:
                names = _DEFAULT_COLUMNS if scan.columns is None else scan.columns
                schema = pa.schema([(n, _column_type(n)) for n in names])
                con.register(scan.view, schema.empty_table())
            con.execute(translation.sql).fetchall()
        except duckdb.Error as exc:
            pytest.fail(f"{path.name} / {case.name}: {exc}")
        finally:
            con.close()


def test_a_query_longer_than_the_limit_is_rejected_naming_the_limit() -> None:
    query = "SELECT host FROM db.t WHERE host = '" + "x" * QUERY_STRING_MAX_CHARS + "'"
    with pytest.raises(ValidationError, match="QUERY_STRING_MAX_CHARS"):
        translate(query, NOW_NS)


def test_a_syntax_error_keeps_the_sqlglot_error_as_its_cause() -> None:
    with pytest.raises(ValidationError) as info:
        translate("SELECT FROM WHERE", NOW_NS)
    assert isinstance(info.value.__cause__, sqlglot.errors.ParseError)
    assert "line 1, col 17" in info.value.message
