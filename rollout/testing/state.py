"""The stand-in's state: services and revisions as the client library's own proto types.

Tests and users drive it directly (deploy a revision, mark one unready, inject a fault) and
read what the client did (``requests``). The RPCs themselves live in ``api.py``; the HTTP
and gRPC front ends only translate wire formats.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.cloud import run_v2
from google.protobuf import timestamp_pb2

REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
State = run_v2.Condition.State

#: The IAM permission each RPC needs (for ``deny``).
PERMISSIONS = {
    "GetService": "run.services.get",
    "UpdateService": "run.services.update",
    "ListRevisions": "run.revisions.list",
    "GetRevision": "run.revisions.get",
    "DeleteRevision": "run.revisions.delete",
    "GetOperation": "run.operations.get",
}
#: HTTP status → the canonical status name in error bodies.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    """An error answer: HTTP status, canonical status name, message and ``details``."""

    def __init__(
        self, http: int, message: str, status: str | None = None, details: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.http = http
        self.status = status or STATUS_NAMES.get(http, "UNKNOWN")
        self.message = message
        self.details = details or []


@dataclass
class Fault:
    """An injected error for the next ``count`` calls of ``rpc`` (``*`` matches any)."""

    rpc: str
    error: ApiError
    count: int = 1
    #: Perform the call, then answer with the error: a response lost on the way back.
    apply: bool = False


@dataclass(frozen=True)
class RequestRecord:
    """One request as the stand-in received it."""

    rpc: str
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    headers: dict[str, str]


@dataclass
class Operation:
    name: str
    #: GetOperation answers ``done: false`` this many more times; -1 never finishes.
    pending: int
    finish: Callable[[], Any]
    metadata: Any
    service: str = ""
    result: Any = None
    error: tuple[int, str] | None = None
    done: bool = False


@dataclass
class Behaviour:
    """How the stand-in treats the unverified corners (configurable; defaults documented)."""

    max_revisions: int = 1000
    #: HTTP status for traffic naming an unknown revision (400 observed via gcloud; 404 possible).
    unknown_revision_status: int = 400
    #: Traffic on an unready revision: "fail" = accepted, then the operation fails; "reject" = 400.
    unready_traffic: str = "fail"
    page_size: int = 100
    #: Polls an operation stays pending before it finishes (0: done on the first poll).
    pending_polls: int = 0
    #: Base of tag URLs; None gives realistic ``https://TAG---SERVICE-…run.app`` URLs.
    tag_url_base: str | None = None


@dataclass
class CloudRunState:
    """Everything the stand-in knows; all access under ``lock``."""

    project: str = "test-project"
    region: str = "us-central1"
    behaviour: Behaviour = field(default_factory=Behaviour)
    services: dict[str, run_v2.Service] = field(default_factory=dict)
    revisions: dict[str, dict[str, run_v2.Revision]] = field(default_factory=dict)
    templates: dict[tuple[str, str], bytes] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    requests: list[RequestRecord] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    denied: set[str] = field(default_factory=set)
    op_failures: list[tuple[int, str]] = field(default_factory=list)
    races: list[Callable[[run_v2.Service], None]] = field(default_factory=list)
    auto_deleted: list[str] = field(default_factory=list)
    wakes: list[str] = field(default_factory=list)
    unreachable: set[str] = field(default_factory=set)
    referenced: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _counter: int = 0

    # -- names ---------------------------------------------------------------------------
    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    def service_name(self, service: str) -> str:
        return service if "/" in service else f"{self.parent}/services/{service}"

    def next_id(self) -> int:
        self._counter += 1
        return self._counter

    # -- setup: what a deploy would do ----------------------------------------------------
    def create_service(self, service: str = "agent", revision: str | None = None) -> str:
        """A service with one ready revision taking 100 % pinned by name; returns its name."""
        name = self.service_name(service)
        with self.lock:
            short = name.rsplit("/", 1)[-1]
            svc = run_v2.Service(
                name=name,
                uid=secrets.token_hex(8),
                generation=0,
                uri=f"https://{short}-fakehash-uc.a.run.app",
                urls=[f"https://{short}-fakehash-uc.a.run.app"],
                scaling=run_v2.ServiceScaling(min_instance_count=0),
            )
            svc.template.containers.append(run_v2.Container(image="gcr.io/p/agent:1"))
            self.services[name] = svc
            self.revisions[name] = {}
            first = self.deploy(service, revision)
            svc.traffic = [run_v2.TrafficTarget(type_=REVISION, revision=first, percent=100)]
            self.settle(svc)
        return first

    def deploy(
        self,
        service: str = "agent",
        revision: str | None = None,
        *,
        ready: bool = True,
        tag: str | None = None,
        min_instances: int = 0,
    ) -> str:
        """A new revision, as a deploy with a changed template (traffic stays pinned)."""
        name = self.service_name(service)
        with self.lock:
            svc = self.services[name]
            short = name.rsplit("/", 1)[-1]
            svc.generation += 1
            rev = revision or f"{short}-{svc.generation:05d}-{secrets.token_hex(2)[:3]}"
            svc.template.revision = rev
            svc.template.scaling.min_instance_count = min_instances
            self.add_revision(name, rev, ready=ready, min_instances=min_instances)
            if tag:
                svc.traffic.append(run_v2.TrafficTarget(type_=REVISION, revision=rev, tag=tag))
            self.settle(svc)
            return rev

    def add_revision(
        self, service_name: str, rev: str, *, ready: bool, min_instances: int = 0
    ) -> None:
        svc = self.services[service_name]
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        self.revisions[service_name][rev] = run_v2.Revision(
            name=f"{service_name}/revisions/{rev}",
            uid=secrets.token_hex(8),
            generation=1,
            observed_generation=1,
            service=service_name.rsplit("/", 1)[-1],
            create_time=now,
            etag=self.etag(),
            scaling=run_v2.RevisionScaling(
                min_instance_count=min_instances, max_instance_count=100
            ),
            conditions=[_ready_condition(ready)],
        )
        self.templates[(service_name, rev)] = run_v2.RevisionTemplate.serialize(svc.template)
        svc.latest_created_revision = f"{service_name}/revisions/{rev}"
        if ready:
            svc.latest_ready_revision = f"{service_name}/revisions/{rev}"
        self.enforce_cap(service_name)

    def set_ready(self, service: str, revision: str, ready: bool = True) -> None:
        with self.lock:
            name = self.service_name(service)
            rev = self.revisions[name][revision]
            rev.conditions = [_ready_condition(ready)]
            if ready:
                self.services[name].latest_ready_revision = rev.name

    def enforce_cap(self, service_name: str) -> None:
        """Cloud Run's cap: beyond it the oldest revisions go. Here a revision in the traffic
        block (at 0 % with a tag, as ``keep_warm`` leaves it) or the latest one is spared;
        whether a tag alone protects a revision on Cloud Run is unverified."""
        revs = self.revisions[service_name]
        svc = self.services[service_name]
        referenced = {t.revision for t in svc.traffic} | {
            svc.latest_ready_revision.rsplit("/", 1)[-1],
            svc.latest_created_revision.rsplit("/", 1)[-1],
        }
        for rev in list(revs):
            if len(revs) <= self.behaviour.max_revisions:
                break
            if rev not in referenced:
                del revs[rev]
                self.auto_deleted.append(rev)

    # -- derived status -------------------------------------------------------------------
    def etag(self) -> str:
        return f'"{secrets.token_urlsafe(12)}"'

    def tag_url(self, service_name: str, tag: str) -> str:
        short = service_name.rsplit("/", 1)[-1]
        base = self.behaviour.tag_url_base
        if base:
            return f"{base}/_tags/{short}/{tag}"
        return f"https://{tag}---{short}-fakehash-uc.a.run.app"

    def settle(self, svc: run_v2.Service) -> None:
        """Routing now follows the spec: statuses, generations and conditions agree."""
        latest = svc.latest_ready_revision.rsplit("/", 1)[-1]
        statuses = []
        for t in svc.traffic or [run_v2.TrafficTarget(type_=LATEST, percent=100)]:
            statuses.append(
                run_v2.TrafficTargetStatus(
                    type_=t.type_,
                    revision=t.revision or latest,
                    percent=t.percent,
                    tag=t.tag,
                    uri=self.tag_url(svc.name, t.tag) if t.tag else "",
                )
            )
        svc.traffic_statuses = statuses
        self.scale_revisions(svc)
        svc.observed_generation = svc.generation
        svc.reconciling = False
        svc.terminal_condition = run_v2.Condition(type_="Ready", state=State.CONDITION_SUCCEEDED)
        svc.etag = self.etag()

    def scale_revisions(self, svc: run_v2.Service) -> None:
        """``scaling_status.desired_min_instance_count`` per revision, as documented: the
        service minimum split by traffic percent (rounded up here; Cloud Run's rounding is
        unverified), plus the revision's own minimum while it is in traffic or tagged."""
        share: dict[str, int] = {}
        for t in svc.traffic_statuses:
            share[t.revision] = share.get(t.revision, 0) + t.percent
        service_min = svc.scaling.min_instance_count
        revisions = self.revisions.get(svc.name, {})
        # Only revisions referenced now or before can have a minimum other than 0.
        for short in set(share) | self.referenced.get(svc.name, set()):
            rev = revisions.get(short)
            if rev is not None:
                percent = share.get(short)
                desired = -(-service_min * (percent or 0) // 100)
                if percent is not None:
                    desired += rev.scaling.min_instance_count
                rev.scaling_status.desired_min_instance_count = desired
        self.referenced[svc.name] = set(share)

    def start_reconciling(self, svc: run_v2.Service) -> None:
        svc.reconciling = True
        svc.terminal_condition = run_v2.Condition(type_="Ready", state=State.CONDITION_RECONCILING)

    # -- fault injection -----------------------------------------------------------------
    def fail_next(
        self,
        rpc: str,
        http: int = 503,
        *,
        count: int = 1,
        message: str | None = None,
        status: str | None = None,
        apply: bool = False,
    ) -> None:
        """The next ``count`` calls of ``rpc`` answer ``http`` (``apply``: after doing it)."""
        text = message or f"injected {http} for {rpc}"
        with self.lock:
            self.faults.append(Fault(rpc, ApiError(http, text, status), count, apply))

    def deny(self, permission: str) -> None:
        """Every RPC needing ``permission`` answers 403 with an ErrorInfo naming it."""
        with self.lock:
            self.denied.add(permission)

    def allow(self, permission: str) -> None:
        with self.lock:
            self.denied.discard(permission)

    def fail_next_operation(
        self, code: int = 9, message: str = "injected operation failure"
    ) -> None:
        """The next long-running operation finishes with ``error`` (9: FAILED_PRECONDITION)."""
        with self.lock:
            self.op_failures.append((code, message))

    def race_next_update(self, change: Callable[[run_v2.Service], None] | None = None) -> None:
        """Another writer changes the service just before the next UpdateService lands."""
        with self.lock:
            self.races.append(change or (lambda svc: None))

    def mutate_behind_back(
        self, service: str = "agent", change: Callable[[run_v2.Service], None] | None = None
    ) -> None:
        """A concurrent modification now: new generation and etag (and ``change`` applied)."""
        with self.lock:
            svc = self.services[self.service_name(service)]
            if change:
                change(svc)
            svc.generation += 1
            self.settle(svc)

    def take_fault(self, rpc: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.rpc in (rpc, "*"):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    # -- what the client did --------------------------------------------------------------
    def calls(self, rpc: str | None = None) -> list[RequestRecord]:
        with self.lock:
            return [r for r in self.requests if rpc is None or r.rpc == rpc]

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()

    def service(self, service: str = "agent") -> run_v2.Service:
        """A copy of the service as stored."""
        with self.lock:
            stored = self.services[self.service_name(service)]
            copy: run_v2.Service = run_v2.Service.deserialize(run_v2.Service.serialize(stored))
            return copy


def _ready_condition(ready: bool) -> run_v2.Condition:
    state = State.CONDITION_SUCCEEDED if ready else State.CONDITION_PENDING
    return run_v2.Condition(type_="Ready", state=state)


def camel_to_snake(path: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), path)
