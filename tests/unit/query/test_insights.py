"""QueryInsights: the time span and the share of hash ranges each table read covers."""

from __future__ import annotations

from services.query import insights
from services.query.translate import translate
from tests.unit.query.test_pruning import HOST, NOW_NS, _route

HOUR_NS = 3_600 * 1_000_000_000


def _insight(sql: str, **route_fields: int) -> insights.query_pb2.TableInsight:
    route = _route()
    for name, value in route_fields.items():
        setattr(route, name, value)
    (scan,) = translate(sql, NOW_NS).scans
    return insights.of_scan(route, scan, NOW_NS)


def test_a_bounded_read_covers_its_bounds_and_a_pinned_key_one_range_of_four() -> None:
    got = _insight("SELECT * FROM db.t WHERE time >= ago(2h) AND time < ago(1h) AND host = 'h1'",
                   memory_retention_hours=6)
    assert got.temporal_range_ns == HOUR_NS
    assert got.spatial_coverage == 0.25
    assert list(got.partition_key) == [HOST.name] and (got.database_name, got.table_name) == ("db", "t")


def test_an_open_read_reaches_back_over_the_retention_and_covers_every_range() -> None:
    got = _insight("SELECT * FROM db.t WHERE time >= ago(1h) OR host = 'h1'", memory_retention_hours=6,
                   magnetic_retention_days=1)
    assert got.temporal_range_ns == 30 * HOUR_NS  # 6 h of memory store and a day of magnetic store
    assert got.spatial_coverage == 1.0


def test_a_table_read_twice_reports_its_widest_read() -> None:
    route = _route()
    route.memory_retention_hours = 24
    scans = translate("SELECT host FROM db.t WHERE time >= ago(1h) AND host = 'h1' "
                      "UNION ALL SELECT host FROM db.t WHERE time >= ago(3h)", NOW_NS).scans
    assert len(scans) == 2
    (merged,) = insights.per_table(insights.of_scan(route, s, NOW_NS) for s in scans)
    assert (merged.temporal_range_ns, merged.spatial_coverage) == (3 * HOUR_NS, 1.0)
