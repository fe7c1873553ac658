"""Autoscaling from queue load: the scheduled workflow sets min/max instances within bounds,
scale-in is debounced, and every change is recorded with its reason."""

from __future__ import annotations

from collections.abc import Callable

from tether.rollout.autoscale import ScalePolicy
from tether.rollout.autoscaler import scale_once
from tether.rollout.memory import MemoryPlatform
from tether.rollout.platforms import platform_spec
from tether.runtime.clock import now_ms

from tether import Client, Tether

POLICY = ScalePolicy(min_floor=1, max_ceiling=8, per_instance=10, headroom=1.0, scale_in_delay=60)


def test_scheduled_autoscaler_follows_the_backlog(
    make_app: Callable[..., Tether], database_url: str, app_name: str
) -> None:
    platform = MemoryPlatform("svc")
    platform.deploy("svc-1", version="v1", percent=100)
    app = make_app()
    name = app.rollouts.autoscale(platform, POLICY, cron="0 0 1 1 *", queues=["backlog"])
    app.launch()
    with Client(database_url, app_name) as client:  # work no launched executor consumes
        waiting = [client.enqueue("backlog", "nobody", workflow_id=f"w{i}") for i in range(35)]
    wid = app.schedules.trigger(name)
    app.retrieve_workflow(wid).result(timeout=20)
    assert (platform.describe().min_instances, platform.describe().max_instances) == (4, 8)
    [change] = app.rollouts.scaling_log("svc")
    assert (
        change.detail["reason"]
        == "scale out to 4: 35 waiting, 0 running, oldest waits "
        + (change.detail["reason"].rsplit("oldest waits ", 1)[1])
    )
    assert change.detail["load"]["waiting"] == 35

    # The backlog goes away: scale-in waits for the load to stay low, then acts once.
    for h in waiting:
        app.cancel(h.workflow_id)
    spec = platform_spec(platform)
    t0 = now_ms()
    held = scale_once(app.store, spec, POLICY, queues=["backlog"], now=t0)
    assert (held["change"], held["min_instances"]) == (False, 4)
    assert "low for 0s of 60s" in held["reason"]
    still = scale_once(app.store, spec, POLICY, queues=["backlog"], now=t0 + 30_000)
    assert (still["change"], still["min_instances"]) == (False, 4)
    scaled = scale_once(app.store, spec, POLICY, queues=["backlog"], now=t0 + 60_000)
    assert (scaled["change"], scaled["min_instances"]) == (True, 1)
    assert platform.describe().min_instances == 1
    log = app.rollouts.scaling_log("svc")
    assert [e.detail["min_instances"] for e in log] == [4, 1]
    assert "scale in to 1 after 60s of low load" in log[-1].detail["reason"]
