"""A workflow runs only on its own version (or a declared compatible one); else it is orphaned."""

from __future__ import annotations

from collections.abc import Callable

import tether
from tether import Status, Tether

from .helpers import wait_until


def build(make_app: Callable[..., Tether], runs: list[str], version: str, **kw: object) -> Tether:
    app = make_app(version=version, **kw)

    @app.workflow(name="job")
    def job() -> object:
        runs.append(version)
        return tether.recv("go", timeout=30)

    return app.launch()


def test_unrunnable_version_is_orphaned_never_run(make_app: Callable[..., Tether]) -> None:
    runs: list[str] = []
    v9 = build(make_app, runs, "v9")
    v9.start_workflow("job", workflow_id="j")
    wait_until(lambda: v9.list_steps("j"), what="the job to wait for its message")
    v9.shutdown()

    v1 = build(make_app, runs, "v1")
    assert v1.orphaned() == {"v9": 1}
    assert v1._executor is not None and v1._executor.recover() == 0
    rec = v1.get_workflow("j")
    assert (rec.status, rec.version, rec.executor_id) == (Status.PENDING, "v9", None)
    assert runs == ["v9"]
    summary = {row["version"]: row for row in v1.version_summary()}
    assert summary["v9"]["orphaned"] == 1 and summary["v1"]["executors"] == 1

    # An executor that declares v9 compatible may take it over.
    compatible = build(make_app, runs, "v1", compatible_with=("v9",))
    wait_until(lambda: runs == ["v9", "v1"], what="the compatible executor to run it")
    assert compatible.orphaned() == {} and v1.orphaned() == {}
    compatible.send("j", "done", topic="go")
    assert compatible.retrieve_workflow("j").result(timeout=10) == "done"
    assert compatible.get_workflow("j").version == "v9"  # still tethered to its version
