"""Real ``tether serve`` processes running ``tests.serve.svc:app`` on the test's database."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tether.rollout.processes import Child, Processes, free_port

ROOT = Path(__file__).resolve().parents[2]
TARGET = "tests.serve.svc:app"


class Services:
    """Spawns ``tether serve`` instances; reads the effects file their steps append to."""

    def __init__(self, database_url: str, app_name: str, tmp_path: Path) -> None:
        self.database_url = database_url
        self.app_name = app_name
        self.effects_path = tmp_path / "effects.jsonl"
        self.gate = tmp_path / "gate"
        self.procs = Processes(tmp_path / "logs")

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "TETHER_DATABASE_URL": self.database_url,
            "TETHER_APP_NAME": self.app_name,
            "SVC_EFFECTS": str(self.effects_path),
            "SVC_GATE": str(self.gate),
            **extra,
        }

    def serve(self, name: str, **env: str) -> tuple[Child, str]:
        """Start one instance and wait until its /healthz answers 200; (child, base URL)."""
        port = free_port()
        argv = ["serve", TARGET, "--host", "127.0.0.1", "--port", str(port), "--app-dir", str(ROOT)]
        child = self.procs.tether(name, argv, env=self.env(TETHER_EXECUTOR_ID=name, **env))
        url = f"http://127.0.0.1:{port}"
        child.wait_url(url + "/healthz", timeout=30)
        return child, url

    def effects(self, event: str | None = None, **match: Any) -> list[dict[str, Any]]:
        if not self.effects_path.exists():
            return []
        lines = [json.loads(x) for x in self.effects_path.read_text().splitlines() if x]
        return [
            e
            for e in lines
            if (event is None or e["event"] == event)
            and all(e.get(k) == v for k, v in match.items())
        ]


@pytest.fixture
def services(database_url: str, app_name: str, tmp_path: Path) -> Iterator[Services]:
    s = Services(database_url, app_name, tmp_path)
    try:
        yield s
    finally:
        s.procs.close()


def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """(status, decoded JSON body) of one HTTP request; error statuses are returned too."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")
