"""Workflow ids: checked once, up front, the same on every backend.

The database would otherwise decide: SQLite stores 300 characters or a NUL byte, Postgres
raises a raw ``DataError`` quoting its SQL, an empty string became a random id and an int
was stored as text. An id is refused before anything is written.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigurationError

MAX_ID_LENGTH = 255  # the workflow_id column is VARCHAR(255) on Postgres


def check_workflow_id(value: Any, what: str = "workflow id") -> str:
    """``value`` if it is a usable workflow id; otherwise a ConfigurationError saying why."""
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{what} must be a str, not {type(value).__name__} ({value!r}); "
            "pass str(...) if you meant it"
        )
    if value == "":
        raise ConfigurationError(
            f"{what} is empty: pass a non-empty id, or None to get a generated one"
        )
    if len(value) > MAX_ID_LENGTH:
        raise ConfigurationError(
            f"{what} is {len(value)} characters long; at most {MAX_ID_LENGTH} are allowed "
            f"(it starts {value[:40]!r})"
        )
    if "\x00" in value:
        raise ConfigurationError(
            f"{what} {value!r} contains a NUL character, which no backend stores"
        )
    return value
