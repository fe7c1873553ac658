"""History retention: how fast ``app.retention.collect`` deletes finished workflows.

    python -m bench.retention                       # SQLite and Postgres, 1,000,000 rows
    python -m bench.retention --quick --db sqlite   # 100,000 rows

Seeds finished workflows (a day old, each with ``--steps`` recorded operations, so the
default 250,000 workflows x 3 operations + the workflows themselves is 1,000,000 rows), plus
1 % open workflows and their finished children that must stay; then collects everything
finished more than an hour ago, in batches of ``--batch-size``, and prints workflows and
rows deleted per second. Seeding is not timed; the tables are analyzed after it, as they
would be in service (Postgres plans the candidate query from statistics).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from typing import Any

from sqlalchemy import func, insert, select
from tether.runtime.clock import now_ms
from tether.runtime.store import migrate
from tether.runtime.store.schema import operations, workflows

from tether import Tether

from .common import drop_pg_database, fresh_pg_database, fresh_sqlite_file, run_db_name

APP = "bench-retention"
CHUNK = 5000


def seed(app: Tether, n: int, steps: int) -> None:
    old = now_ms() - 86_400_000
    open_every = 100
    wf_rows: list[dict[str, Any]] = []
    op_rows: list[dict[str, Any]] = []

    def flush() -> None:
        with app.store.db.write() as conn:
            if wf_rows:
                conn.execute(insert(workflows), wf_rows)
            if op_rows:
                conn.execute(insert(operations), op_rows)
        wf_rows.clear()
        op_rows.clear()

    for i in range(n):
        wid = f"w{i:08d}"
        parent = f"w{i - 1:08d}" if i % open_every == 1 else None  # child of an open one
        status = "PENDING" if i % open_every == 0 else "SUCCESS"
        at = old + i
        wf_rows.append(
            {
                "app_name": APP, "workflow_id": wid, "name": "bench", "status": status,
                "version": "v1", "inputs": "[[], {}]", "output": "1", "parent_id": parent,
                "created_at": at, "updated_at": at, "started_at": at,
                "completed_at": None if status == "PENDING" else at + 1,
            }
        )  # fmt: skip
        for p in range(steps):
            op_rows.append(
                {
                    "app_name": APP, "workflow_id": wid, "position": p, "kind": "step",
                    "name": f"step{p}", "output": '{"ok": true}', "version": "v1",
                    "started_at": at, "completed_at": at + 1,
                }
            )  # fmt: skip
        if len(wf_rows) >= CHUNK:
            flush()
    flush()


def total_rows(app: Tether) -> int:
    with app.store.db.read() as conn:
        return sum(
            int(conn.execute(select(func.count()).select_from(t).where(t.c.app_name == APP))
                .scalar() or 0)
            for t in (workflows, operations)
        )  # fmt: skip


def run(url: str, label: str, n: int, steps: int, batch_size: int) -> dict[str, Any]:
    app = Tether(app_name=APP, database_url=url, version="v1", install_signal_handlers=False)
    migrate.migrate(app.store.db)
    t0 = time.perf_counter()
    seed(app, n, steps)
    with app.store.db.write() as conn:  # statistics, as autovacuum would have gathered them
        conn.exec_driver_sql("ANALYZE")
    seeded = time.perf_counter() - t0
    before = total_rows(app)
    report = app.retention.collect(max_age="1h", batch_size=batch_size)
    after = total_rows(app)
    app.close()
    rows = before - after
    result = {
        "db": label,
        "rows_before": before,
        "workflows_deleted": report.deleted,
        "rows_deleted": rows,
        "rows_kept": after,
        "batch_size": batch_size,
        "batches": report.batches,
        "seconds": round(report.seconds, 2),
        "workflows_per_s": round(report.deleted / report.seconds),
        "rows_per_s": round(rows / report.seconds),
        "ms_per_batch": round(1000 * report.seconds / max(1, report.batches), 1),
        "seed_seconds": round(seeded, 1),
    }
    print(json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="100,000 rows instead of 1,000,000")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    rows = 100_000 if args.quick else 1_000_000
    n = rows // (args.steps + 1)
    results = []
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            path = fresh_sqlite_file(tmp, "retention")
            results.append(run(f"sqlite:///{path}", "sqlite", n, args.steps, args.batch_size))
    if args.db in ("postgres", "both"):
        name = run_db_name("tether")
        url = fresh_pg_database(name)
        try:
            results.append(run(url, "postgres", n, args.steps, args.batch_size))
        finally:
            drop_pg_database(name)
    print()
    print(f"{'db':<10}{'rows deleted':>14}{'workflows/s':>14}{'rows/s':>12}{'ms/batch':>10}")
    for r in results:
        print(
            f"{r['db']:<10}{r['rows_deleted']:>14,}{r['workflows_per_s']:>14,}"
            f"{r['rows_per_s']:>12,}{r['ms_per_batch']:>10}"
        )


if __name__ == "__main__":
    main()
