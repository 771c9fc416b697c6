"""A batch-load task's data model: checked when the task is created, then applied to each CSV row to make the
WriteRecords-shaped record it stands for.

Timestream's rules (its batch-load data model mappings): the time column holds integer epochs in
``TimeUnit`` (MILLISECONDS by default); dimensions are VARCHAR, an empty cell leaves the dimension out; a
multi-measure mapping names its record by ``TargetMultiMeasureName`` or by the row's ``MeasureNameColumn``;
mixed mappings pick, by the row's measure name, either one measure (``SourceColumn``, renamed by
``TargetMeasureName``) or a multi-measure record; an empty cell leaves its measure out, and a row left with no
measure at all is a parse failure. Column names are compared exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tessera import errors

TIME_UNITS = ("MILLISECONDS", "SECONDS", "MICROSECONDS", "NANOSECONDS")


class RowError(Exception):
    """A row that cannot become a record; the message is the report's reason."""


@dataclass(frozen=True)
class Attribute:
    source: str
    name: str
    value_type: str


@dataclass(frozen=True)
class Mixed:
    """One of MixedMeasureMappings: for rows whose measure name is ``measure_name`` (any, when "")."""

    measure_name: str
    value_type: str
    source: str
    target_name: str
    attributes: tuple[Attribute, ...]


@dataclass(frozen=True)
class DataModel:
    time_column: str
    time_unit: str
    dimensions: tuple[tuple[str, str], ...]
    """(source column, dimension name)."""
    measure_name_column: str
    multi_name: str
    multi: tuple[Attribute, ...]
    mixed: tuple[Mixed, ...]

    @classmethod
    def parse(cls, doc: Mapping[str, Any]) -> DataModel:
        """The model of a request's ``DataModel``; ValidationError naming the member when it cannot work."""
        time_column = str(doc.get("TimeColumn") or "")
        if not time_column:
            raise errors.ValidationError("DataModel.TimeColumn is required: the CSV column holding each record's time")
        unit = str(doc.get("TimeUnit") or "MILLISECONDS")
        if unit not in TIME_UNITS:
            raise errors.ValidationError(f"DataModel.TimeUnit {unit!r} is not one of {', '.join(TIME_UNITS)}")
        mappings = doc.get("DimensionMappings") or ()
        for i, d in enumerate(mappings):
            if not d.get("SourceColumn"):
                raise errors.ValidationError(f"DataModel.DimensionMappings[{i}].SourceColumn is required")
        dimensions = tuple((str(d["SourceColumn"]), str(d.get("DestinationColumn") or d["SourceColumn"]))
                           for d in mappings)
        if not dimensions:
            raise errors.ValidationError("DataModel.DimensionMappings needs at least one mapping")
        name_column = str(doc.get("MeasureNameColumn") or "")
        multi_doc, mixed_doc = doc.get("MultiMeasureMappings"), doc.get("MixedMeasureMappings")
        if bool(multi_doc) == bool(mixed_doc):
            raise errors.ValidationError("DataModel needs exactly one of MultiMeasureMappings and "
                                         "MixedMeasureMappings")
        multi: tuple[Attribute, ...] = ()
        multi_name = ""
        mixed: tuple[Mixed, ...] = ()
        if multi_doc:
            multi = _attributes(multi_doc.get("MultiMeasureAttributeMappings"), "MultiMeasureMappings")
            multi_name = str(multi_doc.get("TargetMultiMeasureName") or "")
            if not multi_name and not name_column:
                raise errors.ValidationError("MultiMeasureMappings needs TargetMultiMeasureName or "
                                             "DataModel.MeasureNameColumn to name its records")
        else:
            if not name_column:
                raise errors.ValidationError("MixedMeasureMappings needs DataModel.MeasureNameColumn")
            mixed = tuple(_mixed(m, i) for i, m in enumerate(mixed_doc or ()))
            names = [m.measure_name for m in mixed]
            if len(set(names)) != len(names):
                raise errors.ValidationError("MixedMeasureMappings name a MeasureName twice (or have more than one "
                                             f"mapping without a MeasureName): {names}")
        names = [n for _, n in dimensions]
        if len(set(names)) != len(names):
            raise errors.ValidationError(f"DimensionMappings name a dimension twice: {sorted(names)}")
        return cls(time_column, unit, dimensions, name_column, multi_name, multi, mixed)

    def columns(self) -> set[str]:
        """Every CSV column the model reads."""
        used = {self.time_column, *(s for s, _ in self.dimensions), *(a.source for a in self.multi)}
        if self.measure_name_column:
            used.add(self.measure_name_column)
        for m in self.mixed:
            used.update(a.source for a in m.attributes)
            if m.source:
                used.add(m.source)
        return used

    def record(self, row: Mapping[str, str | None]) -> dict[str, Any]:
        """The WriteRecords record of one row (cells already NULL-mapped); RowError when it has none."""
        when = row.get(self.time_column)
        if not when or not (when.isascii() and when.isdigit()):
            raise RowError(f"The time column {self.time_column} does not hold an integer epoch: {when!r}")
        record: dict[str, Any] = {"Time": when, "TimeUnit": self.time_unit}
        dims = [{"Name": name, "Value": row[src], "DimensionValueType": "VARCHAR"}
                for src, name in self.dimensions if row.get(src)]
        if dims:
            record["Dimensions"] = dims
        measure_name = row.get(self.measure_name_column) if self.measure_name_column else None
        if self.multi:
            name = self.multi_name or measure_name
            if not name:
                raise RowError(f"The measure name column {self.measure_name_column} is empty")
            return _multi(record, name, self.multi, row)
        if not measure_name:
            raise RowError(f"The measure name column {self.measure_name_column} is empty")
        mapping = next((m for m in self.mixed if m.measure_name == measure_name), None) or next(
            (m for m in self.mixed if not m.measure_name), None)
        if mapping is None:
            raise RowError(f"No MixedMeasureMapping for the measure name {measure_name!r}")
        name = mapping.target_name or measure_name
        if mapping.value_type == "MULTI":
            return _multi(record, name, mapping.attributes, row)
        value = row.get(mapping.source)
        if value is None or value == "":
            raise RowError(f"The measure column {mapping.source} is empty")
        record.update(MeasureName=name, MeasureValue=value, MeasureValueType=mapping.value_type)
        return record


