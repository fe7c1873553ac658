"""Who a notification wakes: only the waiters of that workflow on that topic (or on any)."""

from __future__ import annotations

import pytest
from tether.runtime.waiting import Mailboxes, Signal

# (registered as (workflow id, topic), notified (workflow id, topic), woken)
CASES = [
    ([("a", "go")], ("a", "go"), [True]),
    ([("a", "go")], ("a", "stop"), [False]),  # another topic of the same workflow
    ([("a", "go")], ("b", "go"), [False]),  # another workflow
    ([("a", "go")], ("a", None), [True]),  # a local send that names no topic wakes all
    ([("a", None)], ("a", "go"), [True]),  # a waiter of any topic
    ([("a", "go"), ("a", "stop"), ("b", "go")], ("a", "go"), [True, False, False]),
    ([("a", "go"), ("a", "go")], ("a", "go"), [True, True]),  # two waiters, both
]


@pytest.mark.parametrize(("registered", "notified", "woken"), CASES)
def test_notify_wakes_only_matching_waiters(
    registered: list[tuple[str, str | None]],
    notified: tuple[str, str | None],
    woken: list[bool],
) -> None:
    boxes = Mailboxes()
    signals = [Signal() for _ in registered]
    pairs = zip(registered, signals, strict=True)
    contexts = [boxes.listening(wid, s, topic) for (wid, topic), s in pairs]
    for c in contexts:
        c.__enter__()
    boxes.notify(*notified)
    assert [s.generation == 1 for s in signals] == woken
    assert boxes.waiting() == {wid: {t for w, t in registered if w == wid} for wid, _ in registered}
    for c in contexts:
        c.__exit__(None, None, None)
    assert boxes.waiting() == {} and len(boxes) == 0


def test_a_waiter_gone_is_not_woken() -> None:
    boxes, signal = Mailboxes(), Signal()
    with boxes.listening("a", signal, "go"):
        pass
    boxes.notify("a", "go")
    assert signal.generation == 0
