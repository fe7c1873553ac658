"""What ``tether rollout`` and ``tether revisions`` do, as plain functions over an app and a
platform, returning typed records; the CLI only parses options and renders these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tether.rollout import drain
from tether.rollout.actions import INTERNAL
from tether.rollout.platform import Platform
from tether.rollout.platforms import make_platform
from tether.runtime.errors import ConfigurationError
from tether.runtime.store.health import open_work

from ..app import Tether
from ..rollouts import ACTIVE
from ..rollouts import RolloutStatus as RolloutStatus


@dataclass(frozen=True)
class RevisionRow:
    """One platform revision beside what tether knows of it."""

    name: str
    version: str | None
    ready: bool
    percent: int
    tag: str | None
    tag_url: str | None
    open_work: int
    live_executors: int
    current: bool  # its version is where new work goes
    state: str  # serving, keep-warm, wake, retire, ... (what the drain would do)
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def platform_from_options(
    kind: str,
    *,
    project: str | None = None,
    region: str | None = None,
    service: str | None = None,
    endpoint: str | None = None,
    path: str | None = None,
    options: Sequence[str] = (),
) -> Platform:
    """A platform from CLI options; ``options`` are extra ``KEY=VALUE`` pairs (local)."""
    extra: dict[str, Any] = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigurationError(f"platform option {item!r} is not KEY=VALUE")
        extra[key.replace("-", "_")] = value
    if kind == "cloudrun":
        if not service:
            raise ConfigurationError("--platform cloudrun needs --service")
        return make_platform(
            kind, project=project, region=region, service=service, endpoint=endpoint, **extra
        )
    if kind == "memory":
        if not path:
            raise ConfigurationError("--platform memory needs --path FILE (its state is a file)")
        return make_platform(kind, service=service or "service", path=path, **extra)
    return make_platform(kind, service=service, **extra)


def start_rollout(
    app: Tether,
    platform: Platform | None,
    candidate: str | None = None,
    *,
    plan_file: str | Path | None = None,
    steps: Sequence[int] | None = None,
    bake: str | float | None = None,
    approve_at: Sequence[int] | None = None,
    gates: dict[str, Any] | None = None,
    rollout_id: str | None = None,
    drain_interval: float = 30.0,
    delete_retired: bool = False,
) -> RolloutStatus:
    app.store.check_schema()
    options: dict[str, Any] = {
        "rollout_id": rollout_id,
        "drain_interval": drain_interval,
        "delete_retired": delete_retired,
    }
    if plan_file is not None:
        handle = app.rollouts.start_file(
            plan_file,
            platform,
            candidate=candidate,
            steps=steps,
            bake=bake,
            gates=gates,
            approve_at=approve_at,
            **options,
        )
    else:
        if candidate is None or platform is None:
            raise ConfigurationError("a rollout needs a CANDIDATE revision and a --platform")
        handle = app.rollouts.start(
            platform,
            candidate,
            steps=(10, 50, 100) if steps is None else steps,
            bake=300.0 if bake is None else bake,
            approve_at=approve_at or (),
            gates=gates,
            **options,
        )
    return handle.status()


def rollout_status(app: Tether, rollout_id: str) -> RolloutStatus:
    app.store.check_schema()
    return app.rollouts.get(rollout_id)


def list_rollouts(
    app: Tether, *, service: str | None = None, limit: int = 20
) -> list[RolloutStatus]:
    app.store.check_schema()
    return app.rollouts.list(service=service, limit=limit)


def control_rollout(
    app: Tether, rollout_id: str, action: str, *, by: str | None = None
) -> RolloutStatus:
    """Send ``action`` to the rollout's controller; returns its status as it was sent."""
    app.store.check_schema()
    app.rollouts.control(rollout_id, action, by or "cli")
    return app.rollouts.get(rollout_id)


def revisions(app: Tether, platform: Platform) -> list[RevisionRow]:
    """Traffic, tags, versions, open work and drain state of every revision, side by side."""
    app.store.check_schema()
    state = platform.describe()
    store = app.store
    work = open_work(store.db, store.app_name, exclude=INTERNAL)
    live = app.executors()
    current = store.versions.routing().current
    protected = frozenset(
        name
        for r in app.rollouts.list(service=state.name)
        if r.state in ACTIVE
        for name in (r.baseline, r.candidate)
        if name
    )
    rows = []
    for rev in state.revisions:
        version = rev.version
        n_live = sum(
            1
            for e in live
            if version is not None
            and (version in e.runnable_versions or "*" in e.runnable_versions)
        )
        d = drain.retire_or_keep(
            drain.RevisionWork(
                rev.name, version, rev.percent, rev.tag, work.get(version or "", 0), n_live
            ),
            protected=protected,
            revision_count=len(state.revisions),
        )
        rows.append(
            RevisionRow(
                name=rev.name,
                version=version,
                ready=rev.ready,
                percent=rev.percent,
                tag=rev.tag,
                tag_url=rev.tag_url,
                open_work=work.get(version or "", 0),
                live_executors=n_live,
                current=version is not None and version == current,
                state=d.action,
                reason=d.reason,
            )
        )
    return rows
