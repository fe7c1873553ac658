"""The I/O edge of the Cloud Run adapter: clients, credentials, calls and operation waits.

REST by default (no gRPC channel to keep healthy in short-lived controllers); gRPC on
request. A local ``endpoint`` (the stand-in, ``tether.rollout.testing``) gets anonymous
credentials; otherwise Application Default Credentials, with project and region from the
metadata server when not given. Calls raise google-api-core errors unchanged: the adapter
decides what to retry (``errors.py``).
"""

from __future__ import annotations

import concurrent.futures
import os
import urllib.request
from typing import Any

from google.api_core.client_options import ClientOptions
from google.api_core.future import polling
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import run_v2
from google.protobuf import field_mask_pb2
from tether.runtime.errors import ConfigurationError

from .errors import OperationTimeoutError

ENDPOINT_ENV = "TETHER_CLOUD_RUN_ENDPOINT"
METADATA = "http://{host}/computeMetadata/v1/{path}"


def metadata_value(path: str, timeout: float = 2.0) -> str:
    """A value from the GCE/Cloud Run metadata server (``GCE_METADATA_HOST`` overrides it)."""
    host = os.environ.get("GCE_METADATA_HOST") or "metadata.google.internal"
    request = urllib.request.Request(
        METADATA.format(host=host, path=path), headers={"Metadata-Flavor": "Google"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return str(response.read().decode().strip())


def discover(project: str | None, region: str | None) -> tuple[str, str]:
    """Project and region, from the metadata server when not given."""
    try:
        project = project or metadata_value("project/project-id")
        region = region or metadata_value("instance/region").rsplit("/", 1)[-1]
    except OSError as exc:
        raise ConfigurationError(
            "CloudRunPlatform needs project= and region= when not running on Google Cloud "
            f"(the metadata server is unreachable: {exc})"
        ) from exc
    return project, region


class RunApi:
    """Thin calls on one service; every change waits on its long-running operation."""

    def __init__(
        self,
        *,
        project: str,
        region: str,
        service: str,
        endpoint: str | None,
        transport: str,
        credentials: Credentials | None,
        request_timeout: float,
        poll_interval: float,
        page_size: int,
    ) -> None:
        if transport not in ("rest", "grpc"):
            raise ConfigurationError(f"transport must be 'rest' or 'grpc', got {transport!r}")
        self.endpoint = endpoint
        self.timeout = request_timeout
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.polling = polling.DEFAULT_POLLING.with_delay(
            initial=poll_interval, maximum=max(poll_interval, 10 * poll_interval), multiplier=1.5
        )
        self.services, self.revisions = _clients(endpoint, transport, credentials)
        self.name = run_v2.ServicesClient.service_path(project, region, service)

    def revision_name(self, short: str) -> str:
        return f"{self.name}/revisions/{short}"

    def get_service(self) -> run_v2.Service:
        svc: run_v2.Service = self.services.get_service(
            name=self.name, retry=None, timeout=self.timeout
        )
        return svc

    def list_revisions(self) -> list[run_v2.Revision]:
        request = {"parent": self.name, "page_size": self.page_size}
        pager = self.revisions.list_revisions(request=request, retry=None, timeout=self.timeout)
        return list(pager)

    def update_service(
        self, service: run_v2.Service, paths: list[str], deadline: float
    ) -> run_v2.Service:
        """PATCH with ``paths`` as the mask (the full fresh object, so a server ignoring the
        mask would see an unchanged template), then wait for the operation."""
        mask = field_mask_pb2.FieldMask(paths=paths)
        op = self.services.update_service(
            service=service, update_mask=mask, retry=None, timeout=self.timeout
        )
        svc: run_v2.Service = self._wait(op, deadline, f"updating {self.name} ({', '.join(paths)})")
        return svc

    def delete_revision(self, short: str, deadline: float) -> None:
        op = self.revisions.delete_revision(
            name=self.revision_name(short), retry=None, timeout=self.timeout
        )
        self._wait(op, deadline, f"deleting revision {short}")

    def _wait(self, op: Any, deadline: float, what: str) -> Any:
        try:
            return op.result(timeout=deadline, polling=self.polling.with_timeout(deadline))
        except (TimeoutError, concurrent.futures.TimeoutError) as exc:
            raise OperationTimeoutError(
                f"Cloud Run did not finish {what} within {deadline:g} s (operation "
                f"{op.operation.name}); it may still complete: describe() the service and "
                "resume once it has settled"
            ) from exc


def _clients(
    endpoint: str | None, transport: str, credentials: Credentials | None
) -> tuple[run_v2.ServicesClient, run_v2.RevisionsClient]:
    if endpoint and transport == "grpc":
        import grpc
        from google.cloud.run_v2.services.revisions.transports import RevisionsGrpcTransport
        from google.cloud.run_v2.services.services.transports import ServicesGrpcTransport

        target = endpoint.split("://", 1)[-1]
        return (
            run_v2.ServicesClient(transport=ServicesGrpcTransport(channel=grpc.insecure_channel(target))),
            run_v2.RevisionsClient(transport=RevisionsGrpcTransport(channel=grpc.insecure_channel(target))),
        )  # fmt: skip
    options = ClientOptions(api_endpoint=endpoint) if endpoint else None
    anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
    creds = anonymous if endpoint else credentials
    return (
        run_v2.ServicesClient(transport=transport, client_options=options, credentials=creds),
        run_v2.RevisionsClient(transport=transport, client_options=options, credentials=creds),
    )


def post_wake(url: str, *, local: bool, timeout: float) -> bool:
    """POST ``url``; with an ID token for its origin when on Google Cloud. False on failure."""
    headers = {"Content-Type": "application/json"}
    try:
        if not local:
            headers["Authorization"] = f"Bearer {_id_token(url.split('/tether/', 1)[0])}"
        request = urllib.request.Request(url, data=b"{}", headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except Exception:  # noqa: BLE001 - a dead revision is an answer, not an error
        return False


def _id_token(audience: str) -> str:
    import google.auth.transport.requests
    from google.oauth2 import id_token

    token: str = id_token.fetch_id_token(  # type: ignore[no-untyped-call]
        google.auth.transport.requests.Request(), audience
    )
    return token
