"""The scheduled orphan check: open work whose version has no live executor wakes a revision
of that version through the platform; each wake is recorded, and a failed one reported."""

from __future__ import annotations

from collections.abc import Callable

from tether.rollout.orphans import check_orphans
from tether.rollout.platforms import platform_spec

from tether import Tether

from .helpers import wait_until
from .rollout_helpers import OLD, service


def test_orphaned_work_wakes_its_revision_and_failures_are_reported(
    make_app: Callable[..., Tether],
) -> None:
    s = service(make_app)
    old = s.v1.start_workflow("waiter")
    wait_until(lambda: s.v1.list_steps(old.workflow_id), 20, "the waiter to start")
    s.v1.shutdown(grace=0.5)  # v1's open waiter has no executor left
    spec = platform_spec(s.platform)
    lease = s.v2.settings.lease_timeout_ms
    s.faults.fail_wake(OLD)
    [failed] = check_orphans(s.v2.store, spec, lease, now=1)
    assert (failed["version"], failed["woken"]) == ("v1", False)
    assert failed["reason"] == (
        f"1 open workflow(s) of v1 and no live executor: {OLD} has no tag to be woken through, "
        "tag it 'v-v1' and wake it; waking it failed (no answer): its workflows stay orphaned "
        "until an executor of v1 runs"
    )
    s.faults.fail_wake(OLD, False)
    [woken] = check_orphans(s.v2.store, spec, lease, now=2)
    assert woken["woken"] is True and s.faults.wakes(OLD) == 1
    log = s.v2.rollouts.orphan_log("svc")
    assert [(e.kind, e.detail["revision"]) for e in log] == [
        ("orphan-reported", OLD),
        ("orphan-woken", OLD),
    ]
    # With the work done (an executor of v1 ran it), nothing is orphaned any more.
    s.v2.cancel(old.workflow_id)
    assert check_orphans(s.v2.store, spec, lease, now=3) == []


def test_the_check_is_a_scheduled_workflow_of_the_app(make_app: Callable[..., Tether]) -> None:
    s = service(make_app)
    old = s.v1.start_workflow("waiter")
    wait_until(lambda: s.v1.list_steps(old.workflow_id), 20, "the waiter to start")
    s.v1.shutdown(grace=0.5)
    watcher = make_app(version="v3")
    name = watcher.rollouts.watch_orphans(s.platform, cron="0 0 1 1 *")
    watcher.launch()
    watcher.set_current_version("v3")  # scheduled workflows run on the current version
    wid = watcher.schedules.trigger(name)
    [woken] = watcher.retrieve_workflow(wid).result(timeout=20)
    assert (woken["version"], woken["revision"], woken["woken"]) == ("v1", OLD, True)
    assert s.faults.wakes(OLD) == 1
