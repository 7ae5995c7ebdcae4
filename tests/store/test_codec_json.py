"""The store's JSON encoder reads back as the json module's canonical JSON, or refuses alike."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import json
import math
import uuid
from typing import Any

import pytest

from nexus.store._codec import encode


def reference(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Text(str):
    pass


class Mapping(dict[str, Any]):
    pass


Pair = collections.namedtuple("Pair", "a b")


@dataclasses.dataclass
class Record:
    x: int = 1


SAME = {
    "nested": {"b": [1, {"d": 2.5, "c": None}], "a": "é\u2028\x00", "t": (1, 2)},
    "key order": {"B": 1, "a": 2, "_": 3, "é": 4, "Z": 5},
    "floats": [0.1, 1e16, -0.0, 5.5789947509765625e-05, 1.7976931348623157e308, 1e-320],
    "ints": [0, -(2**63), 2**64 - 1, 2**70, -(2**80)],
    "nan and infinities": {"x": [math.nan, math.inf, -math.inf]},
    "none": None,
    "booleans": [True, False],
    "int keys": {2: "a", 10: "b"},
    "enum subclasses": [Colour.RED, Level.HIGH],
    "subclasses": [Text("x"), Mapping(a=1), Pair(1, 2)],
    "float and int subclasses": [type("F", (float,), {})(1.5), type("I", (int,), {})(3)],
    "deep": [[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]],
    "long": {"reply": "word " * 5000},
}

REFUSED = {
    "set": {1, 2},
    "bytes": b"x",
    "decimal": decimal.Decimal("1.5"),
    "dataclass": Record(),
    "datetime": datetime.datetime(2024, 1, 1),
    "object": object(),
    "mixed keys": {1: "a", "b": 2},
    "nested set": {"a": [{"b": {1}}]},
}


@pytest.mark.parametrize("value", SAME.values(), ids=SAME.keys())
def test_reads_back_as_the_json_modules_text(value: Any) -> None:
    text = encode(value)
    expected = reference(value)
    if "NaN" in expected or "Infinity" in expected:
        assert text == expected
    else:
        assert repr(json.loads(text)) == repr(json.loads(expected))


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
def test_refuses_what_the_json_module_refuses_with_its_error(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)) as ours:
        encode(value)
    with pytest.raises((TypeError, ValueError)) as theirs:
        reference(value)
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


def test_a_circular_value_is_refused_as_json_refuses_it() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        encode(loop)


def test_uuids_and_plain_enum_members_are_written_as_their_values() -> None:
    class Mode(enum.Enum):
        FAST = "fast"

    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert encode({"id": ident, "mode": Mode.FAST}) == (
        '{"id":"12345678-1234-5678-1234-567812345678","mode":"fast"}'
    )
