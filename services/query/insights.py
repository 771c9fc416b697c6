"""QueryInsights: how well each table read of a query was pruned, as Timestream's QueryInsightsResponse
reports it (the gateway picks the worst table of each kind and adds the output's size).

- Temporal range: the span of time a read covers, from the WHERE's time bounds; an open side reaches to the
  end of the table's retention (memory plus magnetic) before now, or to now.
- Spatial coverage: the share of the table's hash ranges the read touches (1.0 unless a predicate on the
  partition key pruned some).
"""

from __future__ import annotations

from collections.abc import Iterable

from services.query import pruning
from services.query.translate import TableScan
from tessera.v1 import common_pb2, query_pb2

_HOUR_NS = 3_600 * 1_000_000_000
_DAY_NS = 24 * _HOUR_NS


def partition_key(route: common_pb2.TableRoute) -> list[str]:
    """The table's partition key as Timestream names it: measure_name unless a dimension was chosen."""
    key = route.partition_key
    return [key.name] if key.type == "DIMENSION" and key.name else ["measure_name"]


def of_scan(route: common_pb2.TableRoute, scan: TableScan, now_ns: int) -> query_pb2.TableInsight:
    """The insight of one table read."""
    oldest = now_ns - route.memory_retention_hours * _HOUR_NS - route.magnetic_retention_days * _DAY_NS
    start = oldest if scan.start_ns is None else max(scan.start_ns, oldest)
    end = now_ns if scan.end_ns is None else scan.end_ns
    plan = pruning.plan(route, scan)
    return query_pb2.TableInsight(database_name=scan.database, table_name=scan.table,
                                  temporal_range_ns=max(end - start, 0),
                                  spatial_coverage=len(plan.ranges) / plan.total if plan.total else 1.0,
                                  partition_key=partition_key(route))


def per_table(insights: Iterable[query_pb2.TableInsight]) -> list[query_pb2.TableInsight]:
    """One insight per table: its widest read in time and in space (a table read twice, e.g. in a join)."""
    out: dict[tuple[str, str], query_pb2.TableInsight] = {}
    for insight in insights:
        key = (insight.database_name, insight.table_name)
        seen = out.get(key)
        if seen is None:
            out[key] = insight
            continue
        seen.temporal_range_ns = max(seen.temporal_range_ns, insight.temporal_range_ns)
        seen.spatial_coverage = max(seen.spatial_coverage, insight.spatial_coverage)
    return list(out.values())
