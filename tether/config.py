"""Settings, resolved once: explicit argument > ``TETHER_*`` environment variable > default."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from tether.runtime.errors import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite:///tether.db"
MIN_LEASE_TIMEOUT = 0.5  # seconds; below it heartbeats cannot keep a lease alive
_APP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number of seconds") from None


@dataclass(frozen=True)
class Settings:
    app_name: str
    database_url: str
    version: str | None = None
    executor_id: str | None = None
    compatible_with: tuple[str, ...] = field(default_factory=tuple)
    lease_timeout: float = 10.0
    heartbeat_interval: float | None = None
    recovery_interval: float = 1.0
    poll_interval: float = 0.5
    max_workflows: int = 128
    shutdown_grace: float = 8.0
    # Seconds a durable wait holds its thread before the workflow suspends (None: never).
    suspend_after: float | None = 1.0
    migrate: bool = True
    install_signal_handlers: bool = True

    @classmethod
    def resolve(
        cls,
        *,
        app_name: str | None,
        database_url: str | None,
        lease_timeout: float | None = None,
        **kwargs: object,
    ) -> Settings:
        name = app_name or os.environ.get("TETHER_APP_NAME")
        if not name or not _APP_NAME.match(name):
            raise ConfigurationError(
                f"app_name {name!r} is missing or invalid: pass app_name='refunds' (letters, "
                "digits, '.', '_', '-'; at most 128) or set TETHER_APP_NAME"
            )
        url = database_url or os.environ.get("TETHER_DATABASE_URL") or DEFAULT_DATABASE_URL
        lease = (
            lease_timeout if lease_timeout is not None else _env_float("TETHER_LEASE_TIMEOUT", 10.0)
        )
        settings = cls(app_name=name, database_url=url, lease_timeout=lease, **kwargs)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if not (math.isfinite(self.lease_timeout) and self.lease_timeout >= MIN_LEASE_TIMEOUT):
            raise ConfigurationError(
                f"lease_timeout ({self.lease_timeout!r}) must be a finite number of seconds, "
                f"at least {MIN_LEASE_TIMEOUT:g} (heartbeats must fit in it)"
            )
        if self.heartbeat_interval is not None and not (
            0 < self.heartbeat_interval < self.lease_timeout
        ):
            raise ConfigurationError(
                f"heartbeat_interval ({self.heartbeat_interval}) must be > 0 and shorter than "
                f"lease_timeout ({self.lease_timeout}), or the lease expires between heartbeats"
            )
        if self.max_workflows < 1:
            raise ConfigurationError("max_workflows must be at least 1")
        if not all(
            math.isfinite(x)
            for x in (self.shutdown_grace, self.recovery_interval, self.poll_interval)
        ):
            raise ConfigurationError(
                "shutdown_grace, recovery_interval and poll_interval must be finite"
            )
        if self.shutdown_grace < 0:
            raise ConfigurationError("shutdown_grace must be >= 0 seconds")
        if self.suspend_after is not None and not self.suspend_after >= 0:
            raise ConfigurationError(
                "suspend_after must be >= 0 seconds, or None to keep waiting workflows in memory"
            )
        if self.recovery_interval <= 0 or self.poll_interval <= 0:
            raise ConfigurationError("recovery_interval and poll_interval must be > 0 seconds")

    @property
    def lease_timeout_ms(self) -> int:
        """The lease timeout as the store measures it (epoch milliseconds)."""
        return int(self.lease_timeout * 1000)

    @property
    def effective_heartbeat(self) -> float:
        return self.heartbeat_interval or self.lease_timeout / 4
