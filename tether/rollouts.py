"""``app.rollouts``: start, watch and steer rollouts, and schedule the autoscaler.

    h = app.rollouts.start(platform, "agent-00002-def", steps=[10, 50, 100], bake="5m",
                           gates={"max_failure_rate": 0.02}, approve_at=[100])
    h.wait(3600)            # RolloutOutcome("promoted" | "rolled_back" | "paused", reason)
    h.approve(); h.pause(); h.resume(); h.promote(); h.abort()

The controller is a durable workflow of this app (``tether.rollout``). Started from a
launched app it runs on that app's version; started without one (the CLI) it is left for a
live executor of the current version. A controller whose executor dies resumes on another
executor of its version from its last completed step. Once promoted or rolled back, it hands
the drain of the old side to ``tether.rollout.drain`` on the version now current.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.rollout import autoscaler, controller, orphans
from tether.rollout.actions import CONTROLLER, Actions, drain_id
from tether.rollout.autoscale import ScalePolicy
from tether.rollout.errors import RolloutConflictError, RolloutError, RolloutNotFoundError
from tether.rollout.plan import Gates, Plan, load_plan_file, make_plan
from tether.rollout.platform import Platform
from tether.rollout.platforms import make_platform, platform_spec
from tether.runtime.engine import encode_inputs
from tether.runtime.errors import ConfigurationError
from tether.runtime.records import Status
from tether.runtime.store.rollouts import EventRow, RolloutRow, RolloutStore
from tether.versioning.replay import running_version

if TYPE_CHECKING:
    from .app import Tether

ACTIVE = ("running", "paused")
OUTCOMES = ("promoted", "rolled_back", "paused", "failed", "refused")


@dataclass(frozen=True)
class RolloutOutcome:
    outcome: str  # promoted | rolled_back | paused | failed | refused
    reason: str | None


@dataclass(frozen=True)
class RolloutStatus:
    """A rollout as the database shows it, with its decisions so far."""

    rollout_id: str
    service: str
    baseline: str | None
    candidate: str
    state: str
    stage: int
    percent: int
    reason: str | None
    steps: tuple[int, ...]
    controller_status: str | None  # the controller workflow's status
    drain_status: str | None  # the status of the workflow draining the old side, once handed
    events: tuple[EventRow, ...]
    created_at: int
    updated_at: int
    #: The replay check's verdict on the baseline's open workflows: they drain on the
    #: baseline's revision unless the candidate declares ``compatible_with`` (None: not yet).
    replay: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["events"] = [asdict(e) for e in self.events]
        return d


class RolloutHandle:
    """One rollout: its status, a wait for its outcome, and the controls."""

    def __init__(self, rollouts: Rollouts, rollout_id: str) -> None:
        self._rollouts = rollouts
        self.rollout_id = rollout_id

    def __repr__(self) -> str:
        return f"RolloutHandle({self.rollout_id!r})"

    def status(self) -> RolloutStatus:
        return self._rollouts.get(self.rollout_id)

    def wait(self, timeout: float | None = None, *, poll: float = 0.1) -> RolloutOutcome:
        """Block until the rollout is promoted, rolled back, paused, failed or refused."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            s = self.status()
            if s.state in OUTCOMES:
                return RolloutOutcome(s.state, s.reason)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"rollout {self.rollout_id!r} is still {s.state} at {s.percent}% after "
                    f"{timeout}s (see `tether rollout status {self.rollout_id}`)"
                )
            time.sleep(poll)

    def pause(self, by: str | None = None) -> None:
        self._rollouts.control(self.rollout_id, "pause", by)

    def resume(self, by: str | None = None) -> None:
        self._rollouts.control(self.rollout_id, "resume", by)

    def approve(self, by: str | None = None) -> None:
        self._rollouts.control(self.rollout_id, "approve", by)

    def promote(self, by: str | None = None) -> None:
        self._rollouts.control(self.rollout_id, "promote", by)

    def abort(self, by: str | None = None) -> None:
        self._rollouts.control(self.rollout_id, "abort", by)


