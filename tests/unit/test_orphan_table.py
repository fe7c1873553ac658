"""Which orphaned versions are woken through which revision (rollout.orphans.find_orphans)."""

from __future__ import annotations

import pytest
from tether.rollout.orphans import MISSING, TAG_AND_WAKE, WAKE, find_orphans
from tether.rollout.platform import Revision

REVS = (
    Revision("svc-1", "v1", ready=True, percent=0, tag="v-v1"),
    Revision("svc-2", "v2", ready=True, percent=100),
    Revision("svc-3", "v3", ready=True, percent=0),
    Revision("svc-4a", "v4", ready=False, percent=0, tag="old"),
    Revision("svc-4b", "v4", ready=True, percent=0, tag="new"),
    Revision("svc-5", None, ready=True, percent=0, tag="v-5"),
)


@pytest.mark.parametrize(
    ("work", "live", "linked", "expected"),
    [
        # Nothing open, or an executor runs it: no orphan.
        ({}, {}, {}, []),
        ({"v1": 0}, {}, {}, []),
        ({"v1": 2}, {"v1": 1}, {}, []),
        # Orphaned, tagged at 0 %: wake it through its tag.
        ({"v1": 2}, {}, {}, [("v1", WAKE, "svc-1", "v-v1")]),
        # Orphaned while serving (its instances all died), untagged: tag it to wake it.
        ({"v2": 1}, {"v1": 3}, {}, [("v2", TAG_AND_WAKE, "svc-2", "v-v2")]),
        # Untagged at 0 %: it cannot be reached until tagged.
        ({"v3": 1}, {}, {}, [("v3", TAG_AND_WAKE, "svc-3", "v-v3")]),
        # Two revisions of one version: the ready one.
        ({"v4": 1}, {}, {}, [("v4", WAKE, "svc-4b", "new")]),
        # No revision of the version is left: reported, nothing to wake.
        ({"v9": 4}, {}, {}, [("v9", MISSING, None, None)]),
        # A revision whose version the platform cannot say, linked by the registry.
        ({"app-7": 1}, {}, {"svc-5": "app-7"}, [("app-7", WAKE, "svc-5", "v-5")]),
        # Several at once, in version order.
        (
            {"v3": 1, "v1": 1, "v2": 5},
            {"v2": 1},
            {},
            [("v1", WAKE, "svc-1", "v-v1"), ("v3", TAG_AND_WAKE, "svc-3", "v-v3")],
        ),
    ],
)
def test_find_orphans(
    work: dict[str, int],
    live: dict[str, int],
    linked: dict[str, str],
    expected: list[tuple[str, str, str | None, str | None]],
) -> None:
    got = find_orphans(REVS, work, live, linked)
    assert [(o.version, o.action, o.revision, o.tag) for o in got] == expected


def test_the_reason_says_what_to_do() -> None:
    [missing] = find_orphans(REVS, {"v9": 4}, {})
    assert missing.reason == (
        "4 open workflow(s) of v9 and no revision of it to wake: deploy it again, or move them "
        "(`tether workflows migrate`)"
    )
    [tag] = find_orphans(REVS, {"v3": 1}, {})
    assert "svc-3 has no tag to be woken through, tag it 'v-v3' and wake it" in tag.reason