def _attributes(docs: Sequence[Mapping[str, Any]] | None, where: str) -> tuple[Attribute, ...]:
    if not docs:
        raise errors.ValidationError(f"{where}.MultiMeasureAttributeMappings needs at least one mapping")
    out = tuple(Attribute(str(a["SourceColumn"]), str(a.get("TargetMultiMeasureAttributeName") or a["SourceColumn"]),
                          str(a.get("MeasureValueType") or "DOUBLE")) for a in docs)
    names = [a.name for a in out]
    if len(set(names)) != len(names):
        raise errors.ValidationError(f"{where} names a measure attribute twice: {sorted(names)}")
    return out


def _mixed(doc: Mapping[str, Any], index: int) -> Mixed:
    where = f"MixedMeasureMappings[{index}]"
    value_type = str(doc.get("MeasureValueType") or "")
    if value_type == "MULTI":
        if doc.get("SourceColumn"):
            raise errors.ValidationError(f"{where}.SourceColumn is for a single measure: a MULTI mapping takes "
                                         "MultiMeasureAttributeMappings")
        attributes = _attributes(doc.get("MultiMeasureAttributeMappings"), where)
        source = ""
    else:
        source = str(doc.get("SourceColumn") or "")
        if not source:
            raise errors.ValidationError(f"{where}.SourceColumn is required for MeasureValueType {value_type}")
        if doc.get("MultiMeasureAttributeMappings"):
            raise errors.ValidationError(f"{where}.MultiMeasureAttributeMappings is for MeasureValueType MULTI, not "
                                         f"{value_type}")
        attributes = ()
    return Mixed(str(doc.get("MeasureName") or ""), value_type, source, str(doc.get("TargetMeasureName") or ""),
                 attributes)


def _multi(record: dict[str, Any], name: str, attributes: Sequence[Attribute],
           row: Mapping[str, str | None]) -> dict[str, Any]:
    values = [{"Name": a.name, "Value": row[a.source], "Type": a.value_type} for a in attributes
              if row.get(a.source) not in (None, "")]
    if not values:
        raise RowError("Every measure column of the row is empty")
    record.update(MeasureName=name, MeasureValueType="MULTI", MeasureValues=values)
    return record
