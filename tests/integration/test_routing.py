"""Version routing of new queued work: validated changes, ramping by a stable hash, the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from tether.runtime.errors import ConfigurationError
from tether.runtime.routing import Routing

from tether import Tether
from tether.cli import cli

from .queue_helpers import Recorder, queued_app

# The ids r-0..r-39 whose bucket is below 5,000: the share a 50 % ramp sends to v2.
RAMPED_AT_50 = {0, 1, 5, 6, 8, 10, 11, 12, 13, 15, 17, 18, 20, 23, 24, 27, 29, 31, 33, 34, 35, 36}
RAMPED_AT_50 |= {37, 39}


def two_versions(make_app: Callable[..., Tether]) -> tuple[Tether, Tether, Recorder]:
    rec = Recorder()
    v1, _ = queued_app(make_app, rec, version="v1")
    v2, _ = queued_app(make_app, rec, version="v2")
    return v1, v2, rec


def test_set_routing_is_validated(make_app: Callable[..., Tether]) -> None:
    v1, _, _ = two_versions(make_app)
    assert v1.routing() == Routing("v1")  # the first launch became current
    for kwargs, message in (
        ({"current": "v7"}, "unknown version 'v7'"),
        ({"ramping": "v7", "percent": 5}, "unknown version 'v7'"),
        ({"ramping": "v2", "percent": 101}, "within 0..100"),
        ({"ramping": "v2", "percent": -1}, "within 0..100"),
        ({"ramping": "v1", "percent": 10}, "equals the current version"),
        ({"percent": 10}, "needs a ramping version"),
        ({"ramping": "v2"}, "needs a percent"),
    ):
        with pytest.raises(ConfigurationError, match=message):
            v1.set_routing(**kwargs)  # type: ignore[arg-type]
    assert v1.routing() == Routing("v1")  # nothing changed


def test_new_work_follows_the_ramp_and_explicit_versions_win(
    make_app: Callable[..., Tether],
) -> None:
    v1, v2, rec = two_versions(make_app)
    q = v1.queue("q")
    routing = v1.set_routing(ramping="v2", percent=50)
    assert routing == Routing("v1", "v2", 50.0)
    handles = [q.enqueue("job", i, workflow_id=f"r-{i}") for i in range(40)]
    for h in handles:
        h.result(timeout=20)
    got = {h.workflow_id: v1.get_workflow(h.workflow_id).version for h in handles}
    # Frozen: these ids hash below 5,000 of 10,000 buckets (see tests/unit/test_routing.py).
    expected = {f"r-{i}": "v2" if i in RAMPED_AT_50 else "v1" for i in range(40)}
    assert got == expected
    assert set(got.values()) == {"v1", "v2"}  # both took a share
    pinned = q.enqueue("job", "pinned", version="v1", workflow_id="r-pinned")
    assert v1.get_workflow(pinned.workflow_id).version == "v1"
    # Promote: every new workflow to v2, the ramp ends.
    assert v2.set_routing(current="v2") == Routing("v2")
    assert v1.get_workflow(q.enqueue("job", "after").workflow_id).version == "v2"


def test_routing_cli_show_and_set(
    make_app: Callable[..., Tether], database_url: str, app_name: str
) -> None:
    two_versions(make_app)
    env = {"TETHER_DATABASE_URL": database_url, "TETHER_APP_NAME": app_name}
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.output

    shown = json.loads(run("--json", "routing"))
    assert shown == {"current": "v1", "ramping": None, "percent": 0.0,
                     "known_versions": ["v1", "v2"]}  # fmt: skip
    after = json.loads(run("routing", "set", "--ramping", "v2", "--percent", "10", "--json"))
    assert (after["current"], after["ramping"], after["percent"]) == ("v1", "v2", 10.0)
    assert "v2 (10% of new workflow ids)" in run("routing")
    bad = runner.invoke(cli, ["routing", "set", "--current", "nope"], env=env)
    assert bad.exit_code == 1 and "unknown version 'nope'" in bad.output
