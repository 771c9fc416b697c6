"""The vectorised WriteRecords path agrees exactly with the per-record validator, and declines the rest."""

from __future__ import annotations

import random

import pytest

from tessera._record_fastpath import validate_fast
from tessera.v1 import common_pb2
from tessera.validation import ColumnSpec, TableContext, validate_records_exactly

NOW = 1_800_000_000_000_000_000
CTX = TableContext(columns={"site": ColumnSpec("DIMENSION", "VARCHAR")}, memory_retention_ns=6 * 3600 * 10**9,
                   magnetic_retention_ns=10**18, magnetic_writes=True, now_ns=NOW)


def _value(rng: random.Random, type_name: str) -> str:
    return {"DOUBLE": lambda: repr(rng.uniform(-1e6, 1e6)) if rng.random() < 0.8 else str(rng.randint(-5, 5)),
            "BIGINT": lambda: str(rng.randint(-(2**63), 2**63 - 1)),
            "VARCHAR": lambda: rng.choice(["ok", "warn", "späti", "x" * 50]),
            "BOOLEAN": lambda: rng.choice(["true", "FALSE", "True"]),
            "TIMESTAMP": lambda: str(rng.randint(0, 10**9))}[type_name]()  # in range for every unit


def _records(seed: int, n: int = 60) -> list[common_pb2.Record]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        dims = [common_pb2.Dimension(name=d, value=f"{d}-{rng.randint(0, 9)}")
                for d in rng.sample(["site", "host", "rack", "zone"], rng.randint(1, 4))]
        unit, scale = rng.choice([("MILLISECONDS", 10**6), ("NANOSECONDS", 1), ("SECONDS", 10**9), ("", 10**6)])
        time = str((NOW - rng.randint(0, 3600 * 10**9)) // scale)
        rec = common_pb2.Record(dimensions=dims, time=time, time_unit=unit)
        if rng.random() < 0.5:
            rec.measure_name = "metrics"
            rec.measure_value_type = "MULTI"
            for name, type_name in rng.sample([("temp", "DOUBLE"), ("count", "BIGINT"), ("state", "VARCHAR"),
                                               ("ok", "BOOLEAN"), ("at", "TIMESTAMP")], rng.randint(1, 5)):
                rec.measure_values.append(common_pb2.MeasureValue(name=name, value=_value(rng, type_name),
                                                                  type=type_name))
        else:
            rec.measure_name, type_name = rng.choice([("cpu", "DOUBLE"), ("mem", "BIGINT"), ("up", "BOOLEAN"),
                                                      ("msg", "VARCHAR")])
            rec.measure_value_type = "" if type_name == "DOUBLE" and rng.random() < 0.5 else type_name
            rec.measure_value = _value(rng, type_name)
        if rng.random() < 0.3:
            rec.version = rng.randint(1, 1000)
        out.append(rec)
    return out


@pytest.mark.parametrize("seed", range(25))
def test_the_fast_path_gives_exactly_what_the_per_record_validator_gives(seed: int) -> None:
    records = _records(seed)
    fast = validate_fast(records, CTX)
    exact = validate_records_exactly(records, common_pb2.Record(), CTX)
    assert fast is not None
    assert exact.rejected == []
    assert fast.rows.equals(exact.rows), (fast.rows.schema, exact.rows.schema)
    assert fast.versions.equals(exact.versions)
    assert (fast.dimension_columns, fast.measure_columns) == (exact.dimension_columns, exact.measure_columns)
    assert fast.new_columns == exact.new_columns
    assert fast.source_index.tolist() == exact.source_index.tolist()


@pytest.mark.parametrize("spoil", [
    lambda r: setattr(r, "measure_value", "NaN") if r.measure_value else r.measure_values[0].__setattr__("value", ""),
    lambda r: setattr(r, "time", "12ab"),
    lambda r: setattr(r, "time", str(NOW // 10**6 + 3_600_000)),          # an hour in the future
    lambda r: setattr(r, "time", str((NOW - 7 * 3600 * 10**9) // 10**6)),  # magnetic store: exact path
    lambda r: setattr(r, "version", 0),
    lambda r: r.dimensions.append(common_pb2.Dimension(name="ts_bad", value="x")),
    lambda r: r.dimensions.append(common_pb2.Dimension(name=r.dimensions[0].name, value="dup")),
    lambda r: setattr(r.dimensions[0], "value", ""),
    lambda r: setattr(r, "measure_value_type", "TIMESTAMP"),
])
def test_anything_not_plainly_valid_goes_to_the_exact_path(spoil) -> None:  # type: ignore[no-untyped-def]
    records = _records(7, n=10)
    for r in records:
        r.time_unit = "MILLISECONDS"
        r.time = str((NOW - 10**9) // 10**6)
    assert validate_fast(records, CTX) is not None  # valid as generated: the spoiling is what sends it away
    spoil(records[4])
    assert validate_fast(records, CTX) is None


def test_a_type_conflict_with_the_table_goes_to_the_exact_path() -> None:
    records = [common_pb2.Record(dimensions=[common_pb2.Dimension(name="h", value="a")], measure_name="site",
                                 measure_value="1", time=str(NOW // 10**6))]
    assert validate_fast(records, CTX) is None  # 'site' is a dimension of the table
