"""The demo's story, start to end, on a ``LocalPlatform``:

v1 (two processes) serves a stream of refund agents through the router → v2 is deployed at
0 % with a tag → a replay of v1's open workflows on v2's code says whether v2 may run them →
the rollout controller (``app.rollouts``) shifts traffic and routing 10 → 50 → 100 % with
bakes and health gates → one v1 process is SIGKILLed mid-rollout and the other takes its
workflows over → the old side drains and is retired when its last workflow completes →
the report checks the three invariants against the database and the side-effect log.

With ``bad_release`` v2's new path fails; its gate catches it and the rollout rolls back,
while v2's started workflows finish on v2.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.rollout.local import LocalPlatform
from tether.runtime.records import Status

from ..app import Tether
from . import rows
from .driver import Driver
from .journal import Journal
from .replaycheck import ReplayVerdict, replay_open
from .report import Report, build_report

TARGET = "tether.demo.revision:app"
CONTROL_VERSION = "demo-control"
BASELINE, CANDIDATE = "v1", "v2"
STEPS = (10, 50, 100)
log = logging.getLogger("tether.demo")


@dataclass(frozen=True)
class Timings:
    rate: float  # requests a second
    latency: float  # the scripted model's thinking time per call
    warmup: float  # seconds v1 serves alone before v2 is deployed
    bake: tuple[float, ...]  # per rollout step
    approval_delay: float  # seconds before the human answers
    lease_timeout: float
    min_sample: int  # finished candidate workflows a gate needs
    drain_interval: float
    finish_within: float  # seconds, after the outcome, for every workflow to finish


NORMAL = Timings(
    rate=6.0,
    latency=0.4,
    warmup=6.0,
    bake=(10.0, 8.0, 6.0),
    approval_delay=3.0,
    lease_timeout=2.0,
    min_sample=3,
    drain_interval=1.0,
    finish_within=120.0,
)
FAST = Timings(
    rate=8.0,
    latency=0.1,
    warmup=1.0,
    bake=(2.5, 1.5, 1.0),
    approval_delay=0.8,
    lease_timeout=1.5,
    min_sample=1,
    drain_interval=0.3,
    finish_within=60.0,
)


@dataclass
class Options:
    database_url: str | None = None
    app_name: str | None = None  # default: a fresh one per run
    fast: bool = False
    bad_release: bool = False
    dir: Path | None = None


@dataclass
class State:
    """What the live view shows; refreshed by the scenario's loop."""

    mode: str
    app_name: str
    elapsed: float = 0.0
    phase: str = "starting"
    rollout: Any = None  # the controller's RolloutStatus, once started
    traffic: dict[str, int] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    instances: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    sent: int = 0
    retried: int = 0
    approvals: int = 0
    pending_approvals: int = 0
    killed: list[str] = field(default_factory=list)
    recovered: dict[str, str] = field(default_factory=dict)  # workflow → executor now
    replay: ReplayVerdict | None = None


def describe(status: Any) -> str:
    """One line for a rollout's state, as the journal shows it."""
    if status.state == "running":
        return f"v2 takes {status.percent}% of traffic and of new queued work; baking"
    reason = f": {status.reason}" if status.reason else ""
    return f"rollout {status.state.replace('_', ' ')} at {status.percent}%{reason}"


