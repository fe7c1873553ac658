"""Choosing a platform by name and options, and finding it again from a stored spec.

A rollout controller is a durable workflow that may resume in another process, so it keeps
a *spec* of its platform (plain JSON), not the object. Implementations are imported only
when chosen, so a missing optional dependency (``google-cloud-run``) costs nothing unless
Cloud Run is used.
"""

from __future__ import annotations

import importlib
import json
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from tether.runtime.errors import ConfigurationError

from .platform import Platform

KINDS = ("cloudrun", "local", "memory")  # "process": an object only this process holds
_live: dict[str, Platform] = {}
_lock = threading.Lock()


def _key(spec: Mapping[str, Any]) -> str:
    return json.dumps(dict(spec), sort_keys=True, default=str)


def platform_spec(platform: Platform) -> dict[str, Any]:
    """The spec to store for ``platform``; the object itself is reused in this process."""
    spec_fn = getattr(platform, "spec", None)
    if callable(spec_fn):
        spec = dict(spec_fn())
    elif type(platform).__name__ == "CloudRunPlatform":
        spec = {"kind": "cloudrun"}
        api = getattr(platform, "api", None)
        for attr in ("project", "region", "service", "endpoint", "transport"):
            value = getattr(platform, attr, None) or getattr(api, attr, None)
            if isinstance(value, str) and value:
                spec[attr] = value
    else:
        # Reachable only from this process (e.g. local processes this process supervises):
        # a controller resumed elsewhere says so instead of guessing.
        spec = {"kind": "process", "key": uuid.uuid4().hex, "type": type(platform).__name__}
    with _lock:
        _live[_key(spec)] = platform
    return spec


def make_platform(kind: str, **options: Any) -> Platform:
    """``make_platform("cloudrun", project=..., region=..., service=..., endpoint=None)``,
    ``make_platform("local", ...)`` or ``make_platform("memory", service=..., path=...)``."""
    options = {k: v for k, v in options.items() if v is not None}
    if kind == "memory":
        from .memory import MemoryPlatform

        if "key" in options:
            return MemoryPlatform.from_spec({"kind": kind, **options})
        return MemoryPlatform(**options)
    if kind == "cloudrun":
        module, name = "tether.rollout.cloudrun", "CloudRunPlatform"
    elif kind == "local":
        module, name = "tether.rollout.local", "LocalPlatform"
    else:
        raise ConfigurationError(f"unknown platform {kind!r}: use one of {', '.join(KINDS)}")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"the {kind} platform is not available ({exc}); for Cloud Run install google-cloud-run"
        ) from exc
    platform: Platform = cls(**options)
    return platform


def open_platform(spec: Mapping[str, Any]) -> Platform:
    """The platform a stored spec names: the same object in this process, else a new one."""
    with _lock:
        live = _live.get(_key(spec))
    if live is not None:
        return live
    if spec.get("kind") == "process":
        raise ConfigurationError(
            f"the {spec.get('type')} platform of this rollout lives in the process that started "
            "it, which is gone: resume the rollout there, or give the platform a spec() method"
        )
    options = {k: v for k, v in spec.items() if k != "kind"}
    platform = make_platform(str(spec.get("kind")), **options)
    with _lock:
        _live[_key(spec)] = platform
    return platform
