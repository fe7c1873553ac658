"""The demo's live view renders what the scenario observed (it only runs on a terminal, so
the end-to-end test, which pipes the demo's output, never draws it)."""

from __future__ import annotations

from types import SimpleNamespace

from rich.console import Console

from tether.demo.journal import Journal
from tether.demo.scenario import State, describe
from tether.demo.view import render


def test_the_live_view_shows_split_workflows_kills_and_recoveries() -> None:
    journal = Journal()
    journal.add("kill", "SIGKILL v1-1 (v1) while it ran 2 workflow(s)")
    journal.add("recovery", "taken over by v1-2 (v1): ticket-0003, ticket-0007")
    rollout = SimpleNamespace(percent=50, state="running", reason=None)
    state = State(
        mode="release",
        app_name="refund-demo-x",
        phase="rolling out v2",
        rollout=rollout,
        traffic={"v1": 50, "v2": 50},
        tags={"v2": "v2"},
        instances={"v1": [{"executor_id": "v1-2", "healthy": True}], "v2": []},
        counts={("v1", "PENDING"): 4, ("v1", "SUCCESS"): 31, ("v2", "ERROR"): 2},
        killed=["v1-1"],
        recovered={"ticket-0003": "v1-2", "ticket-0007": "v1-2"},
    )
    console = Console(record=True, width=120)
    console.print(render(state, journal.entries()))
    text = console.export_text()
    assert "v1 50% / v2 50%" in text and "kills 1" in text and "recoveries 2" in text
    assert "v1-1 killed" in text and "retired" in text  # v2 has no process left
    cells = [line.strip("│ ").split() for line in text.splitlines()]
    rows = {c[0]: c for c in cells if c}
    assert rows["v1"][-3:] == ["4", "31", "0"] and rows["v2"][-3:] == ["0", "0", "2"]
    assert "taken over by v1-2 (v1): ticket-0003, ticket-0007" in text
    assert describe(rollout) == "v2 takes 50% of traffic and of new queued work; baking"
