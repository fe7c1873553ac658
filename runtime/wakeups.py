"""Wake-ups from other processes: new queued work, a woken suspended workflow, a message
or an event for a workflow waiting in memory, so each is seen in milliseconds rather than a
poll later (what each wake-up does: ``dispatch`` and ``remote_wakes``).

Postgres: LISTEN on one psycopg connection in autocommit mode outside the pool, which
reconnects with backoff when it breaks; after every (re)connect it asks for a poll, since
notifications sent while it was away are lost. Through a transaction-mode pooler LISTEN
does not work reliably: the dequeuer's polling still finds the work, a poll interval later.
SQLite: a cheap watch of ``PRAGMA data_version`` (see ``SQLiteWatcher``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import make_url

log = logging.getLogger("tether.queues")


def libpq_url(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg://...`` as a URL that psycopg.connect accepts."""
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


class _Background:
    """A daemon thread running ``_run`` until ``stop()``; ``connected`` is set once ready."""

    thread_name = "tether-wakeup"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        raise NotImplementedError


class Listener(_Background):
    thread_name = "tether-listen"

    def __init__(
        self,
        url: str,
        channel: str,
        on_message: Callable[[str, str], None],
        on_connect: Callable[[], None],
    ) -> None:
        self.conninfo = libpq_url(url)
        self.channel = channel
        self.on_message = on_message  # (app_name, queue_name)
        self.on_connect = on_connect
        self.on_woken: Callable[[str, str], None] | None = None  # (app_name, workflow_id)
        # (app_name, kind, workflow_id, topic) from ``wakes_channel``: see store.messages
        self.on_wake: Callable[[str, str, str, str], None] | None = None
        self.wakes_channel: str | None = None
        super().__init__()

    def _run(self) -> None:
        import psycopg

        backoff = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    if self.wakes_channel is not None:
                        conn.execute(f"LISTEN {self.wakes_channel}")
                    self.connected.set()
                    self.on_connect()
                    backoff = 0.1
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            if note.channel == self.wakes_channel:
                                self._deliver_wake(note.payload)
                            else:
                                self._deliver(note.payload)
            except Exception as exc:  # noqa: BLE001 - reconnect on any failure
                self.connected.clear()
                if self._stop.is_set():
                    return
                log.warning("queue listener lost its connection (%s); reconnecting", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _deliver(self, payload: str) -> None:
        try:
            app, queue, *woken = json.loads(payload)
        except (ValueError, TypeError):
            return
        if woken and self.on_woken is not None:  # [app, "", workflow id]: see store.waits
            self.on_woken(str(app), str(woken[0]))
        else:
            self.on_message(str(app), str(queue))

    def _deliver_wake(self, payload: str) -> None:
        try:
            app, kind, workflow_id, topic = json.loads(payload)
        except (ValueError, TypeError):
            return
        if self.on_wake is not None:
            self.on_wake(str(app), str(kind), str(workflow_id), str(topic))


class SQLiteWatcher(_Background):
    """SQLite has no NOTIFY: watch ``PRAGMA data_version`` instead, which changes whenever
    another connection (any process) commits. Reading it takes no lock and touches only the
    WAL index in shared memory, so checking every few milliseconds costs next to nothing."""

    thread_name = "tether-watch"

    def __init__(
        self,
        path: str,
        on_change: Callable[[], None],
        interval: float = 0.005,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self.on_change = on_change
        self.interval = interval
        self.on_tick = on_tick  # every interval, changed or not (for work put off)
        super().__init__()

    def _run(self) -> None:
        import sqlite3

        while not self._stop.is_set():
            try:
                conn = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
                try:
                    last = conn.execute("PRAGMA data_version").fetchone()[0]
                    self.connected.set()
                    self.on_change()  # whatever committed before the first read
                    while not self._stop.wait(self.interval):
                        version = conn.execute("PRAGMA data_version").fetchone()[0]
                        if version != last:
                            last = version
                            self.on_change()
                        elif self.on_tick is not None:
                            self.on_tick()
                finally:
                    conn.close()
                    self.connected.clear()
            except Exception as exc:  # noqa: BLE001 - keep watching; polling still runs
                log.warning("SQLite change watcher failed (%s); restarting", exc)
                self._stop.wait(1.0)


def sqlite_path(sqlalchemy_url: str) -> str | None:
    """The file of a SQLite URL, or None for an in-memory database."""
    database = make_url(sqlalchemy_url).database
    return database if database and database != ":memory:" else None
