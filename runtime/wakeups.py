"""Postgres LISTEN on a dedicated connection, so new queued work starts in milliseconds.

The listener holds one psycopg connection in autocommit mode outside the pool, and
reconnects with backoff when it breaks; after every (re)connect it asks for a poll, since
notifications sent while it was away are lost. Through a transaction-mode pooler LISTEN
does not work reliably: the dequeuer's polling still finds the work, a poll interval later.
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


class Listener:
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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tether-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        backoff = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self.connected.set()
                    self.on_connect()
                    backoff = 0.1
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
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
            app, queue = json.loads(payload)
        except (ValueError, TypeError):
            return
        self.on_message(str(app), str(queue))
