"""JSON serialization of inputs, outputs, messages, events and errors.

Stored values stay readable from SQL and dashboards, so plain JSON is used as-is and only
types JSON lacks are wrapped in a small tagged object ``{"__tether__": kind, ...}``.
Dataclasses and pydantic models round-trip to their own type when it is importable.
Pickle is never used.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import importlib
import json
import traceback
import uuid
from typing import Any

from .errors import SerializationError, StoredError, TetherError

TAG = "__tether__"


def _qualname(obj_type: type) -> str:
    return f"{obj_type.__module__}:{obj_type.__qualname__}"


def _import(path: str) -> Any:
    module, _, qual = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SerializationError(
                    f"{where}: dict key {k!r} is a {type(k).__name__}; JSON keys must be str. "
                    "Convert the keys to strings before returning or passing the value."
                )
            out[k] = _encode(v, where)
        if TAG in out:
            return {TAG: "dict", "value": out}
        return out
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, tuple):
        return {TAG: "tuple", "items": [_encode(v, where) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {TAG: "set", "items": [_encode(v, where) for v in value]}
    if isinstance(value, dt.datetime):
        return {TAG: "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {TAG: "date", "value": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {TAG: "uuid", "value": str(value)}
    if isinstance(value, decimal.Decimal):
        return {TAG: "decimal", "value": str(value)}
    if isinstance(value, bytes):
        return {TAG: "bytes", "value": base64.b64encode(value).decode()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name), where) for f in dataclasses.fields(value)}
        return {TAG: "dataclass", "type": _qualname(type(value)), "value": fields}
    dump = getattr(value, "model_dump", None)
    if callable(dump) and hasattr(type(value), "model_validate"):
        return {TAG: "pydantic", "type": _qualname(type(value)), "value": dump(mode="json")}
    if isinstance(value, BaseException):
        return {TAG: "exception", "value": error_to_json(value)}
    raise SerializationError(
        f"{where}: a value of type {type(value).__module__}.{type(value).__qualname__} cannot be "
        "stored as JSON. Return or pass plain JSON types, dataclasses or pydantic models "
        "(or convert the value yourself)."
    )


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(TAG)
    if kind is None:
        return {k: _decode(v) for k, v in value.items()}
    if kind == "dict":
        return {k: _decode(v) for k, v in value["value"].items()}
    if kind == "tuple":
        return tuple(_decode(v) for v in value["items"])
    if kind == "set":
        return {_decode(v) for v in value["items"]}
    if kind == "datetime":
        return dt.datetime.fromisoformat(value["value"])
    if kind == "date":
        return dt.date.fromisoformat(value["value"])
    if kind == "uuid":
        return uuid.UUID(value["value"])
    if kind == "decimal":
        return decimal.Decimal(value["value"])
    if kind == "bytes":
        return base64.b64decode(value["value"])
    if kind == "exception":
        return error_from_json(value["value"])
    if kind in ("dataclass", "pydantic"):
        fields = _decode(value["value"]) if kind == "dataclass" else value["value"]
        try:
            cls = _import(value["type"])
        except (ImportError, AttributeError):
            return fields  # the type is gone from this code: keep the data readable
        if kind == "dataclass":
            return cls(**fields)
        return cls.model_validate(fields)
    return value


def dumps(value: Any, where: str = "value") -> str:
    """Serialize ``value``; ``where`` names the workflow/step for the error message."""
    try:
        return json.dumps(_encode(value, where), separators=(",", ":"), allow_nan=False)
    except ValueError as exc:  # NaN/inf
        raise SerializationError(f"{where}: {exc}. Replace NaN/infinity before storing.") from exc
    except RecursionError:
        raise SerializationError(
            f"{where}: the value is nested too deeply to store as JSON (or contains itself); "
            "flatten it, or store a reference to it instead"
        ) from None


def loads(text: str | None) -> Any:
    if text is None:
        return None
    return _decode(json.loads(text))


def error_to_json(exc: BaseException) -> dict[str, Any]:
    """Describe an exception so that replay can raise an equivalent one."""
    args: list[Any] | None
    try:
        args = json.loads(json.dumps(_encode(list(exc.args), "error args")))
    except (TetherError, TypeError, ValueError):
        args = None
    data: dict[str, Any] = {
        "type": _qualname(type(exc)),
        "message": str(exc),
        "args": args,
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
    }
    fields = getattr(exc, "to_fields", None)
    if callable(fields):
        data["fields"] = fields()
    state = _state(exc)
    if state:
        data["state"] = state
    return data


def _state(exc: BaseException) -> dict[str, Any]:
    """The exception's attributes that JSON can hold: a rebuilt one keeps them (and its __str__)."""
    state: dict[str, Any] = {}
    for key, value in getattr(exc, "__dict__", {}).items():
        if key.startswith("__"):
            continue
        try:
            state[key] = json.loads(json.dumps(_encode(value, "error attribute")))
        except (TetherError, TypeError, ValueError):
            continue
    return state


def error_from_json(data: dict[str, Any]) -> BaseException:
    """Rebuild an equivalent exception: same type and message when the type is importable."""
    type_name = data.get("type", "builtins:Exception")
    message = data.get("message", "")
    try:
        cls = _import(type_name)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(type_name)
    except (ImportError, AttributeError, TypeError, ValueError):
        return StoredError(type_name.replace(":", "."), message)
    if "fields" in data:
        try:
            return cls(**data["fields"])
        except Exception:  # noqa: BLE001 - fall through to the generic rebuild
            pass
    if data.get("args") is not None:
        try:
            exc = cls(*_decode(data["args"]))
            if str(exc) == message:
                return exc
        except Exception:  # noqa: BLE001
            pass
    try:
        exc = cls.__new__(cls)
        BaseException.__init__(exc, message)
        exc.__dict__.update(_decode(data.get("state") or {}))
        str(exc)  # a custom __str__ must work on the rebuilt exception
        return exc
    except Exception:  # noqa: BLE001
        return StoredError(type_name.replace(":", "."), message)


def encode_inputs(wid: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A workflow's inputs as stored: ``{"args": [...], "kwargs": {...}}``."""
    where = f"workflow {wid!r} ({name}) inputs"
    return dumps({"args": list(args), "kwargs": kwargs}, where)


def decode_inputs(inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return tuple(inputs.get("args", ())), dict(inputs.get("kwargs", {}))
