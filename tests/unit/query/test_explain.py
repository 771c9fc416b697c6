"""EXPLAIN [ANALYZE]: recognised before translation, and the plan names every fragment."""

from __future__ import annotations

from services.query import explain
from services.query.pruning import RangePlan
from services.query.translate import translate
from tessera.v1 import common_pb2

NOW_NS = 1_795_341_600_000_000_000


def test_explain_and_explain_analyze_are_recognised_in_any_case_and_nothing_else_is() -> None:
    assert explain.parse("EXPLAIN SELECT 1") == explain.Request("SELECT 1", analyze=False)
    assert explain.parse("  explain\n analyze  SELECT 1") == explain.Request("SELECT 1", analyze=True)
    assert explain.parse("SELECT 'EXPLAIN SELECT 1'") is None and explain.parse("EXPLAINED") is None
    assert explain.parse("EXPLAIN") is None


def test_the_plan_lists_the_final_stage_and_one_fragment_per_table_with_its_measures() -> None:
    translation = translate("SELECT count(*) FROM db.cpu a JOIN db.mem b ON a.host = b.host "
                            "WHERE a.time > ago(1h) AND b.region = 'eu'", NOW_NS)
    plan = RangePlan(ranges=(common_pb2.HashRange(cell="cell-b"),), total=4, values=None, exact_tiles=True)
    text = explain.lines(translation, [plan, plan], ["", ""], [explain.ScanStats(10, 2048, 1.5), explain.ScanStats(3, 99, 0.5)],
                         (1, 2.25))
    assert text[0].startswith("Fragment 0 [coordinator]") and text[0].endswith("1 row(s) out, 2.2 ms")
    assert text[1].strip() == translation.sql
    fragments = [line for line in text if line.startswith("Fragment ")]
    assert fragments[1] == "Fragment 1 [cells cell-b]: read db.cpu as t0: 10 rows, 2,048 bytes scanned, 1.5 ms"
    assert fragments[2].startswith("Fragment 2 [cells cell-b]: read db.mem as t1: 3 rows")
    assert explain.as_table(text).column_names == ["Query Plan"]
    one = translate("SELECT max(v) FROM db.cpu WHERE time > ago(1h) AND region = 'eu'", NOW_NS)
    single = explain.lines(one, [plan], [one.scans[0].predicate])
    assert "    1 of 4 hash ranges; time [2026-11-22 09:00:00.000000001, +inf)" in single
    assert any(line.startswith("    filter on the replicas: ") and "region = 'eu'" in line for line in single)


def test_the_replica_filter_names_key_filters_and_the_predicate() -> None:
    assert explain.replica_filter("", (("host", ("a", "b")),), ("cpu",)) == \
        "keys host IN ('a', 'b') AND measure_name IN ('cpu')"
    assert explain.replica_filter("v > 1", (), ()) == "rows v > 1"
    assert explain.replica_filter("", (), ()) == ""
    assert explain.replica_filter("v > 1", (), (), 1) == "rows v > 1; then each series' newest 1 row"
    assert explain.replica_filter("", (), (), 3) == "then each series' newest 3 rows"
