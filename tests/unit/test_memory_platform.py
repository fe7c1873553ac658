"""MemoryPlatform keeps the protocol's promises (validation before change, idempotence, the
revision cap), and platforms are found again from their stored spec."""

from __future__ import annotations

from pathlib import Path

import pytest
from tether.rollout.memory import MemoryPlatform
from tether.rollout.platform import Platform, PlatformError, PlatformPermissionError, SplitError
from tether.rollout.platforms import make_platform, open_platform, platform_spec
from tether.runtime.errors import ConfigurationError


def two() -> MemoryPlatform:
    p = MemoryPlatform("svc")
    p.deploy("a", version="v1", percent=100)
    p.deploy("b", version="v2")
    return p


def test_protocol_and_idempotence() -> None:
    p = two()
    assert isinstance(p, Platform)
    first = p.set_traffic({"a": 90, "b": 10}, {"b": "canary"})
    again = p.set_traffic({"a": 90, "b": 10}, {"b": "canary"})
    assert first == again and first.traffic == {"a": 90, "b": 10}
    assert first.revision("b").tag_url == "https://canary---svc.memory"  # type: ignore[union-attr]
    p.set_traffic({"a": 100})  # tags are kept unless retired
    assert p.describe().tags == {"b": "canary"}
    assert p.set_scaling(min_instances=2) == p.set_scaling(min_instances=2)
    assert p.wake("b") and p.wakes("b") == 1
    assert not p.wake("a")  # untagged: no URL reaches it


@pytest.mark.parametrize(
    ("split", "tags", "message"),
    [
        ({"a": 50, "b": 40}, None, "sum to 100"),
        ({"a": 50, "zz": 50}, None, "unknown revision 'zz'"),
        ({"a": 50, "c": 50}, None, "not ready"),
        ({"a": 100}, {"a": "x", "b": "x"}, "tags must be unique"),
    ],
)
def test_invalid_splits_change_nothing(
    split: dict[str, int], tags: dict[str, str] | None, message: str
) -> None:
    p = two()
    p.deploy("c", version="v3", ready=False)
    before = p.describe()
    with pytest.raises(SplitError, match=message):
        p.set_traffic(split, tags)
    assert p.describe() == before


def test_retire_refuses_serving_and_the_cap_deletes_oldest_non_serving() -> None:
    p = two()
    with pytest.raises(PlatformError, match="serves 100%"):
        p.retire("a")
    p = MemoryPlatform("svc", cap=3)
    p.deploy("r1", percent=100)
    for name in ("r2", "r3", "r4"):
        p.deploy(name, tag=name)
    assert p.auto_deleted == ["r2"]  # the oldest that serves nothing, tagged or not
    p.deny("run.services.update")
    with pytest.raises(PlatformPermissionError) as err:
        p.set_traffic({"r1": 100})
    assert err.value.permission == "run.services.update"


def test_specs_find_the_platform_again(tmp_path: Path) -> None:
    shared = MemoryPlatform("svc", path=tmp_path / "p.json")
    shared.deploy("a", percent=100)
    spec = platform_spec(shared)
    assert open_platform(spec) is shared
    # Another process has only the spec: the file gives it the same state.
    elsewhere = MemoryPlatform.from_spec({**spec, "key": "other"})
    assert elsewhere.describe().traffic == {"a": 100}

    class Bespoke(MemoryPlatform):
        spec = None  # type: ignore[assignment]

    bespoke = Bespoke("x")
    held = platform_spec(bespoke)
    assert held["kind"] == "process" and open_platform(held) is bespoke
    with pytest.raises(ConfigurationError, match="lives in the process that started it"):
        open_platform({**held, "key": "gone"})
    with pytest.raises(ConfigurationError, match="unknown platform 'k8s'"):
        make_platform("k8s")
    with pytest.raises(PlatformError, match="give MemoryPlatform a path"):
        open_platform({"kind": "memory", "key": "nowhere"})
