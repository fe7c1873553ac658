"""Replay: re-execute recorded workflows against the current code, with no side effects.

Every step, sleep, message, event and child workflow is answered from the recorded history;
nothing is executed and nothing is written (the replay engine has no store: it can only
read the child outcomes it was handed). The replay stops at the *frontier*, where the
history ends or the recorded run is still waiting (a sleep, a message, a child): the code
got that far on the current code without diverging, so the workflow passes. A replay
reports ``passed``, the first divergence (a NondeterminismError with the diagnostics), or
``error`` (the code raised where the recorded run did not, or the workflow is unknown here).

    r = Replayer(app)                   # an app with the current code's workflows registered
    r.replay("order-42")                # from the database
    r.replay_history(WorkflowHistory.load("tests/histories/order-42.json"))
    r.replay_many(version="v1", status=["PENDING"])
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from tether.runtime.context import _CURRENT, WorkflowContext
from tether.runtime.errors import (
    ConfigurationError,
    NondeterminismError,
    WorkflowInterrupt,
)
from tether.runtime.history import divergence, matches
from tether.runtime.recorder import ReplayRecorder, ReplayStop, ReplayWaiter
from tether.runtime.records import Status, WorkflowRecord
from tether.runtime.registry import Registry, WorkflowDef
from tether.runtime.serialization import decode_inputs
from tether.runtime.store import Fence, Store

from .history_io import WorkflowHistory

PASSED, DIVERGED, ERROR = "passed", "diverged", "error"
_BATCH = 200


class _App(Protocol):
    registry: Registry

    @property
    def store(self) -> Store: ...

    @property
    def version(self) -> str: ...

    def resolve_version(self) -> tuple[str, str]: ...


@dataclasses.dataclass
class ReplayResult:
    workflow_id: str
    name: str
    version: str  # the version the workflow is tethered to (that wrote its history)
    outcome: str  # "passed" | "diverged" | "error"
    divergence: NondeterminismError | None = None
    error: str | None = None
    positions_replayed: int = 0
    # Per patch gate reached: True when the history is on the new path (the gate returned
    # True), False when it passed there on code without the patch (the old path).
    patches_taken: dict[str, bool] = dataclasses.field(default_factory=dict)
    status: str | None = None  # the workflow's status in the history replayed
    code_version: str | None = None
    stopped_at: int | None = None  # the frontier's position; None: the code ran to its end
    stopped_because: str | None = None

    @property
    def passed(self) -> bool:
        return self.outcome == PASSED

    def summary(self) -> str:
        head = f"{self.workflow_id} ({self.name}, version {self.version}, {self.status}): "
        if self.outcome == DIVERGED and self.divergence is not None:
            d = self.divergence
            return head + (
                f"diverged at position {d.position}: recorded {d.recorded}, "
                f"the code asked for {d.requested}"
            )
        if self.outcome == ERROR:
            return head + f"error: {self.error}"
        where = (
            f"stopped at position {self.stopped_at} ({self.stopped_because})"
            if self.stopped_at is not None
            else "ran to its end"
        )
        return head + f"passed, {self.positions_replayed} positions replayed, {where}"

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["divergence"] = self.divergence.to_fields() if self.divergence else None
        data["patches_taken"] = dict(self.patches_taken)
        return data


class Replayer:
    """Replays histories against ``app``'s registered workflows (launched or not)."""

    def __init__(
        self, app: _App, *, store: Store | None = None, code_version: str | None = None
    ) -> None:
        self.app = app
        self.registry = app.registry
        self._store = store
        self.code_version = code_version or running_version(app)
        self._local = threading.local()  # the event loop runner of a batch, per thread

    @property
    def store(self) -> Store:
        return self._store if self._store is not None else self.app.store

    # -- sources ------------------------------------------------------------------------------

    def replay(self, workflow_id: str) -> ReplayResult:
        """Replay one workflow from the database."""
        return self.replay_history(WorkflowHistory.from_store(self.store, workflow_id))

    def select(
        self,
        *,
        version: str | None = None,
        name: str | None = None,
        status: str | Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[WorkflowRecord]:
        """Workflows to replay, newest first."""
        out: list[WorkflowRecord] = []
        while limit is None or len(out) < limit:
            page = 1000 if limit is None else min(1000, limit - len(out))
            rows = self.store.workflows.list(
                status=status, version=version, name=name, limit=page, offset=len(out)
            )
            out.extend(rows)
            if len(rows) < page:
                break
        return out

    def histories(self, records: Sequence[WorkflowRecord]) -> Iterator[WorkflowHistory]:
        """Histories of ``records``, their operations read in batches."""
        for i in range(0, len(records), _BATCH):
            batch = records[i : i + _BATCH]
            ops = self.store.operations.histories([r.workflow_id for r in batch])
            for rec in batch:
                yield WorkflowHistory.build(self.store, rec, ops.get(rec.workflow_id, []))

    def replay_many(
        self,
        workflow_ids: Iterable[str] | None = None,
        version: str | None = None,
        name: str | None = None,
        status: str | Sequence[str] | None = None,
        limit: int | None = None,
        fail_fast: bool = False,
        progress: Callable[[int, int, ReplayResult], None] | None = None,
    ) -> list[ReplayResult]:
        """Replay the given workflows, or those matching the filters; ``progress(done, total,
        result)`` is called after each; ``fail_fast`` stops at the first that does not pass."""
        if workflow_ids is not None:
            records = []
            for wid in workflow_ids:
                rec = self.store.workflows.get(wid)
                if rec is None:
                    raise ConfigurationError(f"no workflow {wid!r} in app {self.store.app_name!r}")
                records.append(rec)
        else:
            records = self.select(version=version, name=name, status=status, limit=limit)
        return self.replay_all(self.histories(records), len(records), fail_fast, progress)

    def replay_all(
        self,
        histories: Iterable[WorkflowHistory],
        total: int | None = None,
        fail_fast: bool = False,
        progress: Callable[[int, int, ReplayResult], None] | None = None,
    ) -> list[ReplayResult]:
        """Replay histories from any source (the database or exported files)."""
        items = histories if total is not None else list(histories)
        total = total if total is not None else len(items)  # type: ignore[arg-type]
        results: list[ReplayResult] = []
        with asyncio.Runner() as self._local.runner:
            try:
                for history in items:
                    res = self.replay_history(history)
                    results.append(res)
                    if progress is not None:
                        progress(len(results), total, res)
                    if fail_fast and not res.passed:
                        break
            finally:
                self._local.runner = None
        return results

    # -- one replay ---------------------------------------------------------------------------

    def replay_history(self, history: WorkflowHistory) -> ReplayResult:
        """Replay one history; never raises for what the workflow does (see the outcome)."""
        rec = history.workflow
        result = ReplayResult(
            rec.workflow_id,
            rec.name,
            rec.version,
            PASSED,
            status=rec.status,
            code_version=self.code_version,
        )
        try:
            wdef = self.registry.workflow_def(rec.name)
        except ConfigurationError as exc:
            result.outcome, result.error = ERROR, f"{exc} (this code is {self.code_version!r})"
            return result
        recorder = ReplayRecorder(
            self.code_version, ReplayWaiter(rec.workflow_id, history.children)
        )
        ctx = WorkflowContext(
            recorder=recorder,
            workflow_id=rec.workflow_id,
            name=wdef.name,
            version=self.code_version,
            fence=Fence(rec.workflow_id, "replay", -1),
            history={op.position: op for op in history.operations},
            is_async=wdef.is_async,
        )
        # Every place where a live run would wait or act (a boundary) stops a replay.
        ctx.interrupt_kind = ReplayStop
        try:
            args, kwargs = decode_inputs(rec.inputs or {})
            error = self._run(wdef, ctx, args, kwargs)
            _classify(result, ctx, rec, error)
        except Exception as exc:  # noqa: BLE001 - a replay reports, it does not raise
            result.outcome, result.error = ERROR, f"{type(exc).__name__}: {exc}"
        result.positions_replayed = sum(
            1
            for pos, kind, name in ctx.trace
            if (op := ctx.history.get(pos)) is not None and matches(op, kind, name)
        )
        result.patches_taken = _branches(ctx.patch_paths, result.divergence)
        return result

    def _run(
        self, wdef: WorkflowDef, ctx: WorkflowContext, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> BaseException | None:
        """Run the workflow body in a fresh context; returns what it raised (None: returned)."""

        def body() -> Any:
            _CURRENT.set(ctx)
            return wdef.fn(*args, **kwargs)

        async def abody() -> Any:
            _CURRENT.set(ctx)
            return await wdef.fn(*args, **kwargs)

        try:
            if not wdef.is_async:
                contextvars.Context().run(body)
            elif _loop_running():  # called from async code: run on a thread of its own
                with ThreadPoolExecutor(1) as pool:
                    pool.submit(_run_coroutine, None, abody).result()
            else:
                _run_coroutine(getattr(self._local, "runner", None), abody)
        except BaseException as exc:  # noqa: BLE001 - classified by the caller
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return exc
        return None


def _classify(
    result: ReplayResult, ctx: WorkflowContext, rec: WorkflowRecord, error: BaseException | None
) -> None:
    if ctx.diverged is not None or isinstance(error, NondeterminismError):
        result.outcome = DIVERGED
        result.divergence = ctx.diverged or error  # type: ignore[assignment]
        return
    if isinstance(error, ReplayStop):
        result.stopped_at = error.position if error.position is not None else _last(ctx)
        result.stopped_because = error.reason or _waiting(ctx)
        return
    if isinstance(error, WorkflowInterrupt):
        result.outcome, result.error = ERROR, f"interrupted: {type(error).__name__}"
        return
    leftover = sorted(p for p in ctx.history if p >= ctx.next_position)
    if error is not None and not _same_failure(rec, error):
        result.outcome = ERROR
        result.error = f"the code raised {type(error).__name__}: {error}"
        if leftover:
            result.error += f" (at position {leftover[0]}, where the recorded run went on)"
    elif leftover:
        end = "returned" if error is None else f"raised {type(error).__name__}"
        op = ctx.history[leftover[0]]
        result.outcome = DIVERGED
        result.divergence = divergence(
            ctx, op.position, op, "", "", requested=f"nothing more (the workflow {end})"
        )


def _branches(
    gates: Mapping[str, tuple[int, bool | None]], diverged: NondeterminismError | None
) -> dict[str, bool]:
    """Which path each gate's history is on. A deprecated gate over another operation is on
    the old path when the code diverges right there, else on the deprecated code's path."""
    return {
        name: new if new is not None else not (diverged and diverged.position == pos)
        for name, (pos, new) in gates.items()
    }


def _same_failure(rec: WorkflowRecord, error: BaseException) -> bool:
    """The recorded run ended with this error too (so raising it replays faithfully)."""
    recorded = (rec.error or {}).get("type", "") if rec.status == Status.ERROR else ""
    return recorded.rpartition(":")[2] == type(error).__qualname__


def _last(ctx: WorkflowContext) -> int:
    return max(ctx.next_position - 1, 0)


def _waiting(ctx: WorkflowContext) -> str:
    if not ctx.trace:
        return "the recorded run waits here"
    _, kind, name = ctx.trace[-1]
    return f"the recorded run waits at {kind} {name!r}"


def _run_coroutine(runner: asyncio.Runner | None, fn: Callable[[], Any]) -> Any:
    """Run ``fn()`` on ``runner`` (or a new one) in a fresh context: the caller's context may
    be a step's or another workflow's."""
    if runner is None:
        with asyncio.Runner() as own:
            return own.run(fn(), context=contextvars.Context())
    return runner.run(fn(), context=contextvars.Context())


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def running_version(app: _App) -> str:
    """The version this app runs, or would launch as when it is not launched."""
    try:
        return app.version
    except ConfigurationError:  # not launched: the version it would launch as
        return app.resolve_version()[0]


__all__ = ["DIVERGED", "ERROR", "PASSED", "ReplayResult", "ReplayStop", "Replayer"]
