"""A controller keeps its platform as a spec; on Cloud Run that spec alone must reach the same
service from another process (no credentials, no callables in it)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

from tether.rollout.cloudrun import CloudRunPlatform
from tether.rollout.platforms import platform_spec

from .conftest import Service


def test_the_spec_reaches_the_same_service_from_another_process(
    cloud: Service, make_platform: Callable[..., CloudRunPlatform]
) -> None:
    spec = platform_spec(make_platform(version_of=lambda name: None, attempts=3))
    assert spec == {
        "kind": "cloudrun",
        "project": cloud.fake.project,
        "region": cloud.fake.region,
        "service": "agent",
        "transport": "rest",
        "endpoint": cloud.fake.endpoint,
        "attempts": 3,
        "retry_delay": 0.01,
        "operation_timeout": 5.0,
        "request_timeout": 30.0,
        "poll_interval": 0.01,
        "page_size": 500,
        "wake_timeout": 10.0,
    }
    json.dumps(spec)  # stored as JSON
    code = (
        "import json, sys\n"
        "from tether.rollout.platforms import open_platform\n"
        "p = open_platform(json.loads(sys.argv[1]))\n"
        f"p.set_traffic({{{cloud.old!r}: 50, {cloud.new!r}: 50}}, {{{cloud.new!r}: 'canary'}})\n"
        "print(json.dumps(p.describe().traffic))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout) == {cloud.old: 50, cloud.new: 50}
    assert make_platform().describe().tags == {cloud.new: "canary"}
