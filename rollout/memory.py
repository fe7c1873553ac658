"""``MemoryPlatform``: the platform protocol over plain dicts, for tests and rehearsals.

Use it to unit-test a rollout plan, gates and drain without Cloud Run:

    platform = MemoryPlatform("agent")
    platform.deploy("agent-00001", version="v1", percent=100)
    platform.deploy("agent-00002", version="v2", tag="canary")   # 0 %, tagged
    app.rollouts.start(platform, "agent-00002", steps=[10, 100], bake=0).wait(30)

It validates like the Cloud Run adapter (splits summing to 100 over known, ready revisions,
unique tags; no untagging or deleting a serving revision), records every call in ``calls``,
and models the revision cap (deploying past ``cap`` deletes the oldest revisions that serve
no traffic, as Cloud Run does). With ``path`` its state lives in a JSON file, so several
processes (a controller killed and resumed elsewhere) share one platform.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .platform import PlatformError, PlatformPermissionError, Revision, ServiceState, SplitError

T = TypeVar("T")
_LIVE: dict[str, MemoryPlatform] = {}
_LIVE_LOCK = threading.Lock()


class MemoryPlatform:
    """An in-process platform; every operation is idempotent like the real ones."""

    def __init__(
        self,
        service: str = "service",
        *,
        path: str | os.PathLike[str] | None = None,
        cap: int = 1000,
        key: str | None = None,
    ) -> None:
        self.service = service
        self.path = Path(path) if path is not None else None
        self.cap = cap
        self.key = key or uuid.uuid4().hex
        self._lock = threading.RLock()
        self._state: dict[str, Any] = self._empty()
        with _LIVE_LOCK:
            _LIVE[self.key] = self
        if self.path is not None and self.path.exists():
            with self._edit(lambda s: None):
                pass

    def _empty(self) -> dict[str, Any]:
        return {
            "revisions": [],  # ordered oldest first: dicts of Revision fields
            "min": None,
            "max": None,
            "generation": 0,
            "calls": [],
            "wakes": {},
            "fail_wake": [],
            "denied": None,
        }

    # -- persistence --------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            if self.path is None:
                yield self._state
                return
            lock_path = self.path.with_suffix(self.path.suffix + ".lock")
            with open(lock_path, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    if self.path.exists():
                        self._state = json.loads(self.path.read_text())
                    yield self._state
                    tmp = self.path.with_suffix(".tmp")
                    tmp.write_text(json.dumps(self._state))
                    tmp.replace(self.path)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def _edit(self, fn: Callable[[dict[str, Any]], Any]) -> Iterator[Any]:
        with self._locked() as state:
            yield fn(state)

    def _do(self, call: str, fn: Callable[[dict[str, Any]], T], **args: Any) -> T:
        with self._locked() as state:
            state["calls"].append({"call": call, **args})
            return fn(state)

    def spec(self) -> dict[str, Any]:
        """How a controller in another process reaches the same platform again."""
        out: dict[str, Any] = {"kind": "memory", "service": self.service, "key": self.key}
        if self.path is not None:
            out["path"] = str(self.path)
        out["cap"] = self.cap
        return out

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> MemoryPlatform:
        with _LIVE_LOCK:
            live = _LIVE.get(str(spec.get("key")))
        if live is not None:
            return live
        if spec.get("path") is None:
            raise PlatformError(
                f"the in-memory platform {spec.get('key')!r} lives in another process: give "
                "MemoryPlatform a path= to share it between processes"
            )
        return cls(
            str(spec.get("service", "service")),
            path=spec["path"],
            cap=int(spec.get("cap", 1000)),
            key=str(spec["key"]),
        )

    # -- setting up (tests) -------------------------------------------------------------------

    def deploy(
        self,
        name: str,
        *,
        version: str | None = None,
        ready: bool = True,
        percent: int = 0,
        tag: str | None = None,
        min_instances: int | None = None,
    ) -> ServiceState:
        """Add a revision (``gcloud run deploy --no-traffic --tag``); redeploying one is a no-op."""

        def apply(state: dict[str, Any]) -> ServiceState:
            revs = state["revisions"]
            if not any(r["name"] == name for r in revs):
                for r in revs:
                    if percent and r["percent"]:
                        r["percent"] = 0
                revs.append(
                    {
                        "name": name,
                        "version": version if version is not None else name,
                        "ready": ready,
                        "percent": percent,
                        "tag": tag,
                        "min_instances": min_instances,
                    }
                )
                while len(revs) > self.cap:  # the platform deletes the oldest non-serving
                    victim = next((r for r in revs if not r["percent"]), None)
                    if victim is None:
                        break
                    revs.remove(victim)
                    state.setdefault("auto_deleted", []).append(victim["name"])
                state["generation"] += 1
            return self._describe(state)

        return self._do("deploy", apply, revision=name)

    def set_ready(self, name: str, ready: bool = True) -> None:
        def apply(state: dict[str, Any]) -> None:
            self._find(state, name)["ready"] = ready

        self._do("set_ready", apply, revision=name)

    def fail_wake(self, name: str, failing: bool = True) -> None:
        """Make ``wake(name)`` report failure (a revision that cannot start)."""

        def apply(state: dict[str, Any]) -> None:
            s = set(state["fail_wake"])
            s.add(name) if failing else s.discard(name)
            state["fail_wake"] = sorted(s)

        self._do("fail_wake", apply, revision=name)

    def deny(self, permission: str | None) -> None:
        """Refuse every change with a permission error naming ``permission`` (None: allow)."""

        def apply(state: dict[str, Any]) -> None:
            state["denied"] = permission

        with self._locked() as state:
            apply(state)

    def _check_allowed(self, state: dict[str, Any]) -> None:
        if state.get("denied"):
            raise PlatformPermissionError(
                f"permission {state['denied']!r} denied on service {self.service!r}: grant it "
                "to the caller's service account",
                permission=state["denied"],
            )

    @property
    def calls(self) -> list[dict[str, Any]]:
        with self._locked() as state:
            return list(state["calls"])

    def wakes(self, name: str) -> int:
        with self._locked() as state:
            return int(state["wakes"].get(name, 0))

    @property
    def auto_deleted(self) -> list[str]:
        with self._locked() as state:
            return list(state.get("auto_deleted", []))

    # -- the protocol -------------------------------------------------------------------------

    def describe(self) -> ServiceState:
        with self._locked() as state:
            return self._describe(state)

    def set_traffic(
        self, split: Mapping[str, int], tags: Mapping[str, str] | None = None
    ) -> ServiceState:
        tags = dict(tags or {})
        with self._locked() as state:
            self._validate(state, split, tags)

        def apply(state: dict[str, Any]) -> ServiceState:
            self._check_allowed(state)
            self._validate(state, split, tags)
            before = json.dumps(state["revisions"])
            for r in state["revisions"]:
                r["percent"] = int(split.get(r["name"], 0))
                if r["name"] in tags:
                    r["tag"] = tags[r["name"]]
                elif r["tag"] in tags.values():
                    r["tag"] = None  # the tag moved to another revision
            if json.dumps(state["revisions"]) != before:
                state["generation"] += 1
            return self._describe(state)

        return self._do("set_traffic", apply, split=dict(split), tags=tags)

    def keep_warm(self, revision: str, tag: str) -> ServiceState:
        def apply(state: dict[str, Any]) -> ServiceState:
            self._check_allowed(state)
            rev = self._find(state, revision)
            clash = [r["name"] for r in state["revisions"] if r["tag"] == tag and r is not rev]
            if clash:
                raise SplitError(f"tag {tag!r} is already on revision {clash[0]!r}")
            if rev["tag"] != tag:
                rev["tag"] = tag
                state["generation"] += 1
            return self._describe(state)

        return self._do("keep_warm", apply, revision=revision, tag=tag)

    def wake(self, revision: str) -> bool:
        def apply(state: dict[str, Any]) -> bool:
            rev = self._find(state, revision)
            if rev["tag"] is None or revision in state["fail_wake"]:
                return False
            state["wakes"][revision] = state["wakes"].get(revision, 0) + 1
            return True

        return self._do("wake", apply, revision=revision)

    def set_scaling(
        self, *, min_instances: int | None = None, max_instances: int | None = None
    ) -> ServiceState:
        def apply(state: dict[str, Any]) -> ServiceState:
            self._check_allowed(state)
            lo = state["min"] if min_instances is None else min_instances
            hi = state["max"] if max_instances is None else max_instances
            if lo is not None and hi is not None and lo > hi:
                raise PlatformError(f"min instances {lo} exceeds max instances {hi}")
            if (lo, hi) != (state["min"], state["max"]):
                state["min"], state["max"] = lo, hi
                state["generation"] += 1
            return self._describe(state)

        return self._do("set_scaling", apply, min=min_instances, max=max_instances)

    def retire(self, revision: str, *, delete: bool = False) -> ServiceState:
        def apply(state: dict[str, Any]) -> ServiceState:
            self._check_allowed(state)
            rev = next((r for r in state["revisions"] if r["name"] == revision), None)
            if rev is None:
                return self._describe(state)  # already deleted: nothing to do
            if rev["percent"]:
                raise PlatformError(
                    f"revision {revision!r} serves {rev['percent']}% of traffic: move traffic "
                    "away before retiring it"
                )
            rev["tag"] = None
            if delete:
                state["revisions"].remove(rev)
            state["generation"] += 1
            return self._describe(state)

        return self._do("retire", apply, revision=revision, delete=delete)

    # -- internals ----------------------------------------------------------------------------

    def _find(self, state: dict[str, Any], name: str) -> dict[str, Any]:
        for r in state["revisions"]:
            if r["name"] == name:
                return r  # type: ignore[no-any-return]
        raise SplitError(f"unknown revision {name!r} of service {self.service!r}")

    def _validate(
        self, state: dict[str, Any], split: Mapping[str, int], tags: Mapping[str, str]
    ) -> None:
        total = sum(int(p) for p in split.values())
        if total != 100 or any(int(p) < 0 for p in split.values()):
            raise SplitError(f"a traffic split must be >= 0 each and sum to 100, got {dict(split)}")
        for name, percent in split.items():
            rev = self._find(state, name)
            if percent and not rev["ready"]:
                raise SplitError(f"revision {name!r} is not ready: it cannot take traffic")
        for name in tags:
            self._find(state, name)
        if len(set(tags.values())) != len(tags):
            raise SplitError(f"tags must be unique, got {dict(tags)}")

    def _describe(self, state: dict[str, Any]) -> ServiceState:
        revs = tuple(
            Revision(
                name=r["name"],
                version=r["version"],
                ready=r["ready"],
                percent=r["percent"],
                tag=r["tag"],
                tag_url=f"https://{r['tag']}---{self.service}.memory" if r["tag"] else None,
                min_instances=r.get("min_instances"),
            )
            for r in state["revisions"]
        )
        ready = [r.name for r in revs if r.ready]
        return ServiceState(
            name=self.service,
            revisions=revs,
            url=f"https://{self.service}.memory",
            latest_ready=ready[-1] if ready else None,
            min_instances=state["min"],
            max_instances=state["max"],
            generation=int(state["generation"]),
        )