class Demo:
    """One run of the story; ``run()`` returns its report and stops every process it began."""

    def __init__(
        self,
        options: Options,
        *,
        journal: Journal,
        refresh: Callable[[State], None] = lambda s: None,
    ) -> None:
        self.options = options
        self.t = FAST if options.fast else NORMAL
        self.journal = journal
        self.refresh = refresh
        self.dir = Path(options.dir or tempfile.mkdtemp(prefix="tether-demo-")).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.effects = self.dir / "effects.jsonl"
        self.effects.unlink(missing_ok=True)
        self.database_url = options.database_url or f"sqlite:///{self.dir / 'tether.db'}"
        # A fresh app name per run: a reused database holds no rows of this run's app.
        self.app_name = options.app_name or f"refund-demo-{uuid.uuid4().hex[:6]}"
        self.candidate_release = "v2-bad" if options.bad_release else "v2"
        mode = "bad release" if options.bad_release else "release"
        self.state = State(mode=mode + (" (fast)" if options.fast else ""), app_name=self.app_name)
        self.control: Tether | None = None
        self.platform: LocalPlatform | None = None
        self.driver: Driver | None = None
        self._held: dict[str, str] = {}  # workflow → the killed executor that held it

    # -- the story ----------------------------------------------------------------------------

    def run(self) -> Report:
        try:
            return self._run()
        finally:
            self.close()

    def _run(self) -> Report:
        t = self.t
        control = self.control = Tether(
            app_name=self.app_name,
            database_url=self.database_url,
            version=CONTROL_VERSION,
            lease_timeout=t.lease_timeout,
            recovery_interval=0.2,
            poll_interval=0.1,
            install_signal_handlers=False,
        )
        control.store.migrate()
        platform = self.platform = LocalPlatform(
            database_url=self.database_url,
            app_name=self.app_name,
            workdir=self.dir / "platform",
            app_dir=self.dir,
        )
        self._phase("deploying v1")
        platform.deploy(BASELINE, TARGET, instances=2, env=self._env("v1"))
        self.journal.add("deploy", f"v1 deployed: 2 processes, 100% of traffic ({self.dir})")
        driver = self.driver = Driver(
            platform.router_url,
            lambda wid, msg, topic: control.send(wid, msg, topic),
            rate=t.rate,
            approval_delay=t.approval_delay,
        ).start()
        self.journal.add("traffic", f"{t.rate:g} refund requests a second through the router")
        control.launch()  # this process runs the rollout controller (app.rollouts)
        self._phase("v1 serving")
        self._idle(t.warmup)

        self._phase("deploying v2 at 0%")
        platform.deploy(CANDIDATE, TARGET, instances=2, env=self._env(self.candidate_release))
        state = platform.set_traffic({BASELINE: 100}, tags={CANDIDATE: CANDIDATE})
        url = state.revision(CANDIDATE).tag_url  # type: ignore[union-attr]
        note = " (its new path fails)" if self.options.bad_release else ""
        self.journal.add("deploy", f"v2 deployed at 0% with tag {CANDIDATE!r}: {url}{note}")

        self._phase("replaying v1's open workflows on v2")
        verdict = replay_open(
            app_name=self.app_name,
            database_url=self.database_url,
            release=self.candidate_release,
            baseline=BASELINE,
            candidate=CANDIDATE,
        )
        self.state.replay = verdict
        self.journal.add("replay", verdict.text)

        self._phase("rolling out v2")
        handle = control.rollouts.start(
            platform,
            CANDIDATE,
            steps=STEPS,
            bake=list(t.bake),
            gates={
                "max_failure_rate": 0.1,
                "max_parked": 0,
                "max_latency_ratio": None,
                "min_sample": t.min_sample,
                "max_wait": 30.0,
                "on_insufficient": "pass",
            },
            drain_interval=t.drain_interval,
        )
        self.journal.add("rollout", f"rollout {handle.rollout_id}: {' → '.join(map(str, STEPS))}%")
        outcome = self._follow(handle)
        driver.stop_stream()
        self.journal.add("traffic", f"request stream stopped after {len(driver.started)} agents")
        self._phase("draining: every workflow finishes on its own version")
        self._finish(handle)
        self._phase("checking the invariants")
        return build_report(
            control.store,
            self.effects,
            requested=list(driver.requested),
            outcome=outcome,
            killed=self.state.killed,
            taken_over=list(self.state.recovered),
            journal=self.journal,
            approvals=list(driver.approvals),
        )

    def _env(self, release: str) -> dict[str, str]:
        return {
            "TETHER_DEMO_RELEASE": release,
            "TETHER_DEMO_EFFECTS": str(self.effects),
            "TETHER_DEMO_LATENCY": str(self.t.latency),
            "TETHER_LEASE_TIMEOUT": str(self.t.lease_timeout),
        }

    def _follow(self, handle: Any) -> tuple[str, str | None]:
        """Watch the rollout to its outcome; kill a v1 process once traffic has moved."""
        last = None
        # Bakes, gates that wait for their sample (max_wait), and room for a loaded machine.
        deadline = time.monotonic() + sum(self.t.bake) + len(STEPS) * 30.0 + 120.0
        while True:
            if time.monotonic() > deadline:
                self.journal.add("rollout", "the rollout reached no outcome in time: aborted")
                handle.abort(by="tether demo")
                return "timed out", "the rollout reached no outcome in time"
            status = handle.status()
            self.state.rollout = status
            mark = (status.state, status.percent)
            if mark != last and (status.percent or status.state != "running"):
                last = mark
                self.journal.add("rollout", describe(status))
            if not self.state.killed and status.percent >= STEPS[0]:
                self._kill()
            if status.state in ("promoted", "rolled_back", "failed", "refused"):
                if not self.state.killed:
                    self._kill()
                return status.state, status.reason
            self._tick()

    def _kill(self) -> None:
        """SIGKILL v1's first process once it is in the middle of an agent's steps."""
        assert self.platform is not None and self.control is not None
        running = self.control.list_workflows(status=Status.PENDING, version=BASELINE, limit=1000)
        first = self.platform.instances(BASELINE)[0]["executor_id"]
        held = [w.workflow_id for w in running if w.executor_id == first]
        done = {e["wid"] for e in rows.effect_lines(self.effects) if e["executor"] == first}
        if not set(held) & done:
            return  # wait until the process we kill is in the middle of an agent's steps
        [victim] = self.platform.kill(BASELINE, signal="KILL")
        self._held = {w: victim for w in held}
        self.state.killed.append(victim)
        self.journal.add(
            "kill",
            f"SIGKILL {victim} (v1) while it ran {len(held)} workflow(s): "
            f"{', '.join(sorted(held)[:4])}{' …' if len(held) > 4 else ''}",
        )

    def _finish(self, handle: Any) -> None:
        """Wait until the controller has drained and retired the old side and every agent
        workflow has finished; the human keeps answering meanwhile."""
        deadline = time.monotonic() + self.t.finish_within
        while time.monotonic() < deadline:
            status = handle.status()
            self.state.rollout = status
            counts = self.state.counts
            open_ = sum(n for (_, s), n in counts.items() if s in Status.OPEN)
            # Done when the agents are, and the old side's drain (handed off by the
            # controller when it has one) has retired it: the report shows that retirement.
            drained = status.drain_status is None or status.drain_status in Status.TERMINAL
            if (
                status.controller_status in Status.TERMINAL
                and drained
                and open_ == 0
                and self._held == {}
            ):
                return
            self._tick()
        self.journal.add("drain", f"gave up waiting after {self.t.finish_within:g}s")

    # -- the loop -----------------------------------------------------------------------------

    def _idle(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self._tick()

    def _tick(self) -> None:
        self._observe()
        self.refresh(self.state)
        time.sleep(0.2)

    def _phase(self, text: str) -> None:
        self.state.phase = text
        self._observe()
        self.refresh(self.state)

    def _observe(self) -> None:
        s = self.state
        s.elapsed = self.journal.elapsed
        if self.platform is not None:
            state = self.platform.describe()
            s.traffic, s.tags = state.traffic, state.tags
            before = {r: bool(i) for r, i in s.instances.items()}
            s.instances = {r.name: self.platform.instances(r.name) for r in state.revisions}
            for name, had in before.items():
                if had and not s.instances.get(name) and not s.traffic.get(name):
                    self._retired(name)
        if self.control is not None:
            s.counts = rows.counts(self.control.store)
            self._recoveries()
        if self.driver is not None:
            s.sent = len(self.driver.started)
            s.retried = self.driver.retried
            s.approvals = len(self.driver.approvals)
            s.pending_approvals = self.driver.pending_approvals

    def _retired(self, revision: str) -> None:
        text = f"{revision} retired by the rollout's drain"
        if self.control is not None:
            last = rows.last_finished(self.control.store, revision)
            if last is not None:
                at = self.journal.since_start(last[1])
                text += f", after its last workflow ({last[0]}) finished at {at:.1f}s"
        self.journal.add("drain", text)

    def _recoveries(self) -> None:
        """Journal each workflow of the killed process as another process takes it over."""
        assert self.control is not None
        taken: dict[str, list[str]] = {}
        for wid, victim in list(self._held.items()):
            rec = self.control.store.workflows.get(wid)
            if rec is None:
                continue
            by = rec.executor_id
            if by is not None and by != victim:
                self.state.recovered[wid] = by
                del self._held[wid]
                taken.setdefault(f"{by} ({rec.version})", []).append(wid)
            elif rec.status not in Status.OPEN:
                del self._held[wid]  # it finished before the kill
        for by, wids in taken.items():
            self.journal.add("recovery", f"taken over by {by}: {', '.join(sorted(wids))}")

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()
        if self.platform is not None:
            self.platform.close()
        if self.control is not None:
            self.control.shutdown(grace=1.0)
            self.control.close()
