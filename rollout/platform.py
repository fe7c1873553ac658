"""The platform protocol: what the rollout controller needs from wherever revisions run.

Two implementations share it: Cloud Run (``tether.rollout.cloudrun``) and local processes
(``tether.rollout.local``). The controller only ever talks to this protocol, so a rollout
rehearsed on a laptop is the same code path as one run on Cloud Run.

Every operation is idempotent: applying the same split, tag or scaling twice changes nothing
the second time, so a controller that is killed and resumed may simply repeat its last call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tether.runtime.errors import TetherError


@dataclass(frozen=True)
class Revision:
    """One revision of the service as the platform reports it."""

    name: str
    #: The tether version its instances run (the revision name unless the app sets its own
    #: version and the registry links the two); None when the platform cannot say.
    version: str | None
    ready: bool
    #: Share of the service's traffic, 0–100.
    percent: int = 0
    tag: str | None = None
    #: The URL that always reaches this revision (wakes it from zero); None when untagged.
    tag_url: str | None = None
    min_instances: int | None = None
    max_instances: int | None = None


@dataclass(frozen=True)
class ServiceState:
    """A settled snapshot of the service: its revisions with traffic, tags and scaling."""

    name: str
    revisions: tuple[Revision, ...]
    url: str | None = None
    latest_ready: str | None = None
    #: Service-level scaling (Cloud Run splits it across revisions by traffic percent).
    min_instances: int | None = None
    max_instances: int | None = None
    etag: str | None = None
    generation: int = 0
    extra: Mapping[str, str] = field(default_factory=dict)

    def revision(self, name: str) -> Revision | None:
        return next((r for r in self.revisions if r.name == name), None)

    @property
    def traffic(self) -> dict[str, int]:
        """``{revision: percent}`` for every revision with a traffic share above 0."""
        return {r.name: r.percent for r in self.revisions if r.percent > 0}

    @property
    def tags(self) -> dict[str, str]:
        """``{revision: tag}`` for every tagged revision."""
        return {r.name: r.tag for r in self.revisions if r.tag}


@runtime_checkable
class Platform(Protocol):
    """Where revisions run and traffic is split."""

    def describe(self) -> ServiceState:
        """The service as it is now, with every revision (ready or not)."""
        ...

    def set_traffic(
        self, split: Mapping[str, int], tags: Mapping[str, str] | None = None
    ) -> ServiceState:
        """Pin traffic to named revisions (``split`` sums to 100) and tag revisions.

        ``tags`` maps revision → tag; tags already on the service are kept unless a revision
        is retired. Validated before any request: an invalid split raises ``SplitError``.
        """
        ...

    def keep_warm(self, revision: str, tag: str) -> ServiceState:
        """Keep ``revision`` reachable at 0 % under ``tag`` (and warm where supported)."""
        ...

    def wake(self, revision: str) -> bool:
        """Reach ``revision``'s wake endpoint (its tag URL) so it recovers its work now."""
        ...

    def set_scaling(
        self, *, min_instances: int | None = None, max_instances: int | None = None
    ) -> ServiceState:
        """Set the service-level instance bounds (None leaves a bound as it is)."""
        ...

    def retire(self, revision: str, *, delete: bool = False) -> ServiceState:
        """Untag a revision that has no traffic (and delete it when ``delete``)."""
        ...


class PlatformError(TetherError):
    """The platform refused or failed an operation; the message says what to do."""


class SplitError(PlatformError):
    """A traffic split is invalid (sum, unknown or unready revision, duplicate tag)."""


class PlatformPermissionError(PlatformError):
    """The credentials lack a permission; ``permission`` names it."""

    def __init__(self, message: str, permission: str | None = None) -> None:
        super().__init__(message)
        self.permission = permission
