"""A two-version service, v1 serving and v2 deployed at 0 % tagged ``canary``, on either
platform the controller is tested against: the in-memory one, or the Cloud Run adapter with
the real client talking to the Admin API stand-in. ``Service.faults`` injects the same faults
into both, so one scenario (``rollout_scenarios``) runs on each."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tether.rollout.memory import MemoryPlatform
from tether.rollout.platform import Platform

import tether
from tether import Tether

FAST_DRAIN = {"drain_interval": 0.1}
OLD, NEW = "svc-1", "svc-2"
#: Cloud Run adapter timings for tests: retries and polls in milliseconds, not seconds.
FAST_CLOUD = {"retry_delay": 0.01, "poll_interval": 0.01, "operation_timeout": 5.0}


def agent_app(
    make_app: Callable[..., Tether],
    version: str,
    register: Callable[[Tether], None] | None = None,
    **options: Any,
) -> Tether:
    """An app whose ``work`` workflow fails when asked, and whose ``waiter`` waits for a
    message after passing a patch gate (so it carries its version's marker); ``register``
    adds more workflows before it launches."""
    app = make_app(version=version, **options)
    if register is not None:
        register(app)

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


class Faults(Protocol):
    """What a scenario does to the platform behind the controller's back, and reads of it."""

    def deny(self, permission: str | None) -> None:
        """Refuse traffic changes for lack of ``permission`` (None: allow again)."""

    def fail_wake(self, revision: str, failing: bool = True) -> None: ...

    def set_ready(self, revision: str, ready: bool = True) -> None: ...

    def wakes(self, revision: str) -> int: ...

    def shifts(self) -> list[dict[str, int]]:
        """Every traffic split written, as ``{revision: percent}`` above 0, in order."""


class MemoryFaults:
    def __init__(self, platform: MemoryPlatform) -> None:
        self.platform = platform

    def deny(self, permission: str | None) -> None:
        self.platform.deny(permission)

    def fail_wake(self, revision: str, failing: bool = True) -> None:
        self.platform.fail_wake(revision, failing)

    def set_ready(self, revision: str, ready: bool = True) -> None:
        self.platform.set_ready(revision, ready)

    def wakes(self, revision: str) -> int:
        return self.platform.wakes(revision)

    def shifts(self) -> list[dict[str, int]]:
        return changes(c["split"] for c in self.platform.calls if c["call"] == "set_traffic")


def changes(splits: Iterable[Mapping[str, int]]) -> list[dict[str, int]]:
    """The splits that moved traffic, each as ``{revision: percent}`` above 0."""
    out: list[dict[str, int]] = []
    for split in splits:
        moved = {k: int(v) for k, v in split.items() if int(v)}
        if not out or out[-1] != moved:
            out.append(moved)
    return out


@dataclass
class Service:
    v1: Tether
    v2: Tether
    platform: Platform
    faults: Faults


def service(make_app: Callable[..., Tether], **v2_options: Any) -> Service:
    """The service on a ``MemoryPlatform``."""
    v1, v2 = _apps(make_app, **v2_options)
    platform = MemoryPlatform("svc")
    platform.deploy(OLD, version="v1", percent=100)
    platform.deploy(NEW, version="v2", tag="canary")
    return Service(v1, v2, platform, MemoryFaults(platform))


def _apps(make_app: Callable[..., Tether], **v2_options: Any) -> tuple[Tether, Tether]:
    v1 = agent_app(make_app, "v1")
    v2 = agent_app(make_app, "v2", **v2_options)
    v1.set_current_version("v1")
    return v1, v2


def cloud_service(make_app: Callable[..., Tether], fake: Any, **platform: Any) -> Service:
    """The service on the Cloud Run stand-in (``fake``: a started ``FakeCloudRun``), reached
    through ``CloudRunPlatform`` with the real client; tag URLs reach the stand-in's wake."""
    from tether.rollout.cloudrun import CloudRunPlatform

    from .cloud_faults import CloudFaults

    v1, v2 = _apps(make_app)
    fake.serve_tag_urls()
    fake.state.create_service("svc", OLD)
    fake.state.deploy("svc", NEW, tag="canary")
    fake.state.clear_log()
    cloud = CloudRunPlatform(
        project=fake.project,
        region=fake.region,
        service="svc",
        endpoint=fake.endpoint,
        version_of={OLD: "v1", NEW: "v2"}.get,
        **(FAST_CLOUD | platform),
    )
    return Service(v1, v2, cloud, CloudFaults(fake.state, "svc"))
