"""The tether executor process of the acceptance tests (every cluster spawns this one).

It builds an app from its arguments, launches it from the main thread (so SIGTERM drains),
optionally starts workflows, and then idles until a signal ends it. Each step appends one
JSON line to an effects file opened with ``O_APPEND`` *before* doing its work, outside the
framework, so that a step run twice shows up as two lines, whatever the database says.

Effect lines: ``{"event", "wid", "index", "executor", "pid", "version", "t"}`` with events
``ready`` (launched), ``step`` (a step began), ``interrupt`` (a workflow was stopped by the
framework, with ``kind``) and ``result`` (a started workflow's result, with ``value``).

``--watchers N`` starts N ``watcher`` workflows: step 0, ``app.get_event(--target, "ready")``
with no timeout, step 1. ``--set-event`` starts ``setter`` (id ``--wid``), which notes ``set``
and sets its event ``ready``. ``--no-suspend`` keeps every wait in memory; ``--poll`` is the
poll interval (a long one leaves only notifications to wake a wait).
``--compatible-with V`` (repeatable) declares versions this executor may also run.
``--queue`` declares queue ``q`` (``--concurrency``, ``--worker-concurrency``) that it
dequeues ``job(item, seconds)`` from; the job's step appends ``begin`` and ``end`` lines.
``--schedule CRON`` runs workflow ``tick`` on that schedule (a ``tick`` line each time).
``--stream``: ``chain`` writes each step's index to its stream ``out`` after the step.
``--agents N`` starts N ``agent`` workflows: step 0, ``recv("go")`` (suspended after
``--suspend-after`` seconds), then steps 1.. (gated from ``--gated-from``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import faulthandler
import json
import os
import signal
import time
from typing import Any

import tether
from tether import Tether, errors


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--db", required=True, help="database URL")
    p.add_argument("--app", required=True, help="app name")
    p.add_argument("--version", required=True)
    p.add_argument("--executor-id", required=True)
    p.add_argument("--effects", required=True, help="file that steps append their effects to")
    p.add_argument("--lease", type=float, default=1.0)
    p.add_argument("--heartbeat", type=float, default=0.2)
    p.add_argument("--recovery", type=float, default=0.05)
    p.add_argument("--grace", type=float, default=3.0)
    p.add_argument("--gate", help="gated steps wait until this file exists")
    p.add_argument("--go", help="wait until this file exists before starting workflows")
    p.add_argument("--start", type=int, default=0, help="how many workflows to start")
    p.add_argument("--wid", default="wf", help="workflow id (a prefix when --start > 1)")
    p.add_argument("--steps", type=int, default=3, help="steps per workflow")
    p.add_argument("--pause", type=float, default=0.0, help="seconds each step works")
    p.add_argument("--gated-from", type=int, default=-1, help="steps from here wait on --gate")
    p.add_argument("--wait-result", action="store_true", help="record each started result")
    p.add_argument("--compatible-with", action="append", default=[])
    p.add_argument("--queue", action="store_true", help="declare queue q and dequeue from it")
    p.add_argument("--concurrency", type=int, help="queue q's global concurrency")
    p.add_argument("--worker-concurrency", type=int, help="queue q's per-executor concurrency")
    p.add_argument("--schedule", help="cron of the `tick` schedule")
    p.add_argument("--stream", action="store_true", help="chain writes each step to 'out'")
    p.add_argument("--workflow-timeout", type=float, help="started workflows' timeout (s)")
    p.add_argument("--agents", type=int, default=0, help="how many agent workflows to start")
    p.add_argument("--suspend-after", type=float, default=1.0)
    p.add_argument("--no-suspend", action="store_true", help="suspend_after=None")
    p.add_argument("--poll", type=float, default=0.05, help="poll interval (s)")
    p.add_argument("--watchers", type=int, default=0, help="watcher workflows to start")
    p.add_argument("--target", default="setter", help="the workflow watchers wait on")
    p.add_argument("--set-event", action="store_true", help="start `setter` (id --wid)")
    p.add_argument("--hold-at", type=int, default=-1, help="before this step, in workflow code")
    p.add_argument("--hold-file", help="... wait until this file exists (a `holding` line)")
    return p.parse_args(argv)


def wait_for_file(path: str) -> None:
    while not os.path.exists(path):
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # stack dumps for a stuck test
    fd = os.open(args.effects, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def note(event: str, **fields: Any) -> None:
        line = {"event": event, "executor": args.executor_id, "pid": os.getpid()}
        line["version"] = args.version
        line.update(fields, t=time.time())
        os.write(fd, (json.dumps(line) + "\n").encode())  # one write: appends never interleave

    app = Tether(
        app_name=args.app,
        database_url=args.db,
        version=args.version,
        executor_id=args.executor_id,
        compatible_with=args.compatible_with,
        lease_timeout=args.lease,
        heartbeat_interval=args.heartbeat,
        recovery_interval=args.recovery,
        poll_interval=args.poll,
        shutdown_grace=args.grace,
        suspend_after=None if args.no_suspend else args.suspend_after,
        install_signal_handlers=True,
    )

    @app.step()
    def effect(wid: str, index: int, pause: float, gated: bool) -> int:
        if gated and args.gate:
            wait_for_file(args.gate)
        note("step", wid=wid, index=index)
        time.sleep(pause)
        return index

    @app.workflow(name="chain")
    def chain(steps: int, pause: float, gated_from: int) -> list[int]:
        wid = tether.workflow_id()
        try:
            done = []
            for i in range(steps):
                if i == args.hold_at and args.hold_file:
                    note("holding", wid=wid, index=i)  # between two steps, in workflow code
                    wait_for_file(args.hold_file)
                done.append(effect(wid, i, pause, gated_from >= 0 and i >= gated_from))
                if args.stream:
                    tether.write_stream("out", i)
            return done
        except errors.WorkflowInterrupt as exc:
            note("interrupt", wid=wid, kind=type(exc).__name__)
            raise

    @app.workflow(name="agent")
    def agent(steps: int, gated_from: int) -> list[Any]:
        wid = tether.workflow_id()
        first = effect(wid, 0, 0.0, False)
        got = tether.recv("go")
        rest = [effect(wid, i, 0.0, gated_from >= 0 and i >= gated_from) for i in range(1, steps)]
        return [got, first, *rest]

    @app.workflow(name="watcher")
    def watcher(target: str) -> Any:
        wid = tether.workflow_id()
        effect(wid, 0, 0.0, False)
        got = app.get_event(target, "ready", timeout=None)
        effect(wid, 1, 0.0, False)
        return got

    @app.workflow(name="setter")
    def setter() -> None:
        note("set", wid=tether.workflow_id())
        tether.set_event("ready", "yes")

    if args.queue:
        declare_queue(app, args, note)

    app.launch()
    note("ready")
    if args.go:
        wait_for_file(args.go)
    handles = []
    for i in range(args.start):
        wid = args.wid if args.start == 1 else f"{args.wid}-{i}"
        handles.append(
            app.start_workflow(
                chain,
                args.steps,
                args.pause,
                args.gated_from,
                workflow_id=wid,
                workflow_timeout=args.workflow_timeout,
            )
        )
    for i in range(args.agents):
        app.start_workflow(agent, args.steps, args.gated_from, workflow_id=f"{args.wid}-{i}")
    for i in range(args.watchers):
        app.start_workflow(watcher, args.target, workflow_id=f"{args.wid}-{i}")
    if args.set_event:
        app.start_workflow(setter, workflow_id=args.wid)
    if args.wait_result:
        for h in handles:
            note("result", wid=h.workflow_id, value=h.result(timeout=60))
    # Idle in the main thread (short sleeps, so the SIGTERM handler runs promptly).
    while True:
        time.sleep(0.05)


def declare_queue(app: Tether, args: argparse.Namespace, note: Any) -> None:
    app.queue("q", concurrency=args.concurrency, worker_concurrency=args.worker_concurrency)

    @app.step()
    def hold(wid: str, item: Any, seconds: float) -> Any:
        note("begin", item=item, wid=wid)
        time.sleep(seconds)
        note("end", item=item, wid=wid)
        return item

    @app.workflow(name="job")
    def job(item: Any, seconds: float = 0.0) -> Any:
        return hold(tether.workflow_id(), item, seconds)

    if args.schedule:

        @app.scheduled(args.schedule)
        @app.workflow(name="tick")
        def tick(at: dt.datetime) -> None:
            note("tick", at=at.isoformat(), wid=tether.workflow_id())


if __name__ == "__main__":
    main()
