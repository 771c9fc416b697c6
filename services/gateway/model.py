"""Timestream's service models (botocore's own JSON, so operations and limits match AWS exactly), and the
validation of a request against them, answered in AWS's words:

    1 validation error detected: Value 'x…' at 'tableName' failed to satisfy constraint: Member must have
    length less than or equal to 256
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from tessera import errors

TARGET_PREFIX = "Timestream_20181101"
SERVICES = ("timestream-write", "timestream-query")


@cache
def service(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


def operation(name: str) -> tuple[str, OperationModel] | None:
    """The service (write first: operations both define, such as TagResource, take the same input) and the
    model of an operation, or None when neither service has it."""
    for svc in SERVICES:
        model = service(svc)
        if name in model.operation_names:
            return svc, model.operation_model(name)
    return None


class SerializationError(errors.ValidationError):
    """A member of the wrong JSON type: AWS answers SerializationException, not ValidationException."""


def validate(op: OperationModel, params: dict[str, Any]) -> None:
    """Raise ValidationError listing every constraint ``params`` breaks (SerializationError for a wrong JSON
    type), as AWS words them; unknown members are ignored, as AWS does."""
    shape = op.input_shape
    if shape is None:
        return
    problems = list(_check(shape, params, ""))
    if not problems:
        return
    wrong_type = [p for p in problems if p.startswith("!")]
    if wrong_type:
        raise SerializationError(wrong_type[0][1:])
    count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected: "
    raise errors.ValidationError(count + "; ".join(problems))


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= 64 else text[:61] + "..."


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "structure": (dict,), "map": (dict,), "list": (list,), "string": (str,), "boolean": (bool,),
    "integer": (int,), "long": (int,), "double": (int, float), "float": (int, float), "timestamp": (int, float, str),
    "blob": (str,),
}


def _check(shape: Shape, value: Any, where: str) -> Iterator[str]:
    kind = shape.type_name
    expected = _JSON_TYPES.get(kind)
    if expected and (not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected)):
        yield f"!Value at '{where or 'request'}' must be a JSON {kind}, not {type(value).__name__}"
        return
    meta = shape.metadata
    if kind == "structure":
        for name in meta.get("required", []):
            if value.get(name) is None:
                yield f"Value null at '{_join(where, name)}' failed to satisfy constraint: Member must not be null"
        for name, member in shape.members.items():
            if value.get(name) is not None:
                yield from _check(member, value[name], _join(where, name))
    elif kind == "list":
        yield from _length(len(value), meta, value, where)
        for i, item in enumerate(value):
            yield from _check(shape.member, item, f"{where}.{i + 1}.member")
    elif kind == "map":
        for key, item in value.items():
            yield from _check(shape.value, item, f"{where}.{key}")
    elif kind == "string":
        yield from _length(len(value), meta, value, where)
        if shape.enum and value not in shape.enum:
            yield (f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must satisfy enum "
                   f"value set: [{', '.join(shape.enum)}]")
        pattern = meta.get("pattern")
        if pattern and not _pattern(pattern).fullmatch(value):
            yield (f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must satisfy "
                   f"regular expression pattern: {pattern}")
    elif kind in ("integer", "long", "double", "float"):
        if "min" in meta and value < meta["min"]:
            yield (f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value greater "
                   f"than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            yield (f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value less than "
                   f"or equal to {meta['max']}")


def _length(n: int, meta: dict[str, Any], value: Any, where: str) -> Iterator[str]:
    if "min" in meta and n < meta["min"]:
        yield (f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must have length "
               f"greater than or equal to {meta['min']}")
    if "max" in meta and n > meta["max"]:
        yield (f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must have length "
               f"less than or equal to {meta['max']}")


def _join(where: str, name: str) -> str:
    return f"{where}.{_camel(name)}" if where else _camel(name)


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)
