"""The Admin API v2 calls of the stand-in, on proto messages (wire formats live elsewhere).

Behaviour follows the reference notes on Cloud Run: an etag mismatch is 409 ABORTED; an
update mask applies only its paths and may not name output-only fields; a change to the
template creates a revision (a reused name with another template is 409 ALREADY_EXISTS);
traffic is validated like Cloud Run does (sum 100, types, unique tags, known revisions);
a revision in traffic, the latest ready one or the only one cannot be deleted.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, field_mask_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2

from .state import LATEST, PERMISSIONS, REVISION, ApiError, CloudRunState, Operation

OUTPUT_ONLY = {
    "name", "uid", "generation", "create_time", "update_time", "delete_time", "expire_time",
    "creator", "last_modifier", "observed_generation", "terminal_condition", "conditions",
    "latest_ready_revision", "latest_created_revision", "traffic_statuses", "uri", "urls",
    "reconciling", "etag", "satisfies_pzs",
}  # fmt: skip
_DESCRIPTOR = run_v2.Service.pb().DESCRIPTOR
FAILED = run_v2.Condition.State.CONDITION_FAILED
MUTABLE = [f.name for f in _DESCRIPTOR.fields if f.name not in OUTPUT_ONLY]


def check_access(state: CloudRunState, rpc: str) -> None:
    permission = PERMISSIONS.get(rpc)
    if permission and permission in state.denied:
        info = error_details_pb2.ErrorInfo(
            reason="IAM_PERMISSION_DENIED",
            domain="run.googleapis.com",
            metadata={"permission": permission},
        )
        raise ApiError(
            403, f"Permission '{permission}' denied on resource (or it may not exist).",
            details=[info],
        )  # fmt: skip


def get_service(state: CloudRunState, name: str, tick: bool = False) -> run_v2.Service:
    """The service; ``tick`` lets time pass first (Cloud Run reconciles without being polled)."""
    if tick:
        for op in list(state.operations.values()):
            if not op.done and op.service == name:
                advance(op)
    svc = state.services.get(name)
    if svc is None:
        raise ApiError(404, f"Resource '{name}' was not found")
    return svc


def update_service(
    state: CloudRunState,
    name: str,
    incoming: run_v2.Service,
    mask: list[str] | None,
    validate_only: bool = False,
) -> Operation:
    current = get_service(state, name)
    for race in state.races[:1]:
        state.races.remove(race)
        race(current)
        current.generation += 1
        state.settle(current)
    if incoming.etag and incoming.etag != current.etag:
        raise ApiError(409, f"etag mismatch: sent {incoming.etag}, current is {current.etag}")
    paths = mask if mask is not None else MUTABLE
    if not field_mask_pb2.FieldMask(paths=paths).IsValidForDescriptor(_DESCRIPTOR):
        raise ApiError(400, f"update_mask has an unknown field path: {paths}")
    if bad := [p for p in paths if p.split(".")[0] in OUTPUT_ONLY]:
        raise ApiError(400, f"update_mask names output-only fields: {bad}")
    new = run_v2.Service.deserialize(run_v2.Service.serialize(current))
    field_mask_pb2.FieldMask(paths=paths).MergeMessage(
        run_v2.Service.pb(incoming), run_v2.Service.pb(new),
        replace_message_field=True, replace_repeated_field=True,
    )  # fmt: skip
    revisions = state.revisions[name]
    template_changed = new.template != current.template
    new_revision = None
    if template_changed:
        short = name.rsplit("/", 1)[-1]
        new_revision = (
            new.template.revision or f"{short}-{current.generation + 1:05d}-{uuid.uuid4().hex[:3]}"
        )
        if not new_revision.startswith(f"{short}-"):
            raise ApiError(400, f"Revision name '{new_revision}' must start with '{short}-'")
        stored = state.templates.get((name, new_revision))
        if stored is not None and stored != run_v2.RevisionTemplate.serialize(new.template):
            message = (
                f"Revision named '{new_revision}' with different configuration already exists."
            )
            raise ApiError(409, message, status="ALREADY_EXISTS")
    known = set(revisions) | ({new_revision} if new_revision else set())
    unready = validate_traffic(state, new, known)
    if unready and state.behaviour.unready_traffic == "reject":
        raise ApiError(400, f"Revision '{unready}' is not ready and cannot serve traffic.")
    if validate_only:
        op_name = f"{state.parent}/operations/{uuid.uuid4()}"
        return Operation(op_name, 0, lambda: new, new, name, done=True, result=new)
    before = run_v2.Service.deserialize(run_v2.Service.serialize(current))
    run_v2.Service.pb(current).CopyFrom(run_v2.Service.pb(new))  # same object, new content
    current.generation += 1
    current.etag = state.etag()
    if new_revision and new_revision not in revisions:
        state.add_revision(name, new_revision, ready=True)
    state.start_reconciling(current)
    failure = state.op_failures.pop(0) if state.op_failures else None
    if unready and failure is None:
        failure = (9, f"Revision '{unready}' is not ready and cannot serve traffic.")
    generation = current.generation

    def finish() -> run_v2.Service:
        if current.generation == generation:
            if failure:
                current.traffic = before.traffic
            state.settle(current)
            if failure:
                current.terminal_condition = run_v2.Condition(
                    type_="Ready", state=FAILED, message=failure[1]
                )
        return current

    return new_operation(state, finish, current, failure, name)


def validate_traffic(state: CloudRunState, svc: run_v2.Service, known: set[str]) -> str | None:
    """Raise 400 on an invalid traffic list; return an unready revision given traffic, if any."""
    entries = list(svc.traffic)
    if not entries:
        return None

    def invalid(message: str) -> ApiError:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field="service.traffic", description=message
        )
        return ApiError(
            400, message, details=[error_details_pb2.BadRequest(field_violations=[violation])]
        )

    total = sum(t.percent for t in entries)
    if any(not 0 <= t.percent <= 100 for t in entries):
        raise invalid("Traffic percent must be between 0 and 100.")
    if total != 100:
        raise invalid(f"Traffic percentages must sum to 100, got {total}.")
    tags = [t.tag for t in entries if t.tag]
    if len(tags) != len(set(tags)):
        raise invalid(f"Traffic tags must be unique: {tags}.")
    pinned = [t.revision for t in entries if t.revision]
    if len(pinned) != len(set(pinned)):
        raise invalid(f"A revision may appear only once in traffic: {pinned}.")
    unready = None
    for t in entries:
        if t.type_ == LATEST and t.revision:
            raise invalid("A LATEST traffic target may not name a revision.")
        if t.type_ == REVISION and not t.revision:
            raise invalid("A REVISION traffic target must name a revision.")
        if t.type_ not in (LATEST, REVISION):
            raise invalid("Traffic target type must be set.")
        if t.revision and t.revision not in known:
            raise ApiError(
                state.behaviour.unknown_revision_status,
                f"Revision '{t.revision}' does not exist or is deleted.",
            )
        rev = state.revisions[svc.name].get(t.revision)
        if rev is not None and t.percent and not _is_ready(rev):
            unready = t.revision
    return unready


def _is_ready(rev: run_v2.Revision) -> bool:
    return any(
        c.type_ == "Ready" and c.state == run_v2.Condition.State.CONDITION_SUCCEEDED
        for c in rev.conditions
    )


def list_revisions(
    state: CloudRunState, parent: str, page_size: int, page_token: str
) -> run_v2.ListRevisionsResponse:
    if parent not in state.revisions:
        raise ApiError(404, f"Resource '{parent}' was not found")
    revs = list(state.revisions[parent].values())[::-1]  # newest first, as Cloud Run lists them
    start = int(base64.urlsafe_b64decode(page_token).decode()) if page_token else 0
    size = page_size or state.behaviour.page_size
    end = start + size
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(revs) else ""
    return run_v2.ListRevisionsResponse(revisions=revs[start:end], next_page_token=token)


def get_revision(state: CloudRunState, name: str) -> run_v2.Revision:
    service, _, short = name.partition("/revisions/")
    rev = state.revisions.get(service, {}).get(short)
    if rev is None:
        raise ApiError(404, f"Resource '{name}' was not found")
    return rev


def delete_revision(state: CloudRunState, name: str, etag: str, validate_only: bool) -> Operation:
    rev = get_revision(state, name)
    service, _, short = name.partition("/revisions/")
    svc = state.services[service]
    if etag and etag != rev.etag:
        raise ApiError(409, f"etag mismatch for revision '{short}'")
    serving = {t.revision for t in svc.traffic} | {t.revision for t in svc.traffic_statuses}
    if short in serving or svc.latest_ready_revision == name or len(state.revisions[service]) == 1:
        raise ApiError(
            400, f"Revision '{short}' cannot be directly deleted because it is actively serving "
            "(in traffic, tagged, or the latest ready revision).", status="FAILED_PRECONDITION",
        )  # fmt: skip
    gone = run_v2.Revision.deserialize(run_v2.Revision.serialize(rev))
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    gone.delete_time = now
    if not validate_only:
        del state.revisions[service][short]
    return new_operation(state, lambda: gone, gone, None, service)


def new_operation(
    state: CloudRunState, finish: Any, metadata: Any, failure: tuple[int, str] | None, service: str
) -> Operation:
    op = Operation(
        service=service,
        name=f"{state.parent}/operations/{uuid.uuid4()}",
        pending=state.behaviour.pending_polls,
        finish=finish,
        metadata=metadata,
        error=failure,
    )
    state.operations[op.name] = op
    return op


def get_operation(state: CloudRunState, name: str) -> Operation:
    op = state.operations.get(name)
    if op is None:
        raise ApiError(404, f"Operation '{name}' was not found")
    advance(op)
    return op


def advance(op: Operation) -> None:
    """One tick of a pending operation: done after ``pending`` ticks (-1: never)."""
    if not op.done:
        if op.pending == 0:
            op.result = op.finish()
            op.done = True
        elif op.pending > 0:
            op.pending -= 1


def pack(message: Any) -> any_pb2.Any:
    """An ``Any`` of a proto-plus message (Service, Revision)."""
    return pack_pb(type(message).pb(message))


def pack_pb(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def operation_pb(op: Operation) -> Any:
    """The ``google.longrunning.Operation`` message of a stored operation."""
    pb = operations_pb2.Operation(name=op.name, done=op.done, metadata=pack(op.metadata))
    if op.done and op.error:
        pb.error.CopyFrom(status_pb2.Status(code=op.error[0], message=op.error[1]))
    elif op.done:
        pb.response.CopyFrom(pack(op.result))
    return pb
