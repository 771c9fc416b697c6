"""Timestream's service models (botocore's own JSON, so operations and limits match AWS exactly), and the
validation of a request against them, answered in AWS's words:

    1 validation error detected: Value 'x…' at 'tableName' failed to satisfy constraint: Member must have
    length less than or equal to 256
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
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
    if op.input_shape is not None:
        _raise_problems(op.input_shape, params, "")


def validate_member(service_name: str, shape_name: str, value: Any, where: str) -> None:
    """The same for a document that is not a request but must have a shape of the service (a batch-load
    data model read from S3); ``where`` names it in the messages."""
    _raise_problems(service(service_name).shape_for(shape_name), value, where)


def _raise_problems(shape: Shape, params: Any, where: str) -> None:
    if _valid(shape)(params):
        return  # the common case, checked by compiled predicates without building any message
    problems = list(_check(shape, params, where))
    wrong_type = [text for kind, text in problems if kind is _WRONG_TYPE]
    if wrong_type:
        raise SerializationError(wrong_type[0])
    if problems:
        count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected: "
        raise errors.ValidationError(count + "; ".join(text for _, text in problems))


_WRONG_TYPE, _CONSTRAINT = "wrong type", "constraint"
Problem = tuple[str, str]
"""(_WRONG_TYPE or _CONSTRAINT, AWS's text for it)."""
_INTEGER_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


Check = Callable[[Any], bool]


def _valid(shape: Shape) -> Check:
    """A predicate that is True when a value breaks none of ``shape``'s constraints: the same rules as
    :func:`_check`, compiled once per shape (a WriteRecords of 100 multi-measure records holds thousands of
    members, and the message-building walk cost more than the rest of the request)."""
    key = (shape.name, shape.type_name)
    found = _COMPILED.get(key)
    if found is None:
        _COMPILED[key] = lambda value: _valid(shape)(value)  # recursive shapes: resolved on first use
        found = _COMPILED[key] = _compile(shape)
    return found


_COMPILED: dict[tuple[str, str], Check] = {}


def _compile(shape: Shape) -> Check:
    kind = shape.type_name
    meta = shape.metadata
    least, most = meta.get("min"), meta.get("max")
    if kind == "structure":
        required = tuple(meta.get("required", ()))
        members = tuple((name, _valid(member)) for name, member in shape.members.items())

        def structure(value: Any) -> bool:
            if type(value) is not dict:
                return False
            for name in required:
                if value.get(name) is None:
                    return False
            for name, check in members:
                item = value.get(name)
                if item is not None and not check(item):
                    return False
            return True
        return structure
    if kind == "list":
        element = _valid(shape.member)

        def array(value: Any) -> bool:
            if type(value) is not list or (least is not None and len(value) < least) or \
                    (most is not None and len(value) > most):
                return False
            for item in value:
                if not element(item):
                    return False
            return True
        return array
    if kind == "map":
        entry = _valid(shape.value)
        return lambda value: type(value) is dict and all(entry(v) for v in value.values())
    if kind == "string":
        enum = frozenset(shape.enum) if shape.enum else None
        pattern = _pattern(meta["pattern"]) if meta.get("pattern") else None
        if least is None and most is None and enum is None and pattern is None:
            return lambda value: type(value) is str

        def string(value: Any) -> bool:
            return (type(value) is str and (least is None or len(value) >= least)
                    and (most is None or len(value) <= most) and (enum is None or value in enum)
                    and (pattern is None or pattern.fullmatch(value) is not None))
        return string
    expected = _JSON_TYPES.get(kind, (object,))
    low, high = _INTEGER_RANGES.get(kind, (None, None))

    def number(value: Any) -> bool:
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            return False
        if low is not None and not low <= value <= high:  # type: ignore[operator]
            return False
        return (least is None or value >= least) and (most is None or value <= most)
    return number


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _shown(value: Any, shape: Shape) -> str:
    if shape.metadata.get("sensitive"):  # QueryString, ClientToken: AWS does not echo them
        return "*** Sensitive Data Redacted ***"
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= 64 else text[:61] + "..."


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "structure": (dict,), "map": (dict,), "list": (list,), "string": (str,), "boolean": (bool,),
    "integer": (int,), "long": (int,), "double": (int, float), "float": (int, float), "timestamp": (int, float, str),
    "blob": (str,),
}


def _check(shape: Shape, value: Any, where: str) -> Iterator[Problem]:
    kind = shape.type_name
    expected = _JSON_TYPES.get(kind)
    if expected and (not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected)):
        yield _WRONG_TYPE, f"Value at '{where or 'request'}' must be a JSON {kind}, not {type(value).__name__}"
        return
    if kind in _INTEGER_RANGES and not _INTEGER_RANGES[kind][0] <= value <= _INTEGER_RANGES[kind][1]:
        yield _WRONG_TYPE, f"Value at '{where}' does not fit in a {kind} ({_INTEGER_RANGES[kind][1].bit_length() + 1} bits)"
        return
    meta = shape.metadata
    if kind == "structure":
        for name in meta.get("required", []):
            if value.get(name) is None:
                yield _CONSTRAINT, (f"Value null at '{_join(where, name)}' failed to satisfy constraint: Member "
                                    "must not be null")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                yield from _check(member, value[name], _join(where, name))
    elif kind == "list":
        yield from _length(len(value), shape, value, where)
        for i, item in enumerate(value):
            yield from _check(shape.member, item, f"{where}.{i + 1}.member")
    elif kind == "map":
        for key, item in value.items():
            yield from _check(shape.value, item, f"{where}.{key}")
    elif kind == "string":
        yield from _length(len(value), shape, value, where)
        if shape.enum and value not in shape.enum:
            yield _CONSTRAINT, (f"Value '{_shown(value, shape)}' at '{where}' failed to satisfy constraint: Member "
                                f"must satisfy enum value set: [{', '.join(shape.enum)}]")
        pattern = meta.get("pattern")
        if pattern and not _pattern(pattern).fullmatch(value):
            yield _CONSTRAINT, (f"Value '{_shown(value, shape)}' at '{where}' failed to satisfy constraint: Member "
                                f"must satisfy regular expression pattern: {pattern}")
    elif kind in ("integer", "long", "double", "float"):
        if "min" in meta and value < meta["min"]:
            yield _CONSTRAINT, (f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value "
                                f"greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            yield _CONSTRAINT, (f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value "
                                f"less than or equal to {meta['max']}")


def _length(n: int, shape: Shape, value: Any, where: str) -> Iterator[Problem]:
    meta = shape.metadata
    if "min" in meta and n < meta["min"]:
        yield _CONSTRAINT, (f"Value '{_shown(value, shape)}' at '{where}' failed to satisfy constraint: Member must "
                            f"have length greater than or equal to {meta['min']}")
    if "max" in meta and n > meta["max"]:
        yield _CONSTRAINT, (f"Value '{_shown(value, shape)}' at '{where}' failed to satisfy constraint: Member must "
                            f"have length less than or equal to {meta['max']}")


def _join(where: str, name: str) -> str:
    return f"{where}.{_camel(name)}" if where else _camel(name)


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)
