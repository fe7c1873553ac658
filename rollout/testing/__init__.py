"""A faithful local stand-in of the Cloud Run Admin API v2, for testing rollout code offline.

The real ``google-cloud-run`` client talks to it over HTTP (and gRPC), so serialization,
enum encoding, update masks, long-running operations and error mapping are all exercised::

    from tether.rollout.testing import FakeCloudRun

    with FakeCloudRun() as fake:
        first = fake.state.create_service("agent")
        second = fake.state.deploy("agent", tag="candidate")
        platform = CloudRunPlatform(project=fake.project, region=fake.region,
                                    service="agent", endpoint=fake.endpoint)
        platform.set_traffic({first: 90, second: 10})
        assert fake.state.calls("UpdateService")[0].query["updateMask"] == "traffic"

Faults are injected on ``fake.state``: ``fail_next``, ``deny``, ``fail_next_operation``,
``race_next_update``, ``mutate_behind_back``, ``behaviour.pending_polls`` (-1: never done),
``behaviour.max_revisions``; ``requests`` / ``calls(rpc)`` is the request log. A pytest
fixture ``fake_cloud_run`` comes with ``pytest_plugins = ["tether.rollout.testing.fixtures"]``.
"""

from __future__ import annotations

from types import TracebackType

from .server import RestServer
from .state import ApiError, Behaviour, CloudRunState, RequestRecord

__all__ = ["ApiError", "Behaviour", "CloudRunState", "FakeCloudRun", "RequestRecord"]


class FakeCloudRun:
    """The stand-in server; a context manager (started on enter, stopped on exit)."""

    def __init__(
        self,
        project: str = "test-project",
        region: str = "us-central1",
        *,
        behaviour: Behaviour | None = None,
        grpc: bool = False,
    ) -> None:
        self.project = project
        self.region = region
        self.state = CloudRunState(project, region, behaviour or Behaviour())
        self._rest = RestServer(self.state)
        #: ``http://127.0.0.1:PORT``: pass as ``endpoint=`` to the client.
        self.endpoint = self._rest.endpoint
        self._grpc = None
        #: ``127.0.0.1:PORT`` of the gRPC front end (when started with ``grpc=True``).
        self.grpc_endpoint: str | None = None
        if grpc:
            from .grpc_server import GrpcServer

            self._grpc = GrpcServer(self.state)
            self.grpc_endpoint = self._grpc.endpoint

    def serve_tag_urls(self) -> None:
        """Make tag URLs point at this server, which answers ``POST …/tether/wake``."""
        self.state.behaviour.tag_url_base = self.endpoint

    def start(self) -> FakeCloudRun:
        self._rest.start()
        if self._grpc:
            self._grpc.start()
        return self

    def stop(self) -> None:
        self._rest.stop()
        if self._grpc:
            self._grpc.stop()

    def __enter__(self) -> FakeCloudRun:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
