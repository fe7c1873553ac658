"""The SQL views read by dashboards, queried on both backends over a real fleet."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from tether.runtime.store.schema import metadata
from tether.runtime.store.views import VIEWS

from .conftest import Fleet


def rows(fleet: Fleet, view: str) -> list[dict[str, Any]]:
    with fleet.admin.store.db.read() as conn:
        result = conn.execute(
            text(f"SELECT * FROM {view} WHERE app_name = :app"), {"app": fleet.admin.app_name}
        )
        return [dict(r._mapping) for r in result]


def test_every_view(fleet: Fleet) -> None:
    assert set(VIEWS) == {
        "tether_version_stats",
        "tether_workflow_stats",
        "tether_queue_stats",
        "tether_rollout_status",
    }
    [ro] = rows(fleet, "tether_rollout_status")
    assert (ro["rollout_id"], ro["state"], ro["is_active"], ro["candidate_percent"]) == (
        "ro-1", "running", 1, 25,
    )  # fmt: skip
    assert (ro["decisions"], ro["baseline"], ro["candidate"]) == (2, "shop-v1", "shop-v2")

    [v1] = rows(fleet, "tether_version_stats")
    assert (v1["version"], v1["state"], v1["is_current"]) == ("v1", "active", 1)
    assert float(v1["traffic_percent"]) == 100.0
    # order-7, its child and three jobs succeeded; explode-1 failed; approval-1 waits
    assert (v1["succeeded"], v1["failed"], v1["pending"], v1["open_total"]) == (5, 1, 1, 1)
    assert v1["live_executors"] == 1

    stats = rows(fleet, "tether_workflow_stats")
    total = {(r["workflow_name"], r["status"]): 0 for r in stats}
    for r in stats:
        total[r["workflow_name"], r["status"]] += r["workflows"]
    assert total == {
        ("checkout", "SUCCESS"): 1,
        ("child", "SUCCESS"): 1,
        ("explode", "ERROR"): 1,
        ("approval", "PENDING"): 1,
        ("job", "SUCCESS"): 3,
    }
    assert all(r["minute"] % 60000 == 0 for r in stats)

    [jobs] = rows(fleet, "tether_queue_stats")
    assert (jobs["queue_name"], jobs["version"], jobs["waiting"], jobs["running"]) == (
        "jobs", "v1", 0, 0,
    )  # fmt: skip
    assert (jobs["finished_5m"], jobs["failed_5m"], jobs["started_5m"]) == (3, 0, 3)
    assert jobs["avg_start_latency_ms_5m"] is not None and jobs["oldest_wait_ms"] == 0


GRAFANA = Path(__file__).resolve().parents[2] / "examples" / "grafana" / "tether.json"


def grafana_queries() -> list[str]:
    board = json.loads(GRAFANA.read_text())
    queries = [t["rawSql"] for p in board["panels"] for t in p["targets"]]
    return queries + [v["query"] for v in board["templating"]["list"]]


@pytest.mark.parametrize("backend", ["postgres"])
def test_grafana_board_reads_only_the_views(fleet: Fleet) -> None:
    """Every query of the board names only the views, and runs on Postgres as Grafana
    would send it (macros expanded) with rows for the fleet."""
    tables = {t.name for t in metadata.sorted_tables}
    for sql in grafana_queries():
        named = set(re.findall(r"\b(tether_\w+)", sql))
        assert named and named <= set(VIEWS), (named, sql)
        assert not named & tables
    now = int(time.time() * 1000)
    answered = 0
    with fleet.admin.store.db.read() as conn:
        for sql in grafana_queries():
            expanded = (
                sql.replace("$app", fleet.admin.app_name)
                .replace("$__from", str(now - 3_600_000))
                .replace("$__to", str(now + 60_000))
            )
            answered += bool(conn.execute(text(expanded)).all())
    assert answered == len(grafana_queries())