class Rollouts:
    """The rollout manager of one app (``app.rollouts``)."""

    def __init__(self, app: Tether) -> None:
        self._app = app
        self._actions = Actions(
            lambda: app.store,
            lease_timeout_ms=lambda: app.settings.lease_timeout_ms,
            code_version=lambda: running_version(app),
            replay_many=self._replay_many,
        )
        self._controller = controller.register(app.registry, self._actions)

    def _replay_many(self, version: str, sample: int) -> builtins.list[Any]:
        from tether.versioning.replay import Replayer

        rows = [
            r
            for r in Replayer(self._app).select(version=version, status=list(Status.OPEN))
            if not r.name.startswith("tether.")
        ][:sample]
        return Replayer(self._app).replay_many([r.workflow_id for r in rows])

    @property
    def _store(self) -> RolloutStore:
        return RolloutStore(self._app.store.db, self._app.app_name)

    # -- starting -----------------------------------------------------------------------------

    def start(
        self,
        platform: Platform,
        candidate: str,
        *,
        steps: Sequence[int] = (10, 50, 100),
        bake: float | str | Sequence[float | str] = 300.0,
        gates: Gates | Mapping[str, Any] | None = None,
        approve_at: Sequence[int] = (),
        rollout_id: str | None = None,
        drain_interval: float = 30.0,
        delete_retired: bool = False,
        replay_sample: int = 20,
    ) -> RolloutHandle:
        """Start (or, with the same id, return) a rollout of ``candidate`` on ``platform``."""
        plan = make_plan(candidate, steps=steps, bake=bake, gates=gates, approve_at=approve_at)
        return self.start_plan(
            platform,
            plan,
            rollout_id=rollout_id,
            drain_interval=drain_interval,
            delete_retired=delete_retired,
            replay_sample=replay_sample,
        )

    def start_file(
        self,
        path: str | Path,
        platform: Platform | None = None,
        *,
        candidate: str | None = None,
        steps: Sequence[int] | None = None,
        bake: float | str | Sequence[float | str] | None = None,
        gates: Gates | Mapping[str, Any] | None = None,
        approve_at: Sequence[int] | None = None,
        **options: Any,
    ) -> RolloutHandle:
        """Start from a TOML plan (arguments given here replace the file's); its
        ``[platform]`` table is used when no platform is given."""
        plan, platform_table = load_plan_file(
            path, candidate=candidate, steps=steps, bake=bake, gates=gates, approve_at=approve_at
        )
        if platform is None:
            if not platform_table:
                raise ConfigurationError(f"{str(path)!r} has no [platform] table: pass a platform")
            table = dict(platform_table)
            platform = make_platform(str(table.pop("kind", "cloudrun")), **table)
        return self.start_plan(platform, plan, **options)

    def start_plan(
        self,
        platform: Platform,
        plan: Plan,
        *,
        rollout_id: str | None = None,
        drain_interval: float = 30.0,
        delete_retired: bool = False,
        replay_sample: int = 20,
    ) -> RolloutHandle:
        app = self._app
        app.store.check_schema()
        spec = platform_spec(platform)
        service = str(spec.get("service") or platform.describe().name)
        rid = rollout_id or f"rollout-{service}-{plan.candidate}"
        store = self._store
        holder = store.holder(service)
        if holder is not None and holder != rid:
            held = store.get(holder)
            if held is not None and held.state in ACTIVE:
                raise RolloutConflictError(
                    f"rollout {holder!r} of {service!r} is {held.state} (at {held.percent}%): "
                    f"finish it first (`tether rollout promote|abort {holder}`)"
                )
        existing = store.get(rid)
        if existing is not None and existing.candidate != plan.candidate:
            raise RolloutConflictError(
                f"rollout id {rid!r} already names a rollout of {existing.candidate!r}"
            )
        options = {
            "drain_interval": float(drain_interval),
            "delete_retired": bool(delete_retired),
            "replay_sample": int(replay_sample),
        }
        plan_data = plan.to_dict()
        store.create(rid, service=service, candidate=plan.candidate, plan=plan_data, platform=spec)
        args = (rid, service, plan_data, spec, options)
        if app._engine is not None:
            app.start_workflow(CONTROLLER, *args, workflow_id=rid)
        else:
            self._submit(rid, args)
        return RolloutHandle(self, rid)

    def _submit(self, rid: str, args: tuple[Any, ...]) -> None:
        """Leave the controller for a live executor of the current version to claim."""
        store = self._app.store
        version = store.versions.routing().current
        if version is None:
            raise RolloutError(
                "the app has no current version yet: launch an executor of it before a rollout"
            )
        inputs_json = encode_inputs(rid, CONTROLLER, args, {})
        store.db.writing(  # insert-if-absent: repeatable
            lambda conn: store.workflows.insert(
                conn,
                workflow_id=rid,
                name=CONTROLLER,
                inputs_json=inputs_json,
                version=version,
                status=Status.PENDING,
                executor_id=None,
            ),
            what="submit the rollout controller",
        )

    # -- watching and steering ----------------------------------------------------------------

    def handle(self, rollout_id: str) -> RolloutHandle:
        self.get(rollout_id)
        return RolloutHandle(self, rollout_id)

    def get(self, rollout_id: str) -> RolloutStatus:
        row = self._store.get(rollout_id)
        if row is None:
            raise RolloutNotFoundError(
                f"no rollout {rollout_id!r} in app {self._app.app_name!r}; "
                "list them with `tether rollout status`"
            )
        return self._status(row)

    def list(self, *, service: str | None = None, limit: int = 50) -> list[RolloutStatus]:
        return [
            self._status(r, events=False) for r in self._store.list(service=service, limit=limit)
        ]

    def _status(self, row: RolloutRow, *, events: bool = True) -> RolloutStatus:
        wf = self._app.store.workflows.get(row.rollout_id)
        drainer = self._app.store.workflows.get(drain_id(row.rollout_id))
        log = tuple(self._store.events(row.rollout_id)) if events else ()
        replay = next((e.detail.get("reason") for e in log if e.kind == "replay"), None)
        return RolloutStatus(
            rollout_id=row.rollout_id,
            service=row.service,
            baseline=row.baseline,
            candidate=row.candidate,
            state=row.state,
            stage=row.stage,
            percent=row.percent,
            reason=row.reason,
            steps=tuple(int(s["percent"]) for s in row.plan.get("stages", [])),
            controller_status=wf.status if wf is not None else None,
            drain_status=drainer.status if drainer is not None else None,
            events=log,
            created_at=row.created_at,
            updated_at=row.updated_at,
            replay=replay,
        )

    def control(self, rollout_id: str, action: str, by: str | None = None) -> None:
        """Send pause / resume / approve / promote / abort to a rollout's controller."""
        if action not in controller.ACTIONS:
            raise ConfigurationError(
                f"unknown rollout action {action!r}: use one of {', '.join(controller.ACTIONS)}"
            )
        status = self.get(rollout_id)
        if status.state not in ACTIVE:
            raise RolloutError(
                f"rollout {rollout_id!r} is {status.state}: {action} applies only to a running "
                "or paused rollout"
            )
        self._app.send(rollout_id, {"action": action, "by": by or "api"}, controller.CONTROL)

    def pause(self, rollout_id: str, by: str | None = None) -> None:
        self.control(rollout_id, "pause", by)

    def resume(self, rollout_id: str, by: str | None = None) -> None:
        self.control(rollout_id, "resume", by)

    def approve(self, rollout_id: str, by: str | None = None) -> None:
        self.control(rollout_id, "approve", by)

    def promote(self, rollout_id: str, by: str | None = None) -> None:
        self.control(rollout_id, "promote", by)

    def abort(self, rollout_id: str, by: str | None = None) -> None:
        self.control(rollout_id, "abort", by)

    # -- scheduled checks: autoscaling, orphans ---------------------------------------------

    def _step(self, fn: Any, name: str) -> Any:
        """A step of a scheduled check: a platform call retried on I/O errors."""
        return self._app.registry.add_step(
            fn,
            name=name,
            retries=2,
            backoff=2.0,
            interval=1.0,
            max_interval=10.0,
            retry_on=(OSError, ConnectionError, TimeoutError),
        )

    def autoscale(
        self,
        platform: Platform,
        policy: ScalePolicy | None = None,
        *,
        cron: str = "* * * * *",
        queues: Sequence[str] = (),
        window: float = 60.0,
    ) -> str:
        """Schedule the autoscaler for ``platform``'s service (before ``launch()``); returns
        the schedule's name. Every change of min/max instances is recorded with its reason."""
        spec = platform_spec(platform)
        app = self._app
        name, fn = autoscaler.workflow_for(
            lambda: app.store, spec, policy or ScalePolicy(), queues, window, self._step
        )
        app.scheduled(cron, name=name)(app.workflow(name=name)(fn))
        return name

    def watch_orphans(self, platform: Platform, *, cron: str = "* * * * *") -> str:
        """Schedule the orphan check for ``platform``'s service (before ``launch()``): open
        work that no live executor can run wakes a revision of its version; each wake, and
        each failure to wake, is recorded (``orphan_log``). Returns the schedule's name."""
        app = self._app
        name, fn = orphans.workflow_for(
            lambda: app.store,
            platform_spec(platform),
            lambda: app.settings.lease_timeout_ms,
            self._step,
        )
        app.scheduled(cron, name=name)(app.workflow(name=name)(fn))
        return name

    def orphan_log(self, service: str) -> builtins.list[EventRow]:
        return self._store.events(orphans.log_id(service))

    def scale_once(
        self,
        platform: Platform,
        policy: ScalePolicy | None = None,
        *,
        queues: Sequence[str] = (),
        window: float = 60.0,
    ) -> dict[str, Any]:
        """One autoscaler decision now, outside any schedule (applied and recorded)."""
        return autoscaler.scale_once(
            self._app.store,
            platform_spec(platform),
            policy or ScalePolicy(),
            queues=queues,
            window=window,
        )

    def scaling_log(self, service: str) -> builtins.list[EventRow]:
        return self._store.events(autoscaler.log_id(service))
