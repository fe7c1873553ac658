"""The stand-in answers the real client the way the reference says Cloud Run does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.api_core.future import polling
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from tether.rollout.cloudrun.errors import status_name

from .conftest import Service

REV = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
FAST_POLL = polling.DEFAULT_POLLING.with_delay(initial=0.01, maximum=0.05).with_timeout(5)


@pytest.fixture
def client(cloud: Service) -> run_v2.ServicesClient:
    return run_v2.ServicesClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=cloud.fake.endpoint),
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )


def _update(client: run_v2.ServicesClient, svc: run_v2.Service, *paths: str, **kw: Any) -> Any:
    return client.update_service(service=svc, update_mask={"paths": list(paths)}, **kw)


def _fresh(client: run_v2.ServicesClient, cloud: Service) -> run_v2.Service:
    return client.get_service(name=cloud.fake.state.service_name("agent"))


def test_stale_etag_is_409_aborted_and_no_etag_is_last_writer_wins(
    cloud: Service, client: run_v2.ServicesClient
) -> None:
    svc = _fresh(client, cloud)
    cloud.fake.state.mutate_behind_back()
    svc.traffic = [run_v2.TrafficTarget(type_=REV, revision=cloud.new, percent=100)]
    with pytest.raises(gexc.Conflict) as caught:
        _update(client, svc, "traffic")
    assert status_name(caught.value) == "ABORTED"
    svc.etag = ""
    assert (
        _update(client, svc, "traffic").result(polling=FAST_POLL).traffic[0].revision == cloud.new
    )


def test_template_changes_make_revisions_and_names_cannot_be_reused(
    cloud: Service, client: run_v2.ServicesClient
) -> None:
    svc = _fresh(client, cloud)
    svc.template.revision = cloud.old  # an existing name with a different template
    svc.template.containers[0].image = "gcr.io/p/agent:2"
    with pytest.raises(gexc.Conflict, match="different configuration") as caught:
        _update(client, svc, "template")
    assert status_name(caught.value) == "ALREADY_EXISTS"
    svc.template.revision = "agent-00003-img"
    done = _update(client, svc, "template").result(polling=FAST_POLL)
    assert done.latest_created_revision.endswith("/agent-00003-img")
    assert [(t.revision, t.percent) for t in done.traffic] == [(cloud.old, 100)]  # pinned: 0 %
    svc = _fresh(client, cloud)
    svc.scaling.min_instance_count = 3
    _update(client, svc, "scaling.min_instance_count").result(polling=FAST_POLL)
    assert len(cloud.fake.state.revisions[svc.name]) == 3  # service scaling: no revision


@pytest.mark.parametrize(
    "traffic,message",
    [
        ([(REV, "agent-00001-old", 60, "")], "sum to 100"),
        ([(LATEST, "agent-00001-old", 100, "")], "LATEST"),
        ([(REV, "", 100, "")], "must name a revision"),
        ([(REV, "agent-00001-old", 50, "t"), (REV, "agent-00002-new", 50, "t")], "unique"),
        ([(REV, "agent-00009-zzz", 100, "")], "does not exist"),
    ],
)
def test_invalid_traffic_is_400(
    cloud: Service,
    client: run_v2.ServicesClient,
    traffic: list[tuple[int, str, int, str]],
    message: str,
) -> None:
    svc = _fresh(client, cloud)
    svc.traffic = [
        run_v2.TrafficTarget(type_=t, revision=r, percent=p, tag=g) for t, r, p, g in traffic
    ]
    with pytest.raises(gexc.BadRequest, match=message):
        _update(client, svc, "traffic")


def test_unready_revision_fails_the_operation_or_is_rejected(
    cloud: Service, client: run_v2.ServicesClient
) -> None:
    pending = cloud.fake.state.deploy("agent", "agent-00003-pen", ready=False)
    svc = _fresh(client, cloud)
    svc.traffic = [run_v2.TrafficTarget(type_=REV, revision=pending, percent=100)]
    with pytest.raises(gexc.FailedPrecondition, match="not ready"):
        _update(client, svc, "traffic").result(polling=FAST_POLL)
    cloud.fake.state.behaviour.unready_traffic = "reject"
    svc = _fresh(client, cloud)
    svc.traffic = [run_v2.TrafficTarget(type_=REV, revision=pending, percent=100)]
    with pytest.raises(gexc.BadRequest, match="not ready"):
        _update(client, svc, "traffic")


def test_validate_only_changes_nothing(cloud: Service, client: run_v2.ServicesClient) -> None:
    svc = _fresh(client, cloud)
    svc.traffic = [run_v2.TrafficTarget(type_=REV, revision=cloud.new, percent=100)]
    op = client.update_service(
        request={"service": svc, "update_mask": {"paths": ["traffic"]}, "validate_only": True}
    )
    assert op.done()
    assert _fresh(client, cloud).traffic[0].revision == cloud.old


@pytest.mark.parametrize(
    "call,error",
    [
        (lambda c, n: c.get_service(name=n.replace("agent", "nope")), gexc.NotFound),
        (lambda c, n: _update(c, c.get_service(name=n), "etag"), gexc.BadRequest),
        (lambda c, n: _update(c, c.get_service(name=n), "nonsense"), gexc.BadRequest),
    ],
)
def test_missing_resources_and_bad_masks(
    cloud: Service, client: run_v2.ServicesClient, call: Callable[..., Any], error: type
) -> None:
    with pytest.raises(error):
        call(client, cloud.fake.state.service_name("agent"))


def test_revisions_are_read_and_deleted_by_name(cloud: Service) -> None:
    revisions = run_v2.RevisionsClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=cloud.fake.endpoint),
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )
    name = f"{cloud.fake.state.service_name('agent')}/revisions/{cloud.old}"
    cloud.fake.state.deploy("agent", "agent-00003-lat")
    with pytest.raises(gexc.BadRequest, match="actively serving"):
        revisions.delete_revision(name=name)
    rev = revisions.get_revision(name=name)
    assert rev.conditions[0].state == run_v2.Condition.State.CONDITION_SUCCEEDED
    new = f"{cloud.fake.state.service_name('agent')}/revisions/{cloud.new}"
    with pytest.raises(gexc.Conflict):
        revisions.delete_revision(request={"name": new, "etag": '"stale"'})
    assert revisions.delete_revision(name=new).result(polling=FAST_POLL).delete_time
    with pytest.raises(gexc.NotFound):
        revisions.get_revision(name=new)


def test_desired_minimum_follows_traffic_and_tags(cloud: Service) -> None:
    state = cloud.fake.state
    third = state.deploy("agent", "agent-00003-min", min_instances=1)

    def split(svc: run_v2.Service) -> None:
        svc.scaling.min_instance_count = 4
        svc.traffic = [
            run_v2.TrafficTarget(type_=REV, revision=cloud.old, percent=75),
            run_v2.TrafficTarget(type_=REV, revision=cloud.new, percent=25),
            run_v2.TrafficTarget(type_=REV, revision=third, tag="warm"),
        ]

    state.mutate_behind_back(change=split)
    revs = state.revisions[state.service_name("agent")]
    desired = {n: r.scaling_status.desired_min_instance_count for n, r in revs.items()}
    assert desired == {cloud.old: 3, cloud.new: 1, third: 1}  # 0 % + tag: only its own minimum


def test_unknown_revision_status_is_configurable(
    cloud: Service, client: run_v2.ServicesClient
) -> None:
    cloud.fake.state.behaviour.unknown_revision_status = 404
    svc = _fresh(client, cloud)
    svc.traffic = [run_v2.TrafficTarget(type_=REV, revision="agent-00009-zzz", percent=100)]
    with pytest.raises(gexc.NotFound, match="does not exist"):
        _update(client, svc, "traffic")
