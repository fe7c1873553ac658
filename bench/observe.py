"""What observing runs costs: W1 (empty workflows called directly) and W2 (10 trivial steps)
with no observer, a do-nothing observer, and tether.otel over the OpenTelemetry SDK (spans
and metrics recorded, no exporter), timed in alternating rounds in one process on one
database so that load on the machine hits every mode alike. The best round is reported.

    python -m bench.observe [--db sqlite|postgres] [--rounds 7] [--n 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from typing import Any

from tether.runtime import observe

from .common import quiet_logs
from .tether_workloads import build


class _Nothing:
    """The cheapest observer: every call returns at once (the seam's own cost)."""

    def run(self, info: observe.RunInfo) -> _Nothing:
        return self

    def step(self, name: str, position: int) -> _Nothing:
        return self

    def retrying(self, error: BaseException, delay: float) -> None:
        pass

    def ended(self, *args: Any) -> None:
        pass

    def enqueued(self, queue: str, name: str, version: str) -> None:
        pass

    def dequeued(self, queue: str, name: str, waited: float) -> None:
        pass


def _time(fn: Any, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.observe")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--url", help="Postgres database URL (with --db postgres)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=300, help="workflows per round and mode")
    args = parser.parse_args()
    quiet_logs()
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/observe.db"
    app, wf = build(url, f"obs{uuid.uuid4().hex[:8]}")
    app.launch()
    telemetry = app.instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    app.engine.observer = None
    modes: dict[str, Any] = {"none": None, "no-op observer": _Nothing(), "otel (SDK)": telemetry}
    loads = {
        "W1 µs/workflow": lambda: wf["empty"](),
        "W2 µs/workflow (10 steps)": lambda: wf["stepped"](10),
    }
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.rounds):
        for load, fn in loads.items():
            n = args.n if load.startswith("W1") else max(1, args.n // 10)
            for mode, observer in modes.items():
                app.engine.observer = observer
                _time(fn, 5)  # warm-up
                us = _time(fn, n)
                key = (load, mode)
                best[key] = min(best.get(key, float("inf")), us)
    app.shutdown()
    print(f"{args.db}: best of {args.rounds} alternating rounds")
    print(f"{'':28}" + "".join(f"{m:>18}" for m in modes))
    for load in loads:
        base = best[(load, "none")]
        cells = "".join(
            f"{best[(load, m)]:>10,.0f} ({best[(load, m)] / base:4.2f}x)" for m in modes
        )
        print(f"{load:28}{cells}")


if __name__ == "__main__":
    main()
