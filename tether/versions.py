"""``app.versions``: the version registry of an app, and moving work between versions.

The registry logic lives in ``tether.versioning``; this manager binds it to one app (its
store, its lease timeout, its code for replays) so the facade keeps one line per name.
Calling it, ``app.versions()``, lists the versions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tether.runtime.errors import ConfigurationError
from tether.runtime.records import WorkflowRecord
from tether.runtime.routing import Routing
from tether.versioning import fork as forking
from tether.versioning import migration, patch_report
from tether.versioning import registry as version_registry
from tether.versioning.lifecycle import check_not_retired
from tether.versioning.migration import MigrationReport
from tether.versioning.patch_report import PatchReport
from tether.versioning.registry import VersionInfo
from tether.versioning.replay import Replayer

if TYPE_CHECKING:
    from .app import Tether

log = logging.getLogger("tether.versions")


class Versions:
    """Every version of the app: list, tag, retire, point new work at one, move work."""

    def __init__(self, app: Tether, *, wake: Callable[[], None]) -> None:
        self._app = app
        self._wake = wake  # tells a local executor about a new workflow (a fork)
        self._retired_seen: tuple[float, str | None] | None = None  # (when, stored state)

    def __call__(self) -> list[VersionInfo]:
        """Every version: release, state, patches, open work, executors, current."""
        return self.all()

    def all(self) -> list[VersionInfo]:
        """Registered versions in order of first launch, then those known only from work."""
        app = self._app
        return version_registry.list_versions(app.store, app.settings.lease_timeout_ms)

    def get(self, version: str) -> VersionInfo:
        """One version by name or release tag."""
        name = version_registry.resolve(self._app.store, version)
        return next(v for v in self.all() if v.version == name)

    def orphaned(self) -> dict[str, int]:
        """Versions with open workflows that no live executor can run, with their counts."""
        return {v.version: v.orphaned for v in self.all() if v.is_orphaned}

    def tag(self, version: str, release: str | None) -> str | None:
        """Tag a version with a PEP 440 release (None clears it); returns the normal form."""
        return self.retag(version, release)[0]

    def retag(self, version: str, release: str | None) -> tuple[str | None, str | None]:
        """``tag``, returning (the new tag, the tag it replaced) so a retag is never silent."""
        return version_registry.tag(self._app.store, version, release)

    def retire(self, version: str) -> VersionInfo:
        """Retire a version that gets no new work and has nothing open: it can then no
        longer launch, start work or be routed to (``unretire`` undoes it)."""
        app = self._app
        return version_registry.retire(app.store, version, app.settings.lease_timeout_ms)

    def unretire(self, version: str) -> VersionInfo:
        """Undo ``retire``: the version may launch, start work and be routed to again."""
        app = self._app
        self._retired_seen = None
        return version_registry.unretire(app.store, version, app.settings.lease_timeout_ms)

    def set_current(self, version: str, *, force: bool = False) -> str:
        """Point new work at a known version (a name or a release tag); returns its name.

        Refused for a version no live executor runs unless ``force`` (its work would wait).
        """
        routing, notes = self.point_current(version, force=force)
        for note in notes:
            log.warning("%s", note)
        if routing.current is None:  # set_current always leaves one
            raise ConfigurationError(f"version {version!r} did not become current")
        return routing.current

    def point_current(self, version: str, *, force: bool = False) -> tuple[Routing, list[str]]:
        """``set_current``, returning the new routing and what to tell the operator (a ramp
        it ended, a forced version no executor runs)."""
        app = self._app
        return version_registry.set_current(
            app.store,
            version,
            by=self._actor(),
            lease_timeout_ms=app.settings.lease_timeout_ms,
            force=force,
        )

    def check_can_start(self, version: str) -> None:
        """Refuse new work on a retired version (its state is read at most once per
        heartbeat interval: starts are hot)."""
        app = self._app
        now = time.monotonic()
        seen = self._retired_seen
        if seen is None or now - seen[0] > app.settings.effective_heartbeat:
            seen = self._retired_seen = (now, version_registry.stored_state(app.store, version))
        check_not_retired(version, seen[1], doing="start work")

    def migrate(
        self,
        *,
        from_version: str,
        to_version: str,
        workflow_ids: Sequence[str] | None = None,
        dry_run: bool = False,
    ) -> MigrationReport:
        """Move open workflows to ``to_version`` (this process's code) if they replay on it."""
        store = self._app.store
        replayer = self._code_for(to_version, "moving workflows to")
        return migration.migrate_workflows(
            store,
            from_version=version_registry.resolve_loose(store, from_version),
            to_version=version_registry.resolve_loose(store, to_version),
            code_version=replayer.code_version,
            replay=replayer.replay,
            lease_timeout_ms=self._app.settings.lease_timeout_ms,
            moved_by=self._actor(),
            workflow_ids=workflow_ids,
            dry_run=dry_run,
        )

    def fork(
        self,
        workflow_id: str,
        from_position: int,
        version: str | None = None,
        *,
        new_workflow_id: str | None = None,
    ) -> WorkflowRecord:
        """A new PENDING workflow with the inputs and history of ``workflow_id`` before
        ``from_position``, on ``version`` (default: the original's), linked to its origin."""
        replayer = self._code_for(version, "forking onto")
        rec = forking.fork(
            self._app.store,
            workflow_id,
            from_position,
            version=None
            if version is None
            else version_registry.resolve_loose(self._app.store, version),
            new_workflow_id=new_workflow_id,
            code_version=replayer.code_version,
            replay=replayer.replay,
        )
        self._wake()
        return rec

    def _code_for(self, target_ref: str | None, what: str) -> Replayer:
        """A replayer on this process's code that stands for version ``target_ref``: by its
        name, or, for unnamed code (the module the CLI loads is named by a hash of its
        workflow sources unless TETHER_APP_VERSION names it), by the same sources."""
        app = self._app
        replayer = Replayer(app)
        if target_ref is None:
            return replayer
        target = version_registry.resolve(app.store, target_ref)
        if replayer.code_version == target:
            return replayer
        recorded = version_registry.source_hash_of(app.store, target)
        mine = app.source_hash()
        # Only unnamed code is identified by its sources: a name given on purpose (argument,
        # TETHER_APP_VERSION, K_REVISION) may stand for what the sources do not show.
        if recorded == mine and app.resolve_version()[1] == "source hash":
            return Replayer(app, code_version=target)
        sources = (
            f" (its workflow sources hash to {mine}; {target!r} launched with {recorded})"
            if recorded and recorded != mine
            else ""
        )
        raise ConfigurationError(
            f"{what} version {target!r} replays the workflows on {target!r}'s code, but the "
            f"code loaded here is version {replayer.code_version!r}{sources}: load "
            f"{target!r}'s code (check out its release and pass --module your.module:app), "
            f"or, if this code is {target!r} under another name, set "
            f"TETHER_APP_VERSION={target}"
        )

    def moves(self, workflow_id: str) -> list[dict[str, Any]]:
        """The workflow's moves between versions: who moved it, from where to where, when."""
        self._app.get_workflow(workflow_id)
        return self._app.store.lineage.moves(workflow_id)

    def patch_report(self) -> PatchReport:
        """Per patch gate in code or history: open workflows on the old path (found by
        replaying them on this code), histories carrying its marker, and what is safe now."""
        return patch_report.build(self._app, self._app.settings.lease_timeout_ms)

    def _actor(self) -> str:
        app = self._app
        return migration.actor(app.executor_id if app.launched else None)
