"""Deleting workflows for good: their rows, operations, messages, events, streams, send keys
and moves, with their descendants, in one transaction."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

from ..errors import ConfigurationError, WorkflowNotFoundError
from ..records import Status
from .commit import note_ended
from .database import Database
from .schema import events, message_keys, messages, operations, streams, workflow_moves
from .schema import workflows as W

# (table, the column naming the workflow) for everything kept per workflow.
OWNED = (
    (operations, "workflow_id"),
    (messages, "dest_id"),
    (message_keys, "dest_id"),
    (events, "workflow_id"),
    (streams, "workflow_id"),
    (workflow_moves, "workflow_id"),
)


class DeletionStore:
    def __init__(self, db: Database, app_name: str) -> None:
        self.db = db
        self.app = app_name

    def _tree(self, conn: Connection, workflow_id: str, children: bool) -> dict[str, str]:
        """Workflow id -> status, for ``workflow_id`` and (with ``children``) descendants."""
        found: dict[str, str] = {}
        frontier = [workflow_id]
        first = True
        while frontier:
            column = W.c.workflow_id if first else W.c.parent_id
            rows = conn.execute(
                select(W.c.workflow_id, W.c.status).where(
                    W.c.app_name == self.app, column.in_(frontier)
                )
            ).all()
            fresh = {r.workflow_id: r.status for r in rows if r.workflow_id not in found}
            found.update(fresh)
            frontier = list(fresh) if children else []
            first = False
        return found

    def delete(
        self, workflow_id: str, *, children: bool = True, conn: Connection | None = None
    ) -> list[str]:
        """Delete ``workflow_id`` (and its descendants); returns the ids deleted.

        Refuses, deleting nothing, while any of them may still run: cancel it first.
        """
        # The ids an earlier attempt found: when that attempt's commit was acknowledged to no
        # one and the repeat finds nothing left, they are what this call deleted.
        earlier: list[str] = []

        def write(conn: Connection) -> list[str]:
            tree = self._tree(conn, workflow_id, children)
            if not tree and earlier:
                return earlier
            if not tree:
                raise WorkflowNotFoundError(f"no workflow {workflow_id!r} in app {self.app!r}")
            running = sorted(w for w, s in tree.items() if s in Status.RUNNABLE)
            if running:
                raise ConfigurationError(
                    f"cannot delete workflow {workflow_id!r}: {', '.join(running[:5])} may "
                    "still run; cancel it first (`tether workflows cancel ID`)"
                )
            ids = sorted(tree)
            earlier[:] = ids
            for table, column in OWNED:
                conn.execute(
                    delete(table).where(table.c.app_name == self.app, table.c[column].in_(ids))
                )
            conn.execute(delete(W).where(W.c.app_name == self.app, W.c.workflow_id.in_(ids)))
            note_ended(conn, ids)  # a missing workflow counts as ended for its waiters
            return ids

        return self.db.writing(write, conn=conn, what="delete a workflow")
