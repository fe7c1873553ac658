"""Executor identity: the Cloud Run instance id when on Cloud Run, else a random id."""

from __future__ import annotations

import os
import urllib.request
import uuid

METADATA_URL = "http://metadata.google.internal/computeMetadata/v1/instance/id"


def cloud_run_instance_id(timeout: float = 0.3) -> str | None:
    """The instance id from the metadata server; None when unreachable (never blocks long)."""
    req = urllib.request.Request(METADATA_URL, headers={"Metadata-Flavor": "Google"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - fixed URL
            value = resp.read().decode().strip()
    except (OSError, ValueError):
        return None
    return value or None


def resolve_executor_id(explicit: str | None = None) -> str:
    """explicit > TETHER_EXECUTOR_ID > Cloud Run instance id (K_SERVICE set) > random."""
    if explicit:
        return explicit
    env = os.environ.get("TETHER_EXECUTOR_ID")
    if env:
        return env
    if os.environ.get("K_SERVICE"):
        instance = cloud_run_instance_id()
        if instance:
            return instance[:128]
    return f"ex-{uuid.uuid4().hex[:16]}"
