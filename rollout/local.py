"""``LocalPlatform``: revisions as local ``tether serve`` processes behind a local router.

The platform protocol on one machine, to rehearse a rollout before running it on Cloud Run
(and for tests of whole rollouts with real processes). A revision is a set of instances,
each a ``tether serve`` process on its own port whose version is the revision name
(``K_REVISION`` and ``TETHER_APP_VERSION``). The router splits requests by the traffic
percentages and reaches tagged revisions at their tag URLs. As on Cloud Run:

- the first revision deployed takes 100 % of the traffic, later ones 0 % until a split;
- a killed instance stays dead unless the revision's minimum (its own, or its traffic share
  of the service's minimum) asks for more running instances, which are then restarted;
- a request to a tagged revision with no running instance starts one (scale from zero);
- a revision is ready when it was deployed and every running instance answers healthy.
"""

from __future__ import annotations

import json
import logging
import random
import signal as signals
import tempfile
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.versioning.identity import check_version

from .ingress import check_split, instance_floor, pick_revision, tag_url
from .platform import PlatformError, Revision, ServiceState, SplitError
from .processes import Child, Processes, free_port, signal_number
from .router import RouteError, Router

log = logging.getLogger("tether.rollout.local")


@dataclass
class _Instance:
    slot: int
    executor_id: str
    port: int
    child: Child
    host: str
    healthy: bool = False
    version: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass
class _Revision:
    name: str
    target: str
    count: int
    env: dict[str, str]
    min_instances: int | None = None
    max_instances: int | None = None
    instances: dict[int, _Instance] = field(default_factory=dict)
    starts: int = 0
    deployed: bool = False
    retired: bool = False

    def live(self) -> list[_Instance]:
        return [i for i in self.instances.values() if i.child.alive]

    def healthy_urls(self) -> list[str]:
        return [i.url for i in self.live() if i.healthy]

    @property
    def ready(self) -> bool:
        return self.deployed and all(i.healthy for i in self.live())

    @property
    def version(self) -> str:
        return next((i.version for i in self.instances.values() if i.version), self.name)


