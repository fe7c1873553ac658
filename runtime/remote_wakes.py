"""What a message, an event or a wake-up committed by another process does here.

A workflow waiting in memory (inside its suspend grace, or with suspension off) waits on its
own signal, registered in the recorder's mailboxes (``waiting.Mailboxes``); a send in this
process notifies it directly. A send from elsewhere (a Client, another executor, the CLI)
reaches it:

- on Postgres, through the NOTIFY that the sending transaction issues (``store.messages``),
  which names the addressee: exactly its waiters wake, and nobody else does any work;
- on SQLite, through the ``PRAGMA data_version`` watcher: after a commit by any other
  connection it asks, in one indexed read, which of the ids waiting here have a message (or
  an event) now, and wakes only those. It also looks for workflows woken from suspension
  and released (Postgres NOTIFYs those too) so that this executor claims them at once.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from .store.messages import EVENT, MESSAGE

if TYPE_CHECKING:
    from collections.abc import Callable

    from .engine import Engine

log = logging.getLogger("tether.wakeups")
# SQLite: the look for woken workflows runs at most this often (a busy database changes
# every few milliseconds); a change inside the gap is looked at when it ends (``on_tick``).
WOKEN_GAP = 0.01


class RemoteWakes:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.recorder = engine.recorder
        self._woken_at = 0.0  # when the last look for woken workflows ran (monotonic)
        self._woken_owed = False  # a change came inside the gap: look once it ends

    def on_note(self, app: str, kind: str, workflow_id: str, topic: str) -> None:
        """A Postgres note (see ``store.messages.WAKES``): wake the waiters it names."""
        if app != self.engine.store.app_name:
            return
        if kind == MESSAGE:
            self.recorder.mailboxes.notify(workflow_id, topic)
        elif kind == EVENT:
            self.recorder.events.notify(workflow_id, topic)

    def on_reconnect(self) -> None:
        """Notes sent while the listener was away are lost: every waiter looks again."""
        for boxes in (self.recorder.mailboxes, self.recorder.events):
            for workflow_id in boxes.waiting():
                boxes.notify(workflow_id)

    def on_change(self) -> None:
        """SQLite: something committed elsewhere. Wake the waiters it may concern."""
        self._woken_owed = True
        self._look(self._messages, self._events)
        self.on_tick()

    def on_tick(self) -> None:
        """SQLite, between changes: the look for woken workflows put off by the gap."""
        if self._woken_owed and time.monotonic() - self._woken_at >= WOKEN_GAP:
            self._woken_owed = False
            self._woken_at = time.monotonic()
            self._look(self._woken)

    def _look(self, *looks: Callable[[], None]) -> None:
        try:
            for look in looks:
                look()
        except Exception as exc:  # noqa: BLE001 - the next change (or a poll) looks again
            log.warning("looking for messages and wake-ups failed (%s); retrying", exc)

    def _messages(self) -> None:
        waiting = self.recorder.mailboxes.waiting()
        if waiting:
            for wid, topic in self.engine.store.messages.waiting_for(waiting):
                if topic in waiting[wid] or None in waiting[wid]:
                    self.recorder.mailboxes.notify(wid, topic)

    def _events(self) -> None:
        watched = self.recorder.events.waiting()
        if watched:
            for wid, key in self.engine.store.messages.events_for(watched):
                if key in watched[wid] or None in watched[wid]:
                    self.recorder.events.notify(wid, key)

    def _woken(self) -> None:
        e = self.engine
        if e.draining or e.free_slots() <= 0 or not self.recorder.woken_hooks:
            return
        for wid in e.store.waits.woken(e.runnable()):
            if not e.is_local(wid):
                for hook in self.recorder.woken_hooks:
                    hook(wid)
