"""A two-version service on the in-memory platform: v1 serving, v2 deployed at 0 %."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tether.rollout.memory import MemoryPlatform

import tether
from tether import Tether

FAST_DRAIN = {"drain_interval": 0.1}


def agent_app(make_app: Callable[..., Tether], version: str, **options: Any) -> Tether:
    """An app whose ``work`` workflow fails when asked, and whose ``waiter`` waits for a
    message after passing a patch gate (so it carries its version's marker)."""
    app = make_app(version=version, **options)

    @app.step()
    def act(x: int, fail: bool) -> int:
        if fail:
            raise RuntimeError(f"{version} cannot handle {x}")
        return x * 2

    @app.workflow(name="work")
    def work(x: int, fail: bool = False) -> int:
        return int(act(x, fail))

    @app.workflow(name="waiter")
    def waiter() -> str:
        tether.patch(f"path-{version}")
        return f"{tether.recv('go')} on {version}"

    return app.launch()


@dataclass
class Service:
    v1: Tether
    v2: Tether
    platform: MemoryPlatform


def service(make_app: Callable[..., Tether], **v2_options: Any) -> Service:
    v1 = agent_app(make_app, "v1")
    v2 = agent_app(make_app, "v2", **v2_options)
    v1.set_current_version("v1")
    platform = MemoryPlatform("svc")
    platform.deploy("svc-1", version="v1", percent=100)
    platform.deploy("svc-2", version="v2", tag="canary")
    return Service(v1, v2, platform)