class LocalPlatform:
    """Local processes and a local router, behind the ``Platform`` protocol."""

    def __init__(
        self,
        *,
        database_url: str,
        app_name: str,
        workdir: str | Path | None = None,
        app_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        ready_timeout: float = 60.0,
        stop_grace: float = 10.0,
        health_interval: float = 0.25,
    ) -> None:
        self.database_url = database_url
        self.app_name = app_name
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="tether-local-"))
        self.app_dir = Path(app_dir or Path.cwd()).resolve()
        self.host = host
        self.ready_timeout = ready_timeout
        self.stop_grace = stop_grace
        self._procs = Processes(self.workdir / "logs")
        self._lock = threading.RLock()
        self._cold = threading.Lock()  # one scale-from-zero at a time
        self._revisions: dict[str, _Revision] = {}
        self._split: dict[str, int] = {}
        self._tags: dict[str, str] = {}  # revision -> tag
        self._min: int | None = None
        self._max: int | None = None
        self._generation = 0
        self._closed = threading.Event()
        self._router = Router(self._route, host=host)
        self._health_interval = health_interval
        self._supervisor = threading.Thread(
            target=self._supervise, name="tether-local-supervisor", daemon=True
        )
        self._supervisor.start()

    @property
    def router_url(self) -> str:
        return self._router.url

    # -- deploying and stopping instances -----------------------------------------------------

    def deploy(
        self,
        revision: str,
        target: str,
        instances: int = 2,
        env: Mapping[str, str] | None = None,
        *,
        min_instances: int | None = None,
    ) -> ServiceState:
        """Start ``instances`` ``tether serve TARGET`` processes as ``revision``; wait until
        every one answers healthy. Deploying a running revision again starts missing ones."""
        check_version(revision)
        if instances < 1:
            raise PlatformError(f"deploy {revision!r} with at least 1 instance, not {instances}")
        with self._lock:
            rev = self._revisions.get(revision)
            if rev is None:
                rev = _Revision(revision, target, instances, dict(env or {}), min_instances)
                self._revisions[revision] = rev
            elif rev.target != target:
                raise PlatformError(
                    f"revision {revision!r} runs {rev.target}, not {target}: deploy new code "
                    "as a new revision"
                )
            rev.retired = False
            rev.count = max(rev.count, instances)
            started = [self._start(rev, slot) for slot in self._missing_slots(rev, instances)]
        for inst in started:
            inst.child.wait_url(inst.url + "/healthz", self.ready_timeout)
            self._mark(inst, self._health(inst))
        with self._lock:
            rev.deployed = True
            if not self._split:  # the service's first revision serves all traffic
                self._split = {revision: 100}
            self._generation += 1
        log.info("deployed %s (%d instance(s) of %s)", revision, len(rev.live()), target)
        return self.describe()

    def _missing_slots(self, rev: _Revision, want: int) -> list[int]:
        live = {i.slot for i in rev.live()}
        dead = sorted(set(rev.instances) - live)
        fresh = (n for n in range(len(rev.instances) + want) if n not in rev.instances)
        slots = [*dead, *fresh]
        return slots[: max(0, want - len(live))]

    def _start(self, rev: _Revision, slot: int) -> _Instance:
        rev.starts += 1
        executor_id = f"{rev.name}-{rev.starts}"  # a restarted instance is a new executor
        port = free_port(self.host)
        env = {
            "TETHER_DATABASE_URL": self.database_url,
            "TETHER_APP_NAME": self.app_name,
            "TETHER_APP_VERSION": rev.name,
            "K_REVISION": rev.name,
            "TETHER_EXECUTOR_ID": executor_id,
            "PORT": str(port),
            **rev.env,
        }
        argv = ["serve", rev.target, "--host", self.host, "--port", str(port)]
        argv += ["--app-dir", str(self.app_dir)]
        child = self._procs.tether(executor_id, argv, env=env, cwd=self.app_dir)
        inst = _Instance(slot, executor_id, port, child, self.host)
        rev.instances[slot] = inst
        log.info("started %s (pid %d, port %d)", executor_id, child.pid, port)
        return inst

    def kill(self, revision: str, signal: str | int = "KILL", count: int = 1) -> list[str]:
        """Send ``signal`` to ``count`` running instances of ``revision``; returns their
        executor ids. After SIGKILL it waits until they are dead."""
        sig = signal_number(signal)
        with self._lock:
            rev = self._get(revision)
            victims = sorted(rev.live(), key=lambda i: i.slot)[:count]
            for inst in victims:
                inst.healthy = False
                inst.child.signal(sig)
        if sig == signals.SIGKILL:
            for inst in victims:
                inst.child.wait(10)
        return [i.executor_id for i in victims]

    def instances(self, revision: str) -> list[dict[str, Any]]:
        """The running instances of ``revision``: executor id, pid, url, healthy."""
        with self._lock:
            return [
                {
                    "executor_id": i.executor_id,
                    "pid": i.child.pid,
                    "url": i.url,
                    "healthy": i.healthy,
                }
                for i in sorted(self._get(revision).live(), key=lambda i: i.slot)
            ]

    def _stop(self, children: Sequence[Child]) -> None:
        """SIGTERM all (they drain together), then SIGKILL whatever outlives the grace."""
        for child in children:
            child.signal(signals.SIGTERM)
        for child in children:
            if child.wait(self.stop_grace) is None:
                child.kill()
                child.wait(10)

    # -- the Platform protocol ----------------------------------------------------------------

    def describe(self) -> ServiceState:
        with self._lock:
            revisions = tuple(
                Revision(
                    name=r.name,
                    version=r.version,
                    ready=r.ready,
                    percent=self._split.get(r.name, 0),
                    tag=self._tags.get(r.name),
                    tag_url=tag_url(self.router_url, t) if (t := self._tags.get(r.name)) else None,
                    min_instances=r.min_instances,
                    max_instances=r.max_instances,
                )
                for r in self._revisions.values()
            )
            ready = [r.name for r in self._revisions.values() if r.ready and not r.retired]
            return ServiceState(
                name=self.app_name,
                revisions=revisions,
                url=self.router_url,
                latest_ready=ready[-1] if ready else None,
                min_instances=self._min,
                max_instances=self._max,
                etag=str(self._generation),
                generation=self._generation,
                extra={"workdir": str(self.workdir)},
            )

    def set_traffic(
        self, split: Mapping[str, int], tags: Mapping[str, str] | None = None
    ) -> ServiceState:
        with self._lock:
            known = {n: r.ready for n, r in self._revisions.items() if not r.retired}
            merged = {
                rev: tag for rev, tag in self._tags.items() if tag not in (tags or {}).values()
            }
            merged.update(tags or {})
            new_split = check_split(split, known, merged)
            if new_split != self._split or merged != self._tags:
                self._split, self._tags = new_split, merged
                self._generation += 1
                log.info("traffic %s, tags %s", new_split, merged)
        return self.describe()

    def keep_warm(self, revision: str, tag: str) -> ServiceState:
        with self._lock:
            rev = self._get(revision)
            split = dict(self._split)
        self.set_traffic(split, {revision: tag})
        with self._lock:
            rev.min_instances = max(rev.min_instances or 0, 1)
        self._ensure_running(rev)
        return self.describe()

    def wake(self, revision: str) -> bool:
        """POST ``/tether/wake`` on the revision's instances (starting one if none runs);
        False when it is unreachable (untagged at 0 %, or retired)."""
        with self._lock:
            rev = self._revisions.get(revision)
            if rev is None or rev.retired:
                return False
            if not (self._tags.get(revision) or self._split.get(revision)):
                return False
        self._ensure_running(rev)
        woke = False
        for url in rev.healthy_urls():
            req = urllib.request.Request(url + "/tether/wake", data=b"", method="POST")
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - local URL
                    woke = woke or resp.status == 200
            except OSError:
                continue
        return woke

    def set_scaling(
        self, *, min_instances: int | None = None, max_instances: int | None = None
    ) -> ServiceState:
        with self._lock:
            if min_instances is not None:
                self._min = min_instances
            if max_instances is not None:
                self._max = max_instances
            self._generation += 1
        return self.describe()

    def retire(self, revision: str, *, delete: bool = False) -> ServiceState:
        """Untag a revision without traffic and stop its instances (they drain);
        ``delete`` forgets it too. Refuses a revision that still has traffic."""
        with self._lock:
            rev = self._revisions.get(revision)
            if rev is None:
                if delete:
                    return self.describe()
                raise PlatformError(f"unknown revision {revision!r}")
            if self._split.get(revision, 0) > 0:
                raise SplitError(
                    f"revision {revision!r} has {self._split[revision]} % of the traffic: "
                    "move its traffic to another revision first"
                )
            self._tags.pop(revision, None)
            rev.retired = True
            rev.min_instances = None
            children = [i.child for i in rev.live()]
            self._generation += 1
        self._stop(children)
        with self._lock:
            if delete:
                self._revisions.pop(revision, None)
        log.info("retired %s%s", revision, " and deleted it" if delete else "")
        return self.describe()

    def close(self) -> None:
        """Stop the router, the supervisor and every instance (SIGTERM, then SIGKILL)."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._router.close()
        self._supervisor.join(timeout=5)
        self._stop(self._procs.live())
        self._procs.close()

    def __enter__(self) -> LocalPlatform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- routing, health and supervision ------------------------------------------------------

    def _get(self, revision: str) -> _Revision:
        rev = self._revisions.get(revision)
        if rev is None:
            raise PlatformError(f"unknown revision {revision!r}: deploy it first")
        return rev

    def _route(self, tag: str | None) -> tuple[str, Sequence[str]]:
        with self._lock:
            if tag is not None:
                name = next((r for r, t in self._tags.items() if t == tag), None)
                if name is None:
                    raise RouteError(404, f"no revision is tagged {tag!r}")
            else:
                name = pick_revision(self._split, random.uniform(0, 100))
                if name is None:
                    raise RouteError(503, "no revision has traffic: deploy one")
            rev = self._revisions[name]
        if not rev.live():
            self._ensure_running(rev)
        return name, rev.healthy_urls()

    def _ensure_running(self, rev: _Revision) -> None:
        """Scale from zero: start one instance of ``rev`` if none runs, and wait for it."""
        with self._cold:
            with self._lock:
                if rev.live() or rev.retired:
                    return
                inst = self._start(rev, self._missing_slots(rev, 1)[0])
            inst.child.wait_url(inst.url + "/healthz", self.ready_timeout)
            self._mark(inst, self._health(inst))

    def _health(self, inst: _Instance) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(inst.url + "/healthz", timeout=2) as resp:  # noqa: S310
                data: dict[str, Any] = json.loads(resp.read())
                return data
        except (OSError, ValueError):
            return None

    def _mark(self, inst: _Instance, health: dict[str, Any] | None) -> None:
        with self._lock:
            inst.healthy = bool(health and health.get("ok")) and inst.child.alive
            if health and health.get("version"):
                inst.version = str(health["version"])

    def _supervise(self) -> None:
        while not self._closed.wait(self._health_interval):
            try:
                self._supervise_once()
            except Exception:  # noqa: BLE001 - the supervisor must outlive one bad round
                log.exception("local platform supervision round failed")

    def _supervise_once(self) -> None:
        with self._lock:
            live = [i for r in self._revisions.values() for i in r.live()]
        for inst in live:
            self._mark(inst, self._health(inst))
        with self._lock:
            for rev in self._revisions.values():
                if rev.retired or not rev.deployed:
                    continue
                floor = instance_floor(rev.min_instances, self._min, self._split.get(rev.name, 0))
                for slot in self._missing_slots(rev, floor):
                    log.info("restarting an instance of %s (minimum %d)", rev.name, floor)
                    self._start(rev, slot)
