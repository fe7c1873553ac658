"""Version resolution: explicit > TETHER_APP_VERSION > K_REVISION > hash of workflow sources."""

from __future__ import annotations

import pytest
from tether.runtime.errors import ConfigurationError
from tether.versioning.identity import resolve_version, source_hash

SOURCES = ["def a(): pass", "def b(): pass"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TETHER_APP_VERSION", raising=False)
    monkeypatch.delenv("K_REVISION", raising=False)


def test_explicit_beats_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_APP_VERSION", "env-v")
    monkeypatch.setenv("K_REVISION", "svc-00002-abc")
    assert resolve_version("v7", "app", SOURCES) == ("v7", "argument")


def test_tether_app_version_beats_k_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_APP_VERSION", "env-v")
    monkeypatch.setenv("K_REVISION", "svc-00002-abc")
    assert resolve_version(None, "app", SOURCES) == ("env-v", "TETHER_APP_VERSION")


def test_k_revision_beats_source_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_APP_VERSION", "")
    monkeypatch.setenv("K_REVISION", "svc-00002-abc")
    assert resolve_version(None, "app", SOURCES) == ("svc-00002-abc", "K_REVISION")


def test_source_hash_follows_the_code() -> None:
    version, source = resolve_version(None, "app", SOURCES)
    assert source == "source hash"
    assert version == source_hash("app", reversed(SOURCES))  # order does not matter
    assert version.startswith("src-")
    assert version != resolve_version(None, "app", [*SOURCES, "def c(): pass"])[0]
    assert version != resolve_version(None, "other-app", SOURCES)[0]


def test_invalid_version_from_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_APP_VERSION", "no spaces allowed")
    with pytest.raises(ConfigurationError, match="invalid version 'no spaces allowed'"):
        resolve_version(None, "app", SOURCES)
