"""The Cloud Run platform (``google-cloud-run``; install ``tether[cloudrun]``)."""

from __future__ import annotations

from .errors import OperationTimeoutError
from .platform import CloudRunPlatform

__all__ = ["CloudRunPlatform", "OperationTimeoutError"]
