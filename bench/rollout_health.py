"""How long the rollout's database reads take beside a large history (printed, not asserted).

    python -m bench.rollout_health [--rows 200000] [--db sqlite|postgres|both]

Fills one app with ``rows`` finished workflows of an old version (and their steps), a few
thousand of the candidate's, then times what a rollout gate and the drain read each round:
``version_health`` for both versions since a recent step start, and ``open_work``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

from sqlalchemy import insert
from tether.runtime.clock import now_ms
from tether.runtime.store import Store
from tether.runtime.store.health import open_work, version_health
from tether.runtime.store.schema import operations as O
from tether.runtime.store.schema import workflows as W

PG = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def fill(store: Store, version: str, n: int, start_ms: int, span_ms: int) -> None:
    batch = 5000
    for i in range(0, n, batch):
        rows, ops = [], []
        for j in range(i, min(n, i + batch)):
            wid = f"{version}-{j}"
            t = start_ms + span_ms * j // max(n, 1)
            status = "ERROR" if j % 50 == 0 else "SUCCESS"
            rows.append(
                dict(
                    app_name=store.app_name,
                    workflow_id=wid,
                    name="work",
                    status=status,
                    version=version,
                    inputs="[]",
                    lease_epoch=0,
                    priority=0,
                    recovery_attempts=0,
                    created_at=t,
                    updated_at=t + 40,
                    started_at=t,
                    completed_at=t + 40,
                )
            )
            ops.append(
                dict(
                    app_name=store.app_name,
                    workflow_id=wid,
                    position=0,
                    kind="step",
                    name="act",
                    version=version,
                    attempts=1,
                    started_at=t,
                    completed_at=t + 30,
                )
            )
        with store.db.write() as conn:
            conn.execute(insert(W), rows)
            conn.execute(insert(O), ops)


def timed(fn: Callable[[], object], repeat: int = 20) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def run(url: str, rows: int) -> dict[str, float]:
    store = Store(url, f"bench{uuid.uuid4().hex[:8]}")
    store.migrate()
    now = now_ms()
    fill(store, "old", rows, now - 30 * 86_400_000, 30 * 86_400_000 - 3_600_000)
    fill(store, "new", min(rows // 20, 5000), now - 3_600_000, 3_600_000)
    if not store.db.is_sqlite:  # a steady state: autovacuum has analyzed the table
        with store.db.write() as conn:
            conn.exec_driver_sql("ANALYZE tether_workflows")
            conn.exec_driver_sql("ANALYZE tether_operations")
    since = now - 600_000
    db, app = store.db, store.app_name
    out = {
        "health old (ms)": timed(lambda: version_health(db, app, "old", since, exclude="tether.")),
        "health new (ms)": timed(lambda: version_health(db, app, "new", since, exclude="tether.")),
        "open_work (ms)": timed(lambda: open_work(db, app, exclude="tether.")),
    }
    store.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = p.parse_args()
    targets = []
    if args.db in ("sqlite", "both"):
        targets.append(("sqlite", f"sqlite:///{tempfile.mkdtemp()}/bench.db"))
    if args.db in ("postgres", "both"):
        targets.append(("postgres", PG))
    for name, url in targets:
        figures = run(url, args.rows)
        print(
            f"{name:9} rows={args.rows:>8}  "
            + "  ".join(f"{k} {v:7.2f}" for k, v in figures.items())
        )


if __name__ == "__main__":
    main()
