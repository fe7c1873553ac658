"""``CloudRunPlatform``: the platform protocol on the Cloud Run Admin API v2.

Every change is one loop: read the service (its etag), plan the new traffic or scaling with
the pure functions of ``plan.py``, stop if the service already says so (so a repeated call,
or a retry after a lost response, changes nothing), else write with an update mask that
never names the template, wait on the operation, and wait until the service has settled.
An etag conflict or a transient error sends the loop back to the read, a bounded number of
times; anything else is translated into a ``PlatformError`` that says what to do.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.auth.credentials import Credentials
from google.cloud import run_v2
from tether.rollout.platform import PlatformError, Revision, ServiceState
from tether.runtime.errors import ConfigurationError

from . import plan
from .client import ENDPOINT_ENV, RunApi, discover, post_wake
from .errors import OperationTimeoutError, is_etag_conflict, is_transient, translate

T = TypeVar("T")
log = logging.getLogger("tether.rollout")
LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
SUCCEEDED = run_v2.Condition.State.CONDITION_SUCCEEDED
FAILED = run_v2.Condition.State.CONDITION_FAILED
MIN_PATH, MAX_PATH = "scaling.min_instance_count", "scaling.max_instance_count"


class CloudRunPlatform:
    """One Cloud Run service as a rollout platform.

    ``version_of`` maps a revision name to the tether version it runs (e.g. through the
    version registry's platform revisions); by default, or when it returns None, a revision's
    version is its name, which is what an instance reports (``K_REVISION``) when the app sets
    no version. It is called once per revision on every describe(): make it a lookup in a
    mapping read once, not a query per call.
    """

    def __init__(
        self,
        project: str | None = None,
        region: str | None = None,
        service: str = "",
        endpoint: str | None = None,
        transport: str = "rest",
        credentials: Credentials | None = None,
        *,
        version_of: Callable[[str], str | None] | None = None,
        attempts: int = 5,
        retry_delay: float = 1.0,
        operation_timeout: float = 600.0,
        request_timeout: float = 30.0,
        poll_interval: float = 1.0,
        page_size: int = 500,
        wake_timeout: float = 10.0,
    ) -> None:
        if not service:
            raise ConfigurationError("CloudRunPlatform needs service= (the Cloud Run service name)")
        endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or None
        if endpoint is None or not (project and region):
            if endpoint is not None:
                raise ConfigurationError(f"with endpoint {endpoint}, pass project= and region= too")
            project, region = discover(project, region)
        assert project is not None and region is not None
        self.project, self.region, self.service = project, region, service
        self.endpoint, self.transport = endpoint, transport
        self.local = endpoint is not None
        self.version_of = version_of
        self.attempts = max(1, attempts)
        self.retry_delay = retry_delay
        self.operation_timeout = operation_timeout
        self.wake_timeout = wake_timeout
        self._tuning = {
            "attempts": self.attempts,
            "retry_delay": retry_delay,
            "operation_timeout": operation_timeout,
            "request_timeout": request_timeout,
            "poll_interval": poll_interval,
            "page_size": page_size,
            "wake_timeout": wake_timeout,
        }
        self.api = RunApi(
            project=project,
            region=region,
            service=service,
            endpoint=endpoint,
            transport=transport,
            credentials=credentials,
            request_timeout=request_timeout,
            poll_interval=poll_interval,
            page_size=page_size,
        )

    def spec(self) -> dict[str, Any]:
        """How a controller resumed on another executor reaches this service again (plain
        JSON: no credentials, which each process finds for itself; ``version_of`` is not
        carried, so link versions through the registry's platform revision when they are not
        the revision names)."""
        out: dict[str, Any] = {
            "kind": "cloudrun",
            "project": self.project,
            "region": self.region,
            "service": self.service,
            "transport": self.transport,
            **self._tuning,
        }
        if self.endpoint is not None:
            out["endpoint"] = self.endpoint
        return out

    # -- reads ------------------------------------------------------------------------------
    def describe(self) -> ServiceState:
        """The service and every revision; percents, tags and tag URLs as Cloud Run routes now.

        ``extra`` carries ``reconciling``, ``observed_generation``, ``latest_created`` and,
        close to Cloud Run's 1,000-revision cap, ``revision_cap`` with what to do about it.
        """
        svc = self._read("get_service", self.api.get_service)
        revisions = self._read("list_revisions", self.api.list_revisions)
        return self._state(svc, revisions)

    # -- changes ----------------------------------------------------------------------------
    def set_traffic(
        self, split: Mapping[str, int], tags: Mapping[str, str] | None = None
    ) -> ServiceState:
        split, tags = dict(split), dict(tags or {})
        plan.check_split(split, tags)
        revisions = self._read("list_revisions", self.api.list_revisions)
        plan.check_revisions(split, tags, _known(revisions))
        return self._change(lambda svc: plan.plan_traffic(_entries(svc.traffic), split, tags))

    def keep_warm(self, revision: str, tag: str) -> ServiceState:
        """Tag ``revision`` and keep it in the traffic block at 0 %: its tag URL reaches it.

        Cloud Run gives a 0 % revision none of the service-level minimum; instances come up
        on a request to the tag URL (``wake``) or from a revision-level minimum set at deploy.
        """

        def planned(svc: run_v2.Service) -> tuple[plan.Entry, ...]:
            current = _entries(svc.traffic)
            split = plan.resolved_split(current, _latest_ready(svc))
            return plan.plan_traffic(current, split, {revision: tag})

        plan.check_tags({revision: tag})
        revisions = self._read("list_revisions", self.api.list_revisions)
        plan.check_revisions({}, {revision: tag}, _known(revisions))
        return self._change(planned)

    def wake(self, revision: str) -> bool:
        """POST ``{tag URL}/tether/wake``; False when untagged, unreachable or failing."""
        try:
            svc = self._read("get_service", self.api.get_service)
        except PlatformError:
            return False
        urls = [
            t.uri
            for t in svc.traffic_statuses
            if t.uri and t.tag and (plan.short(t.revision) or _latest_ready(svc)) == revision
        ]
        if not urls:
            return False
        url = urls[0].rstrip("/") + "/tether/wake"
        return post_wake(url, local=self.local, timeout=self.wake_timeout)

    def set_scaling(
        self, *, min_instances: int | None = None, max_instances: int | None = None
    ) -> ServiceState:
        for label, value in (("min_instances", min_instances), ("max_instances", max_instances)):
            if value is not None and value < 0:
                raise PlatformError(f"{label} must be 0 or more, got {value}")
        if min_instances is not None and max_instances and min_instances > max_instances:
            raise PlatformError(
                f"min_instances {min_instances} exceeds max_instances {max_instances}"
            )
        wanted = {MIN_PATH: min_instances, MAX_PATH: max_instances}
        paths = [p for p, v in wanted.items() if v is not None]

        def apply(svc: run_v2.Service) -> list[str]:
            changed = []
            for path, attr in ((MIN_PATH, "min_instance_count"), (MAX_PATH, "max_instance_count")):
                value = wanted[path]
                if value is not None and getattr(svc.scaling, attr) != value:
                    setattr(svc.scaling, attr, value)
                    changed.append(path)
            maximum = svc.scaling.max_instance_count
            if maximum and svc.scaling.min_instance_count > maximum:
                raise PlatformError(
                    f"min_instances {svc.scaling.min_instance_count} would exceed the "
                    f"service's max_instances {maximum}; raise the maximum too"
                )
            return changed

        return self._apply(apply) if paths else self.describe()

    def retire(self, revision: str, *, delete: bool = False) -> ServiceState:
        """Drop ``revision``'s tag and 0 % entry; with ``delete``, delete it too.

        Refused while the revision takes traffic. Deleting a revision that is already gone
        is not an error, so a retire can be repeated.
        """
        svc = self._read("get_service", self.api.get_service)
        if delete and _latest_ready(svc) == revision:
            raise PlatformError(
                f"revision {revision!r} is the service's latest ready revision, which Cloud Run "
                "will not delete; deploy a newer revision first"
            )
        state = self._change(
            lambda s: plan.plan_retire(_entries(s.traffic), revision, _latest_ready(s))
        )
        if delete and state.revision(revision) is not None:
            try:
                self._retrying(
                    "delete_revision",
                    lambda: self.api.delete_revision(revision, self.operation_timeout),
                )
            except PlatformError as exc:
                if not isinstance(exc.__cause__, gexc.NotFound):
                    raise
            state = self.describe()
        return state

    # -- the read-plan-write loop -----------------------------------------------------------
    def _change(self, planner: Callable[[run_v2.Service], tuple[plan.Entry, ...]]) -> ServiceState:
        def apply(svc: run_v2.Service) -> list[str]:
            wanted = planner(svc)
            if plan.same_traffic(_entries(svc.traffic), wanted) and svc.traffic:
                return []
            svc.traffic = [_target(e) for e in wanted]
            return ["traffic"]

        return self._apply(apply)

    def _apply(self, apply: Callable[[run_v2.Service], list[str]]) -> ServiceState:
        """Read, let ``apply`` edit the fresh service (returning mask paths), write, settle."""
        last: gexc.GoogleAPICallError | None = None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(min(self.retry_delay * 2 ** (attempt - 1), 30.0))
            svc = self._read("get_service", self.api.get_service)
            paths = apply(svc)
            if not paths:
                return self._settled(svc, wrote=False)
            try:
                svc = self.api.update_service(svc, paths, self.operation_timeout)
            except gexc.GoogleAPICallError as exc:
                if not (is_etag_conflict(exc) or is_transient(exc)):
                    raise translate(exc, "update_service", self.api.name) from exc
                log.warning(
                    "update of %s refused (%s), attempt %d of %d: re-reading and re-planning",
                    self.api.name, type(exc).__name__, attempt + 1, self.attempts,
                )  # fmt: skip
                last = exc
                continue
            return self._settled(svc, wrote=True)
        assert last is not None
        raise translate(last, "update_service", self.api.name) from last

    def _settled(self, svc: run_v2.Service, *, wrote: bool) -> ServiceState:
        """Wait until generation, condition and traffic statuses agree; then describe.

        A failed condition left by an earlier change does not fail a call that had nothing
        to write while routing already is what was asked (a rollback to where the service
        stayed); ``extra["condition"]`` reports it.
        """
        deadline = time.monotonic() + self.operation_timeout
        delay = self.api.poll_interval
        while not _is_settled(svc):
            if svc.terminal_condition.state == FAILED:
                if not wrote and _is_settled(svc, assume_succeeded=True):
                    break
                raise PlatformError(
                    f"{self.api.name} failed to apply generation {svc.generation}: "
                    f"{svc.terminal_condition.message or 'no message'}"
                )
            if time.monotonic() > deadline:
                raise OperationTimeoutError(
                    f"{self.api.name} did not settle within {self.operation_timeout:g} s "
                    f"(generation {svc.generation}, observed {svc.observed_generation})"
                )
            time.sleep(delay)
            svc = self._read("get_service", self.api.get_service)
        return self._state(svc, self._read("list_revisions", self.api.list_revisions))

    def _read(self, call: str, fn: Callable[[], T]) -> T:
        return self._retrying(call, fn)

    def _retrying(self, call: str, fn: Callable[[], T]) -> T:
        """``fn`` with back-off on transient errors; others translated at once."""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(min(self.retry_delay * 2 ** (attempt - 1), 30.0))
            try:
                return fn()
            except gexc.GoogleAPICallError as exc:
                if not is_transient(exc) or attempt == self.attempts - 1:
                    raise translate(exc, call, self.api.name) from exc
        raise AssertionError("unreachable")

    # -- the join ---------------------------------------------------------------------------
    def _state(self, svc: run_v2.Service, revisions: list[run_v2.Revision]) -> ServiceState:
        latest = _latest_ready(svc)
        observed = _entries(svc.traffic_statuses) or _entries(svc.traffic)
        percents = plan.resolved_split(observed, latest)
        tags = plan.current_tags([plan.Entry(e.revision or latest, 0, e.tag) for e in observed])
        urls = {t.tag: t.uri for t in svc.traffic_statuses if t.tag and t.uri}
        out = []
        for rev in revisions:
            name = plan.short(rev.name)
            tag = tags.get(name)
            version = self.version_of(name) if self.version_of else None
            out.append(
                Revision(
                    name=name,
                    version=version or name,
                    ready=_ready(rev),
                    percent=percents.get(name, 0),
                    tag=tag,
                    tag_url=urls.get(tag) if tag else None,
                    min_instances=rev.scaling.min_instance_count,
                    max_instances=rev.scaling.max_instance_count or None,
                )
            )
        extra = {
            "reconciling": str(svc.reconciling).lower(),
            "observed_generation": str(svc.observed_generation),
            "latest_created": plan.short(svc.latest_created_revision),
        }
        condition = svc.terminal_condition
        if condition.state != SUCCEEDED:
            extra["condition"] = f"{condition.state.name}: {condition.message}".rstrip(": ")
        if warning := plan.near_cap(len(revisions)):
            extra["revision_cap"] = warning
        return ServiceState(
            name=self.service,
            revisions=tuple(out),
            url=svc.uri or None,
            latest_ready=latest,
            min_instances=svc.scaling.min_instance_count,
            max_instances=svc.scaling.max_instance_count or None,
            etag=svc.etag or None,
            generation=svc.generation,
            extra=extra,
        )


def _entries(targets: Any) -> tuple[plan.Entry, ...]:
    return tuple(
        plan.Entry(None if t.type_ == LATEST else plan.short(t.revision), t.percent, t.tag)
        for t in targets
    )


def _target(entry: plan.Entry) -> run_v2.TrafficTarget:
    if entry.revision is None:
        return run_v2.TrafficTarget(type_=LATEST, percent=entry.percent, tag=entry.tag)
    return run_v2.TrafficTarget(
        type_=REVISION, revision=entry.revision, percent=entry.percent, tag=entry.tag
    )


def _latest_ready(svc: run_v2.Service) -> str | None:
    return plan.short(svc.latest_ready_revision) or None


def _ready(rev: run_v2.Revision) -> bool:
    return any(c.type_ == "Ready" and c.state == SUCCEEDED for c in rev.conditions)


def _known(revisions: list[run_v2.Revision]) -> dict[str, bool]:
    return {plan.short(r.name): _ready(r) for r in revisions}


def _is_settled(svc: run_v2.Service, assume_succeeded: bool = False) -> bool:
    return plan.settled(
        generation=svc.generation,
        observed_generation=svc.observed_generation,
        reconciling=svc.reconciling,
        succeeded=assume_succeeded or svc.terminal_condition.state == SUCCEEDED,
        traffic=_entries(svc.traffic),
        statuses=_entries(svc.traffic_statuses),
        latest_ready=_latest_ready(svc),
    )
