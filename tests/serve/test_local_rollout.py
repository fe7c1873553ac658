"""A whole rollout on LocalPlatform: real ``tether serve`` revisions behind the local router,
the controller in this process (which runs the platform), promoted, then the old revision
retired once drained."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

from tether.rollout.actions import drain_id
from tether.rollout.local import LocalPlatform
from tether.rollout.router import REVISION_HEADER
from tether.runtime.routing import Routing

from tether import Tether

from .conftest import ROOT, TARGET


def test_a_rollout_on_local_processes_promotes_and_retires_the_old_revision(
    make_app: Callable[..., Tether], database_url: str, app_name: str, tmp_path: Path
) -> None:
    with LocalPlatform(
        database_url=database_url, app_name=app_name, workdir=tmp_path, app_dir=ROOT
    ) as platform:
        platform.deploy("v1", TARGET, instances=1)  # serves 100 %
        platform.deploy("v2", TARGET, instances=1)  # 0 %
        controller = make_app(version="ctl").launch()
        h = controller.rollouts.start(
            platform, "v2", steps=[50, 100], bake=0.2, gates={"min_sample": 0}, drain_interval=0.2
        )
        assert h.wait(60).outcome == "promoted"
        assert platform.describe().traffic == {"v2": 100}
        assert controller.routing() == Routing("v2")
        with urllib.request.urlopen(platform.router_url + "/healthz", timeout=30) as resp:
            assert resp.headers[REVISION_HEADER] == "v2"
        # Once the database shows no open work of v1, the drain retires it.
        drain = controller.retrieve_workflow(drain_id(h.rollout_id))
        assert drain.result(timeout=60)["action"] == "retire"
        assert platform.describe().revision("v1").tag is None  # type: ignore[union-attr]
        assert platform.instances("v1") == []
