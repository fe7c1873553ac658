"""JSON serialization: round trips, readable storage, rebuilt errors, clear refusals."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import math
import uuid
from typing import Any

import pytest
from tether.runtime import serialization
from tether.runtime.errors import NondeterminismError, SerializationError, StoredError


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    price: decimal.Decimal


@dataclasses.dataclass
class Invoice:
    number: int
    lines: list[Line]
    issued: dt.date
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)


class Declined(Exception):
    """Raised with the message as its only argument."""


class CodedError(Exception):
    """An exception whose constructor does not take its message."""

    def __init__(self, code: int, *, retryable: bool) -> None:
        super().__init__(f"declined with code {code} (retryable={retryable})")
        self.code = code


class HTTPError(Exception):
    """Built from attributes, not from a message: its __str__ reads them."""

    def __init__(self, status: int, *, url: str) -> None:
        self.status = status
        self.url = url
        self.response = object()  # not storable: left out

    def __str__(self) -> str:
        return f"HTTP {self.status} from {self.url}"


ROUND_TRIPS = [
    None,
    True,
    0,
    -17,
    2.5,
    "text ünïcode",
    [1, "a", None, [2.0]],
    {"nested": {"list": [1, 2], "empty": {}}},
    (1, "two", (3,)),
    {1, 2, 3},
    frozenset({"a"}),
    dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
    dt.datetime(2024, 5, 1, 12, 30, 15, 250),
    dt.date(2024, 2, 29),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("12.3400"),
    b"\x00\xffbytes",
    {"__tether__": "not a tag", "x": 1},
    Line("sku-1", decimal.Decimal("9.99")),
    Invoice(7, [Line("a", decimal.Decimal("1"))], dt.date(2024, 1, 2), {"k": (1, 2)}),
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=lambda v: type(v).__name__)
def test_round_trip(value: Any) -> None:
    back = serialization.loads(serialization.dumps(value))
    assert back == value
    assert type(back) is type(value) or isinstance(value, frozenset)


def test_plain_values_are_stored_as_plain_json() -> None:
    text = serialization.dumps({"order": "o-1", "items": [1, 2], "ok": True})
    assert json.loads(text) == {"order": "o-1", "items": [1, 2], "ok": True}


def test_dataclass_whose_type_is_gone_stays_readable() -> None:
    text = serialization.dumps(Line("x", decimal.Decimal("2")))
    text = text.replace("test_serialization:Line", "test_serialization:Removed")
    assert serialization.loads(text) == {"sku": "x", "price": decimal.Decimal("2")}


def test_loads_none_is_none() -> None:
    assert serialization.loads(None) is None


def test_non_string_dict_key_is_refused_clearly() -> None:
    with pytest.raises(SerializationError) as info:
        serialization.dumps({"ok": {1: "one"}}, "workflow 'w' step 'count' output")
    msg = str(info.value)
    assert "workflow 'w' step 'count' output" in msg
    assert "key 1 is a int" in msg
    assert "str" in msg


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused_clearly(bad: float) -> None:
    with pytest.raises(SerializationError, match=r"workflow 'w' output: .*NaN/infinity"):
        serialization.dumps({"score": [bad]}, "workflow 'w' output")


def test_unknown_type_is_refused_naming_the_type() -> None:
    with pytest.raises(SerializationError, match=r"where: a value of type builtins.object"):
        serialization.dumps([object()], "where")


def rebuild(exc: BaseException) -> BaseException:
    """Through JSON text, as the store keeps it."""
    data = json.loads(json.dumps(serialization.error_to_json(exc)))
    return serialization.error_from_json(data)


@pytest.mark.parametrize("exc", [ValueError("bad value"), KeyError("k"), Declined("no funds")])
def test_error_rebuilt_with_type_and_message(exc: BaseException) -> None:
    back = rebuild(exc)
    assert type(back) is type(exc)
    assert str(back) == str(exc)
    assert back.args == exc.args


def test_error_with_custom_constructor_keeps_type_and_message() -> None:
    back = rebuild(CodedError(51, retryable=False))
    assert type(back) is CodedError
    assert str(back) == "declined with code 51 (retryable=False)"
    assert back.code == 51  # type: ignore[attr-defined]


def test_error_with_attribute_based_str_keeps_its_attributes() -> None:
    back = rebuild(HTTPError(503, url="https://pay.example/charge"))
    assert type(back) is HTTPError
    assert str(back) == "HTTP 503 from https://pay.example/charge"
    assert (back.status, back.url) == (503, "https://pay.example/charge")  # type: ignore[attr-defined]


def test_error_of_unimportable_type_becomes_stored_error() -> None:
    data = serialization.error_to_json(Declined("gone"))
    data["type"] = "no_such_module.sub:Vanished"
    back = serialization.error_from_json(data)
    assert isinstance(back, StoredError)
    assert back.type_name == "no_such_module.sub.Vanished"
    assert str(back) == "no_such_module.sub.Vanished: gone"


def test_error_record_carries_traceback_and_survives_unserializable_args() -> None:
    try:
        raise Declined(object())
    except Declined as exc:
        data = serialization.error_to_json(exc)
    assert data["args"] is None
    assert "raise Declined(object())" in data["traceback"]
    back = serialization.error_from_json(data)
    assert type(back) is Declined and str(back) == data["message"]


def test_nondeterminism_error_rebuilt_from_its_fields() -> None:
    err = NondeterminismError(
        workflow_id="w", position=3, recorded="step 'a'", requested="step 'b'"
    )
    back = rebuild(err)
    assert isinstance(back, NondeterminismError)
    assert (back.workflow_id, back.position, back.recorded, back.requested) == (
        "w",
        3,
        "step 'a'",
        "step 'b'",
    )
