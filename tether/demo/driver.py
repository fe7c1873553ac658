"""The demo's traffic: a steady stream of refund requests through the platform's router, and
the human who answers the agents' approval requests.

A request is ``POST /workflows/refund_agent`` with the ticket and a workflow id of our own:
the id is the idempotency key, so a request that failed on its way (an instance killed
mid-request answers 502 through the router) is simply sent again, wherever the split sends
it, and never starts a second agent.
"""

from __future__ import annotations

import heapq
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tether.rollout.router import REVISION_HEADER

from .agent import TOPIC
from .tickets import approves, needs_approval, ticket

WORKFLOW = "refund_agent"


@dataclass(frozen=True)
class Started:
    """One accepted request: the agent it started and the revision that served it."""

    workflow_id: str
    version: str
    revision: str
    attempts: int
    at: float


class Driver:
    """Sends ``rate`` requests a second to ``router_url`` until ``stop()``; sends approvals
    through ``send(workflow_id, message, topic)`` one to four times ``approval_delay``
    seconds after a start (a human is sometimes slow: those agents wait, durably)."""

    def __init__(
        self,
        router_url: str,
        send: Callable[[str, Any, str], None],
        *,
        rate: float,
        approval_delay: float,
        prefix: str = "ticket",
        retries: int = 40,
    ) -> None:
        self.router_url = router_url.rstrip("/")
        self._send = send
        self.rate = rate
        self.approval_delay = approval_delay
        self.prefix = prefix
        self.retries = retries
        self._lock = threading.Lock()
        self.requested: list[str] = []  # every workflow id a request was made for
        self.started: list[Started] = []
        self.failed: list[tuple[str, str]] = []  # (workflow id, why) never accepted
        self.approvals: list[tuple[str, bool]] = []
        self.retried = 0
        self._due: list[tuple[float, str, bool]] = []  # (when, workflow id, approve)
        self._stream_stop = threading.Event()
        self._closed = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="demo-request")
        self._threads = [
            threading.Thread(target=self._stream, name="demo-stream", daemon=True),
            threading.Thread(target=self._approver, name="demo-approver", daemon=True),
        ]
        self._sent = 0

    def start(self) -> Driver:
        for t in self._threads:
            t.start()
        return self

    def stop_stream(self) -> None:
        """No new requests; those in flight finish, approvals keep being answered."""
        self._stream_stop.set()
        self._threads[0].join()
        self._pool.shutdown(wait=True)

    def close(self) -> None:
        self.stop_stream()
        self._closed.set()
        self._threads[1].join(timeout=5)

    @property
    def pending_approvals(self) -> int:
        with self._lock:
            return len(self._due)

    # -- the request stream -------------------------------------------------------------------

    def _stream(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stream_stop.is_set():
            n = self._sent
            self._sent += 1
            self._pool.submit(self._request, n)
            next_at += interval
            self._stream_stop.wait(max(0.0, next_at - time.monotonic()))

    def _request(self, n: int) -> None:
        t = ticket(n)
        wid = f"{self.prefix}-{n:04d}"
        with self._lock:
            self.requested.append(wid)
        body = json.dumps({"args": [t], "workflow_id": wid}).encode()
        why = ""
        for attempt in range(1, self.retries + 1):
            req = urllib.request.Request(
                f"{self.router_url}/workflows/{WORKFLOW}",
                data=body,
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - local
                    answer = json.loads(resp.read())
                    revision = resp.headers.get(REVISION_HEADER, "")
            except urllib.error.HTTPError as err:
                why = f"HTTP {err.code}: {err.read()[:200].decode(errors='replace')}"
            except (OSError, ValueError) as exc:  # refused, cut off, or not our answer
                why = str(exc)
            else:
                version = str(answer.get("version"))
                self._accepted(Started(wid, version, revision, attempt, time.time()), t)
                return
            with self._lock:
                self.retried += 1
            time.sleep(0.1 * min(attempt, 5))
        with self._lock:
            self.failed.append((wid, why))

    def _accepted(self, started: Started, t: dict[str, Any]) -> None:
        with self._lock:
            self.started.append(started)
            if needs_approval(t):
                slow = 1 + int(started.workflow_id.rsplit("-", 1)[-1]) % 4
                due = time.monotonic() + self.approval_delay * slow
                heapq.heappush(self._due, (due, started.workflow_id, approves(t)))

    # -- the human ----------------------------------------------------------------------------

    def _approver(self) -> None:
        while not self._closed.is_set():
            with self._lock:
                ready = []
                while self._due and self._due[0][0] <= time.monotonic():
                    ready.append(heapq.heappop(self._due))
            for due, wid, approve in ready:
                try:
                    self._send(wid, {"approve": approve, "by": "support-lead"}, TOPIC)
                except Exception:  # noqa: BLE001 - a busy database: answer a moment later
                    with self._lock:
                        heapq.heappush(self._due, (due + 0.2, wid, approve))
                    continue
                with self._lock:
                    self.approvals.append((wid, approve))
            self._closed.wait(0.05)
