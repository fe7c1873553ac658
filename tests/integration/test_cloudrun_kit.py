"""The Cloud Run deploy kit (examples/cloudrun): the script's syntax and the commands it runs
(against stubs of gcloud, git and tether on PATH), the service definition, the Dockerfile's
entrypoint, the rollout plan, and the app module run locally on SQLite."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tether.rollout.memory import MemoryPlatform
from tether.rollout.plan import load_plan_file

KIT = Path(__file__).resolve().parents[2] / "examples" / "cloudrun"


def test_deploy_script_syntax() -> None:
    subprocess.run(["bash", "-n", str(KIT / "deploy.sh")], check=True)


def _stubs(tmp_path: Path, *, service_exists: bool) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.jsonl"
    for name in ("gcloud", "tether", "git"):
        script = bin_dir / name
        script.write_text(
            f"#!{sys.executable}\n"
            "import json, sys\n"
            f"open({str(log)!r}, 'a').write(json.dumps([{name!r}, *sys.argv[1:]]) + '\\n')\n"
            f"if {name!r} == 'git': print('ABC123de')\n"
            f"if sys.argv[1:4] == ['run', 'services', 'describe'] and not {service_exists}:\n"
            "    sys.exit(1)\n"
        )
        script.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PROJECT": "proj",
        "REGION": "europe-west1",
    }
    env.pop("BUILD", None)
    return env, log


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_deploy_script_deploys_at_zero_percent_with_a_tag_then_starts_a_rollout(
    tmp_path: Path,
) -> None:
    env, log = _stubs(tmp_path, service_exists=True)
    done = subprocess.run(
        ["bash", str(KIT / "deploy.sh")], env=env, capture_output=True, text=True, check=True
    )
    assert "tether rollout status rollout-agent-b-abc123de --watch" in done.stdout
    calls = _calls(log)
    assert calls[0] == ["git", "rev-parse", "--short=8", "HEAD"]
    assert calls[1][:3] == ["gcloud", "builds", "submit"]
    image = "europe-west1-docker.pkg.dev/proj/tether/agent:abc123de"
    assert calls[1][-2:] == ["--tag", image]
    deploy = calls[3]
    assert deploy[:4] == ["gcloud", "run", "deploy", "agent"]
    for flag in (["--image", image], ["--revision-suffix", "b-abc123de"], ["--tag", "v-abc123de"]):
        i = deploy.index(flag[0])
        assert deploy[i : i + 2] == flag
    assert "--no-traffic" in deploy and "--no-cpu-throttling" in deploy
    start = calls[4]
    assert start[:4] == ["tether", "rollout", "start", "agent-b-abc123de"]
    assert start[start.index("--plan") + 1] == str(KIT / "rollout.toml")
    assert start[start.index("--rollout-id") + 1] == "rollout-agent-b-abc123de"
    assert start[start.index("--platform") + 1] == "cloudrun"


def test_deploy_script_refuses_a_missing_service(tmp_path: Path) -> None:
    env, log = _stubs(tmp_path, service_exists=False)
    done = subprocess.run(
        ["bash", str(KIT / "deploy.sh")],
        env={**env, "SKIP_BUILD": "1"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "create it from service.yaml first" in done.stderr
    assert not any(c[:3] == ["gcloud", "run", "deploy"] for c in _calls(log))


def _load_yaml(text: str) -> Any:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return _mini_yaml(text)
    return yaml.safe_load(text)


def _mini_yaml(text: str) -> Any:
    """Block mappings, block sequences and scalars: the subset service.yaml uses."""
    lines = [
        (len(raw) - len(raw.lstrip(" ")), raw.strip())
        for raw in (line.split(" #", 1)[0].rstrip() for line in text.splitlines())
        if raw.strip() and not raw.strip().startswith("#")
    ]

    def scalar(v: str) -> Any:
        v = v.strip()
        if v[:1] in "\"'":
            return v[1:-1]
        return int(v) if v.isdigit() else v

    def block(i: int, indent: int) -> tuple[Any, int]:
        if lines[i][1].startswith("- "):
            items = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                rest = lines[i][1][2:]
                lines[i] = (indent + 2, rest)
                if ":" in rest:
                    item, i = block(i, indent + 2)
                else:
                    item, i = scalar(rest), i + 1
                items.append(item)
            return items, i
        out: dict[str, Any] = {}
        while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
            key, _, value = lines[i][1].partition(":")
            if value.strip():
                out[key] = scalar(value)
                i += 1
            else:
                out[key], i = block(i + 1, lines[i + 1][0])
        return out, i

    return block(0, 0)[0]


def test_service_definition() -> None:
    svc = _load_yaml((KIT / "service.yaml").read_text())
    assert svc["kind"] == "Service" and svc["apiVersion"] == "serving.knative.dev/v1"
    template = svc["spec"]["template"]
    notes = template["metadata"]["annotations"]
    assert notes["run.googleapis.com/cpu-throttling"] == "false"  # instance-based billing
    spec = template["spec"]
    [container] = spec["containers"]
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in container["env"]}
    assert env["TETHER_APP_NAME"]["value"] == svc["metadata"]["name"]
    assert "secretKeyRef" in env["TETHER_DATABASE_URL"]["valueFrom"]
    [traffic] = svc["spec"]["traffic"]
    assert traffic["revisionName"] == template["metadata"]["name"]  # pinned by name
    assert traffic["percent"] == 100 and traffic["tag"]


def test_dockerfile_runs_tether_serve() -> None:
    text = (KIT / "Dockerfile").read_text()
    assert 'CMD ["tether", "serve", "app:app"]' in text  # exec form: PID 1 gets SIGTERM
    assert "COPY app.py rollout.toml ./" in text


def test_rollout_plan() -> None:
    plan, platform = load_plan_file(KIT / "rollout.toml", candidate="agent-b-abc123de")
    assert plan.candidate == "agent-b-abc123de"
    assert [(s.percent, s.approve) for s in plan.stages] == [(10, False), (50, False), (100, True)]
    assert plan.gates.min_sample == 50 and plan.gates.max_wait == 1800.0
    assert platform == {"kind": "cloudrun"}


def _fresh_app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("TETHER_DATABASE_URL", f"sqlite:///{tmp_path / 'kit.db'}")
    monkeypatch.setenv("TETHER_APP_NAME", "kit")
    monkeypatch.delenv("K_SERVICE", raising=False)
    spec = importlib.util.spec_from_file_location("cloudrun_kit_app", KIT / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_app_runs_locally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kit = _fresh_app_module(tmp_path, monkeypatch)
    app = kit.app
    assert app.settings.shutdown_grace < 10  # Cloud Run kills 10 s after SIGTERM
    platform = MemoryPlatform("agent")
    platform.deploy("agent-b-1", version="agent-b-1", percent=100)
    schedule = kit.autoscale_on(platform)
    app.settings = dataclasses.replace(app.settings, install_signal_handlers=False)
    app.launch()
    try:
        assert app.start_workflow("answer", "why?").result(timeout=20) == "an answer to 'why?'"
        wid = app.schedules.trigger(schedule)
        app.retrieve_workflow(wid).result(timeout=20)
        assert platform.describe().min_instances == 1  # the policy's floor
    finally:
        app.shutdown(grace=0.5)
        app.store.close()
