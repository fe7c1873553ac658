"""Settings are validated once, at construction, with messages that say what to change."""

from __future__ import annotations

from typing import Any

import pytest
from tether.runtime.errors import ConfigurationError
from tether.runtime.store import normalize_url

from tether import Tether
from tether.config import DEFAULT_DATABASE_URL, Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TETHER_APP_NAME", "TETHER_DATABASE_URL", "TETHER_LEASE_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)


def resolve(**kwargs: Any) -> Settings:
    options: dict[str, Any] = {"app_name": "refunds", "database_url": None}
    options.update(kwargs)
    return Settings.resolve(**options)


def test_defaults() -> None:
    s = resolve()
    assert s.database_url == DEFAULT_DATABASE_URL
    assert s.lease_timeout == 10.0
    assert s.effective_heartbeat == 2.5


def test_environment_fills_what_is_not_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_APP_NAME", "from-env")
    monkeypatch.setenv("TETHER_DATABASE_URL", "sqlite:///env.db")
    monkeypatch.setenv("TETHER_LEASE_TIMEOUT", "4.5")
    s = resolve(app_name=None)
    assert (s.app_name, s.database_url, s.lease_timeout) == ("from-env", "sqlite:///env.db", 4.5)
    assert resolve(app_name="explicit", lease_timeout=3.0).lease_timeout == 3.0


@pytest.mark.parametrize("name", [None, "", "has space", "-leading", "x" * 129])
def test_missing_or_invalid_app_name(name: str | None) -> None:
    with pytest.raises(ConfigurationError, match="TETHER_APP_NAME"):
        resolve(app_name=name)


def test_lease_timeout_env_must_be_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_LEASE_TIMEOUT", "ten")
    with pytest.raises(ConfigurationError, match="TETHER_LEASE_TIMEOUT='ten'"):
        resolve()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"lease_timeout": 0}, r"lease_timeout \(0\) must be a finite"),
        ({"lease_timeout": float("nan")}, r"lease_timeout \(nan\)"),
        ({"lease_timeout": float("inf")}, r"lease_timeout \(inf\)"),
        ({"lease_timeout": 1e-6}, "at least 0.5"),
        ({"shutdown_grace": float("inf")}, "must be finite"),
        ({"lease_timeout": 2.0, "heartbeat_interval": 2.0}, "shorter than lease_timeout"),
        ({"heartbeat_interval": 0}, "heartbeat_interval"),
        ({"max_workflows": 0}, "max_workflows"),
        ({"shutdown_grace": -1}, "shutdown_grace"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"recovery_interval": -1}, "recovery_interval"),
    ],
)
def test_invalid_settings(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        resolve(**overrides)


@pytest.mark.parametrize("kwargs", [{"version": "bad version"}, {"compatible_with": ["ok", "/"]}])
def test_invalid_versions_refused_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="invalid version"):
        Tether(app_name="a", database_url="sqlite:///:memory:", **kwargs)


def test_wildcard_compatibility_is_accepted() -> None:
    app = Tether(app_name="a", database_url="sqlite:///:memory:", compatible_with=["*", "v1"])
    assert app.settings.compatible_with == ("*", "v1")


def test_database_urls() -> None:
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ConfigurationError, match="unsupported database URL 'mysql'"):
        normalize_url("mysql://u@h/db")
