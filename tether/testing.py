"""Test helpers: replay committed workflow histories against the current code in CI.

Export histories of real runs once (``tether workflows export ID... --out tests/histories``),
commit them, and let a test prove every change to the workflow code still replays them:

    from tether.testing import assert_replays
    from myapp import app

    def test_old_runs_still_replay():
        assert_replays(app, "tests/histories")

A failure shows, per history, where the code diverged: the recorded operations around the
position next to what the code asked for, the nearest patch gate, the version that wrote the
history, and the ways to fix it.
"""

from __future__ import annotations

from pathlib import Path

from tether.versioning.replay import Replayer, ReplayResult

from .app import Tether
from .commands.replay import load_histories

__all__ = ["assert_replays", "replay_histories"]


def replay_histories(app: Tether, path: str | Path, pattern: str = "*.json") -> list[ReplayResult]:
    """Replay every history file under ``path`` (a folder, or one file) on ``app``'s code."""
    return Replayer(app).replay_all(load_histories(path, pattern))


def assert_replays(app: Tether, path: str | Path, pattern: str = "*.json") -> list[ReplayResult]:
    """Fail (AssertionError) unless every exported history under ``path`` replays cleanly on
    ``app``'s current code; an empty folder fails too, since it proves nothing."""
    results = replay_histories(app, path, pattern)
    if not results:
        raise AssertionError(f"no exported histories matching {pattern!r} in {path}")
    failed = [r for r in results if not r.passed]
    if failed:
        raise AssertionError(_report(failed, len(results)))
    return results


def _report(failed: list[ReplayResult], total: int) -> str:
    lines = [f"{len(failed)} of {total} recorded histories do not replay on this code:"]
    for r in failed:
        lines.append("")
        lines.append(f"- {r.summary()}")
        if r.divergence is not None:
            lines.append(str(r.divergence))
    return "\n".join(lines)
