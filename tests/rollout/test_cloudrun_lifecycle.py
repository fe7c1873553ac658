"""Scaling, keep-warm, wake, retire and the revision cap against the stand-in."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tether.rollout.cloudrun import CloudRunPlatform, client
from tether.rollout.cloudrun.client import discover
from tether.rollout.platform import PlatformError, SplitError
from tether.runtime.errors import ConfigurationError

from .conftest import FAST, Service


def test_scaling_changes_the_service_and_makes_no_revision(
    cloud: Service, platform: CloudRunPlatform
) -> None:
    state = platform.set_scaling(min_instances=2, max_instances=10)
    (patch,) = cloud.fake.state.calls("UpdateService")
    assert patch.query["updateMask"] == "scaling.minInstanceCount,scaling.maxInstanceCount"
    assert (state.min_instances, state.max_instances) == (2, 10)
    assert len(state.revisions) == 2
    platform.set_scaling(min_instances=2)
    assert len(cloud.fake.state.calls("UpdateService")) == 1
    assert platform.set_scaling(min_instances=0).min_instances == 0
    with pytest.raises(PlatformError, match="exceed the service's max_instances 10"):
        platform.set_scaling(min_instances=11)
    with pytest.raises(PlatformError, match="exceeds"):
        platform.set_scaling(min_instances=5, max_instances=3)


def test_retire_refuses_a_serving_revision(cloud: Service, platform: CloudRunPlatform) -> None:
    with pytest.raises(PlatformError, match="still serves 100 %"):
        platform.retire(cloud.old, delete=True)
    assert cloud.fake.state.calls("UpdateService") == []
    assert cloud.fake.state.calls("DeleteRevision") == []


def test_retire_untags_then_deletes_and_can_be_repeated(
    cloud: Service, platform: CloudRunPlatform
) -> None:
    platform.set_traffic({cloud.new: 100}, tags={cloud.old: "v1"})
    cloud.fake.state.deploy("agent", "agent-00003-lat")  # the latest ready one is never deleted
    state = platform.retire(cloud.old)
    assert cloud.old not in state.tags and state.revision(cloud.old) is not None
    state = platform.retire(cloud.old, delete=True)
    assert state.revision(cloud.old) is None
    assert platform.retire(cloud.old, delete=True).revision(cloud.old) is None
    assert len(cloud.fake.state.calls("DeleteRevision")) == 1


def test_stand_in_refuses_deleting_a_serving_revision(
    cloud: Service, platform: CloudRunPlatform
) -> None:
    platform.keep_warm(cloud.new, "v2")
    request = urllib.request.Request(
        f"{cloud.fake.endpoint}/v2/{cloud.fake.state.service_name('agent')}/revisions/{cloud.new}",
        method="DELETE",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    body = json.loads(caught.value.read())["error"]
    assert (caught.value.code, body["status"]) == (400, "FAILED_PRECONDITION")


def test_stand_in_rejects_a_malformed_request_body(cloud: Service) -> None:
    request = urllib.request.Request(
        f"{cloud.fake.endpoint}/v2/{cloud.fake.state.service_name('agent')}?updateMask=traffic",
        data=json.dumps({"trafic": [{"type": 2, "revision": cloud.new, "percent": 100}]}).encode(),
        method="PATCH",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 400
    assert "trafic" in json.loads(caught.value.read())["error"]["message"]


def test_wake_posts_to_the_tag_url(cloud: Service, platform: CloudRunPlatform) -> None:
    cloud.fake.serve_tag_urls()
    assert platform.wake(cloud.new) is False  # untagged: nothing can reach it
    platform.keep_warm(cloud.new, "v2")
    assert platform.wake(cloud.new) is True
    assert cloud.fake.state.wakes == [cloud.new]
    cloud.fake.state.unreachable.add(cloud.new)
    assert platform.wake(cloud.new) is False


def test_revision_cap_never_loses_a_tagged_revision(
    cloud: Service, platform: CloudRunPlatform
) -> None:
    state = cloud.fake.state
    state.behaviour.max_revisions = 1000
    platform.set_traffic({cloud.new: 100}, tags={cloud.old: "draining"})
    untagged = state.deploy("agent", "agent-00003-unt")
    for i in range(4, 1003):
        state.deploy("agent", f"agent-{i:05d}-gen")
    assert untagged in state.auto_deleted and cloud.old not in state.auto_deleted
    described = platform.describe()
    assert len(described.revisions) == 1000
    assert described.revision(cloud.old) is not None
    assert "1000 of 1000 revisions" in described.extra["revision_cap"]
    with pytest.raises(SplitError, match="1000-revision cap"):
        platform.set_traffic({untagged: 100})


def test_endpoint_from_the_environment(cloud: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_CLOUD_RUN_ENDPOINT", cloud.fake.endpoint)
    platform = CloudRunPlatform(
        project="test-project", region="us-central1", service="agent", **FAST
    )
    assert platform.describe().traffic == {cloud.old: 100}


@pytest.fixture
def metadata_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    answers = {
        "/computeMetadata/v1/project/project-id": "proj-from-metadata",
        "/computeMetadata/v1/instance/region": "projects/123/regions/europe-west1",
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.headers.get("Metadata-Flavor") == "Google" and self.path in answers
            data = answers.get(self.path, "").encode()
            self.send_response(200 if ok else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{server.server_address[1]}")
    yield
    server.shutdown()
    server.server_close()
    thread.join()


def test_project_and_region_come_from_the_metadata_server(metadata_server: None) -> None:
    assert discover(None, None) == ("proj-from-metadata", "europe-west1")
    assert discover("mine", None) == ("mine", "europe-west1")


def test_bad_construction_says_what_to_pass(cloud: Service) -> None:
    with pytest.raises(ConfigurationError, match="service="):
        CloudRunPlatform(project="p", region="r", endpoint=cloud.fake.endpoint)
    with pytest.raises(ConfigurationError, match="project= and region="):
        CloudRunPlatform(service="agent", endpoint=cloud.fake.endpoint)
    with pytest.raises(ConfigurationError, match="transport"):
        CloudRunPlatform("p", "r", "agent", endpoint=cloud.fake.endpoint, transport="soap")


def test_wake_on_google_cloud_sends_an_id_token_for_the_tag_url(
    cloud: Service, platform: CloudRunPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.fake.serve_tag_urls()
    platform.keep_warm(cloud.new, "v2")
    audiences: list[str] = []

    def token(audience: str) -> str:
        audiences.append(audience)
        return "id-token"

    monkeypatch.setattr(client, "_id_token", token)
    platform.local = False  # as when the Admin API is reached with real credentials
    assert platform.wake(cloud.new) is True
    (call,) = cloud.fake.state.calls("Wake")
    assert call.headers["Authorization"] == "Bearer id-token"
    assert audiences == [f"{cloud.fake.endpoint}/_tags/agent/v2"]

    def no_credentials(audience: str) -> str:
        raise RuntimeError("no credentials")

    monkeypatch.setattr(client, "_id_token", no_credentials)
    assert platform.wake(cloud.new) is False
