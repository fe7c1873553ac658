"""Opening an app to administer: from its name and database, or from the module defining it.

Commands work on the database alone: an app opened here is never launched, so inspecting or
administering a fleet never registers an executor or runs a workflow in the calling process.
The schema is checked here, once, when the app is opened, not by every command.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from tether.runtime.errors import ConfigurationError, SchemaError
from tether.runtime.store import normalize_url, redact

from ..app import Tether
from ..config import DEFAULT_DATABASE_URL


def open_app(
    *, app_name: str | None = None, database_url: str | None = None, check_schema: bool = True
) -> Tether:
    """A ``Tether`` for administration: no signal handlers, never launched here.

    ``check_schema`` fails with the "run `tether migrate`" explanation rather than a
    missing-table error later; only commands that report on the schema itself skip it.
    """
    if not (app_name or os.environ.get("TETHER_APP_NAME")):
        raise ConfigurationError("no app name: pass --app NAME or set TETHER_APP_NAME")
    url = database_url or os.environ.get("TETHER_DATABASE_URL") or DEFAULT_DATABASE_URL
    if check_schema:
        refuse_missing_file(url)
    app = Tether(
        app_name=app_name,
        database_url=database_url,
        install_signal_handlers=False,
        migrate=False,
    )
    if check_schema:
        app.store.check_schema()
    return app


def load_app(
    spec: str | None,
    *,
    purpose: str,
    app_name: str | None = None,
    database_url: str | None = None,
    check_schema: bool = True,
    app_dir: str | None = None,
) -> Tether:
    """The ``Tether`` app that module ``package.module[:attribute]`` defines (not launched).

    Replays, migrations and patch reports run workflow code, which only the module has;
    ``purpose`` says why in the error when no module is given ("replay runs your workflow
    code"). ``app_name`` and ``database_url``, when given, must match the app's own.
    ``app_dir`` (default: the working directory) goes first on the import path.
    """
    if not spec:
        raise ConfigurationError(
            f"{purpose}: pass --module your.module:app (or set TETHER_APP_MODULE)"
        )
    app = import_app(spec, app_dir=app_dir)
    if app_name and app_name != app.app_name:
        raise ConfigurationError(f"{spec} is app {app.app_name!r}, but --app says {app_name!r}")
    if database_url and normalize_url(database_url) != normalize_url(app.settings.database_url):
        raise ConfigurationError(f"{spec} uses another database than --database-url")
    if check_schema:
        refuse_missing_file(app.settings.database_url)
        app.store.check_schema()
    return app


def import_app(spec: str, *, app_dir: str | None = None) -> Tether:
    """The ``Tether`` that ``package.module[:attribute]`` names (or the module's only one)."""
    module_name, _, attr = spec.partition(":")
    path = str(Path(app_dir).resolve()) if app_dir else os.getcwd()
    if path not in sys.path:
        sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"cannot import {module_name!r} ({exc}); run from the directory that contains it "
            "or pass --app-dir"
        ) from None
    if not attr:
        found = [v for v in vars(module).values() if isinstance(v, Tether)]
        if len(found) != 1:
            raise ConfigurationError(
                f"module {module_name!r} defines {len(found)} Tether apps: name one as "
                f"{module_name}:attribute"
            )
        return found[0]
    obj: object = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigurationError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not isinstance(obj, Tether):
        raise ConfigurationError(f"{spec} is a {type(obj).__name__}, not a tether.Tether app")
    return obj


def refuse_missing_file(url: str) -> None:
    """Refuse a SQLite URL whose file does not exist: connecting would create an empty file,
    and a command that reads must not leave one behind (nor report an empty app)."""
    if sqlite_file_missing(url):
        raise SchemaError(
            f"no database at {redact(url)}: pass --database-url (or set TETHER_DATABASE_URL) "
            "to your app's database, or create one with `tether migrate` (or by launching "
            "the app)"
        )


def sqlite_file_missing(url: str) -> bool:
    """A SQLite URL whose file does not exist (connecting to it would create it)."""
    if not normalize_url(url).startswith("sqlite"):
        return False
    path = make_url(normalize_url(url)).database
    return path is not None and path not in ("", ":memory:") and not Path(path).exists()


def known_apps(app: Tether) -> list[str]:
    """Apps with a registered version in this database (for "unknown app" errors)."""
    return app.store.versions.apps()


def check_known_app(app: Tether) -> None:
    """Refuse an app no executor ever registered in this database: a typo in --app must
    not read as an empty app."""
    apps = known_apps(app)
    if app.app_name not in apps:
        listed = ", ".join(apps) or "none yet (no executor has launched on it)"
        raise ConfigurationError(
            f"unknown app {app.app_name!r} in {redact(app.settings.database_url)}: known apps "
            f"are {listed}; pass --app NAME (or set TETHER_APP_NAME)"
        )


def first_line(text: str) -> str:
    """The first non-empty line: database drivers put SQL and links on the following ones."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text.strip()
