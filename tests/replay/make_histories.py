"""Record the committed histories: ``python -m tests.replay.make_histories`` (repo root).

Runs the shop's refund workflow at v1 and v2 on a scratch SQLite database and exports every
run into ``histories/``; finished runs and runs still waiting for approval alike.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tether.versioning.history_io import export

from . import shop

HERE = Path(__file__).parent / "histories"


def _run(version: str, url: str, approve: list[str], wait: list[str]) -> None:
    app = shop.make(version=version, app_name="shop", database_url=url).launch()
    for oid in approve + wait:
        app.start_workflow("refund_order", oid, workflow_id=f"{version}-{oid}")
    for oid in approve:
        wid = f"{version}-{oid}"
        if app.get_event(wid, "stage", timeout=10):
            app.send(wid, True, topic="approval")
        app.retrieve_workflow(wid).result(timeout=10)
    for oid in wait:
        app.get_event(f"{version}-{oid}", "stage", timeout=10)
    time.sleep(0.2)
    app.shutdown()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/shop.db"
        _run("v1", url, approve=["A-1"], wait=["A-2"])
        _run("v2", url, approve=["B-1", "B-2-x"], wait=["B-3"])
        app = shop.make(app_name="shop", database_url=url)
        ids = [r.workflow_id for r in app.list_workflows(name="refund_order")]
        for path in export(app.store, sorted(ids), HERE):
            print(path)


if __name__ == "__main__":
    main()
