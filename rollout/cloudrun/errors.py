"""Map google-api-core errors to tether's platform errors, and say which ones to retry.

Over REST the exception class follows the HTTP status (400 → BadRequest, 409 → Conflict,
403 → Forbidden), over gRPC the specific subclass (Aborted, PermissionDenied, …); both are
handled here through the HTTP-level base classes. The gRPC status name (``ABORTED`` for an
etag race, ``ALREADY_EXISTS`` for a reused revision name) is read from the exception or, over
REST, from the error body, because the two 409s need different handling.
"""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc
from tether.rollout.platform import PlatformError, PlatformPermissionError

#: The IAM permission each call needs, named when a 403 carries none.
PERMISSIONS = {
    "get_service": "run.services.get",
    "update_service": "run.services.update",
    "list_revisions": "run.revisions.list",
    "get_revision": "run.revisions.get",
    "delete_revision": "run.revisions.delete",
    "get_operation": "run.operations.get",
}


class OperationTimeoutError(PlatformError):
    """A Cloud Run operation did not finish within its deadline; the change may still land."""


def status_name(exc: gexc.GoogleAPICallError) -> str:
    """``ABORTED``, ``ALREADY_EXISTS``, … (empty when unknown)."""
    code = exc.grpc_status_code
    if code is not None:
        return str(code.name)
    response: Any = exc.response
    try:
        return str(response.json()["error"]["status"])
    except Exception:  # noqa: BLE001 - a body that is not the usual error JSON
        return ""


def is_etag_conflict(exc: BaseException) -> bool:
    """Someone else changed the service between our read and write: re-read and re-plan."""
    if isinstance(exc, gexc.Aborted):
        return True
    if isinstance(exc, gexc.Conflict) and not isinstance(exc, gexc.AlreadyExists):
        return status_name(exc) in ("ABORTED", "")
    return False


def is_transient(exc: BaseException) -> bool:
    """Worth retrying after a back-off: rate limits and unavailability."""
    return isinstance(
        exc,
        gexc.TooManyRequests
        | gexc.ServiceUnavailable
        | gexc.GatewayTimeout
        | gexc.DeadlineExceeded
        | gexc.InternalServerError,
    )


def translate(exc: gexc.GoogleAPICallError, call: str, target: str) -> PlatformError:
    """A platform error that says what was refused and how to fix it."""
    detail = exc.message or str(exc)
    if isinstance(exc, gexc.Forbidden):
        permission = (exc.metadata or {}).get("permission") or PERMISSIONS.get(call)
        return PlatformPermissionError(
            f"Cloud Run refused {call} on {target}: the caller lacks {permission} "
            f"({detail}). Grant a role that includes it (e.g. roles/run.developer) to the "
            "identity running the rollout, then resume.",
            permission=permission,
        )
    if isinstance(exc, gexc.NotFound):
        return PlatformError(f"{target} was not found ({call}): {detail}")
    if isinstance(exc, gexc.AlreadyExists) or status_name(exc) == "ALREADY_EXISTS":
        return PlatformError(
            f"Cloud Run refused {call} on {target}: {detail}. A revision name was reused with "
            "a different template; deploy under a new revision name."
        )
    if isinstance(exc, gexc.Conflict):
        return PlatformError(
            f"{target} kept changing under {call} (etag conflict) after every retry: {detail}. "
            "Another tool may be editing the service's traffic; make one tool own it."
        )
    if isinstance(exc, gexc.BadRequest):
        return PlatformError(f"Cloud Run rejected {call} on {target}: {detail}")
    if is_transient(exc):
        return PlatformError(
            f"Cloud Run stayed unavailable for {call} on {target} after every retry: {detail}"
        )
    return PlatformError(f"Cloud Run failed {call} on {target}: {detail}")
