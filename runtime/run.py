"""A run of a workflow, carried as one value from where it is started to where it ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import observe
from .context import PendingRow
from .records import OperationRecord
from .store import Fence

if TYPE_CHECKING:
    from .registry import WorkflowDef


@dataclass
class Run:
    """What executing a workflow needs: its code, inputs, the lease it writes under, and its
    recorded history (None: read it from the store before the body starts)."""

    wdef: WorkflowDef
    workflow_id: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    fence: Fence
    history: list[OperationRecord] | None = field(default_factory=list)
    pending_row: PendingRow | None = None  # a direct call's row, queued behind the body
    reason: str = observe.START  # why it runs here (see runtime.observe)
    trace_context: str | None = None  # the W3C traceparent stored with the workflow
    crashed: bool = False  # recovered from a holder that crashed (see runtime.observe)


@dataclass
class Outcome:
    """How a run's body ended: its value, or what it raised."""

    value: Any = None
    error: BaseException | None = None
