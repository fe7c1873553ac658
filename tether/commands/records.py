"""What commands return: frozen dataclasses, and one way to turn any of them into JSON.

A record's ``to_dict()`` keeps stored values as they were recorded; ``jsonable`` goes on to
plain JSON types (timestamps stay epoch milliseconds), so the CLI's ``--json`` and an HTTP
API serialize results the same way.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import json
import uuid
from typing import Any

from tether.runtime.records import OperationRecord


@dataclasses.dataclass(frozen=True)
class Record:
    """Base of command results: a dataclass whose ``to_dict`` holds only plain values (nested
    records as their own ``to_dict``), ready for ``json.dumps`` up to stored values."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def jsonable(value: Any) -> Any:
    """``value`` (a record, a list of them, a dict) as plain JSON types."""
    return json.loads(to_json(value))


def to_json(value: Any, *, indent: int | None = 2) -> str:
    """One JSON document for ``value``; recorded step outputs and errors as JSON, not text."""
    return json.dumps(_plain(value), indent=indent, default=_fallback, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, OperationRecord):
        d = value.to_dict()
        for key in ("output", "error"):  # stored JSON text: emit it as JSON, not as a string
            if d[key] is not None:
                try:
                    d[key] = json.loads(d[key])
                except ValueError:
                    pass
        return d
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):  # records of every layer
        return to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _fallback(value: Any) -> Any:
    """Values JSON lacks (decoded from storage) as their plainest readable form."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, BaseException):
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        return {"type": kind, "message": str(value)}
    return repr(value)
