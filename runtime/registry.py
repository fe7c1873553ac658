"""Registration of workflow and step functions, and the wrappers users call.

Each function is classified once, at registration, as sync or async; the wrapper routes
the call to the engine (durably) or, outside a workflow, runs a step as a plain call.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import children, steps
from .context import maybe_current
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .engine import Engine

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:<>\-]{0,254}$")


def default_name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}".removeprefix("__main__.")


def _check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise ConfigurationError(
            f"invalid {what} name {name!r}: use 1-255 characters, letters, digits, '_', '.', "
            "'-', ':' (starting with a letter or '_')"
        )
    return name


@dataclass(frozen=True)
class StepDef:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    retries: int = 0
    backoff: float = 2.0
    interval: float = 1.0
    max_interval: float = 60.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    timeout: float | None = None  # seconds an attempt may take

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based): exponential backoff."""
        return min(self.max_interval, self.interval * (self.backoff ** (attempt - 1)))


@dataclass(frozen=True)
class WorkflowDef:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    max_recovery_attempts: int = 50
    source: str = field(default="", repr=False)
    timeout: float | None = None  # seconds from start (or dequeue) to its deadline

    @property
    def timeout_ms(self) -> int | None:
        return None if self.timeout is None else max(1, int(self.timeout * 1000))


class Registry:
    def __init__(self) -> None:
        self.workflows: dict[str, WorkflowDef] = {}
        self.steps: dict[str, StepDef] = {}
        self.engine: Engine | None = None
        self._frozen = False

    def workflow_def(self, fn_or_name: Any) -> WorkflowDef:
        if isinstance(fn_or_name, str):
            name = fn_or_name
        else:
            tagged = getattr(fn_or_name, "__tether_workflow__", None)
            if tagged is None:
                raise ConfigurationError(
                    f"{fn_or_name!r} is not a registered workflow: decorate it with @app.workflow()"
                )
            name = str(tagged)
        try:
            return self.workflows[name]
        except KeyError:
            raise ConfigurationError(
                f"no workflow named {name!r} is registered in this app; registered: "
                f"{sorted(self.workflows) or 'none'}"
            ) from None

    def add_workflow(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None,
        max_recovery_attempts: int,
        timeout: float | None = None,
    ) -> Callable[..., Any]:
        wname = _check_name(name or default_name(fn), "workflow")
        if self.engine is not None:
            raise ConfigurationError(
                f"workflow {wname!r} is registered after launch(): register every workflow "
                "before app.launch(), so that this executor can recover and dequeue it"
            )
        if wname in self.workflows and self.workflows[wname].fn is not fn:
            raise ConfigurationError(
                f"two different functions are registered as workflow {wname!r}: "
                "give one of them name=..."
            )
        if max_recovery_attempts < 1:
            raise ConfigurationError("max_recovery_attempts must be at least 1")
        if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
            raise ConfigurationError(
                f"workflow {wname!r}: timeout must be seconds > 0 or None, got {timeout!r}"
            )
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            source = wname
        wdef = WorkflowDef(
            name=wname,
            fn=fn,
            is_async=inspect.iscoroutinefunction(fn),
            max_recovery_attempts=max_recovery_attempts,
            source=source,
            timeout=timeout,
        )
        self.workflows[wname] = wdef
        registry = self

        if wdef.is_async:

            @functools.wraps(fn)
            def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                ctx = maybe_current()
                if ctx is not None:
                    return children.call_child_async(ctx, wdef, args, kwargs)
                return registry.require_engine().call_async(wdef, args, kwargs)

            wrapper: Callable[..., Any] = async_wrapper
        else:

            @functools.wraps(fn)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                ctx = maybe_current()
                if ctx is not None:
                    return children.call_child(ctx, wdef, args, kwargs)
                return registry.require_engine().call(wdef, args, kwargs)

            wrapper = sync_wrapper
        wrapper.__tether_workflow__ = wname  # type: ignore[attr-defined]
        return wrapper

    def add_step(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None,
        retries: int,
        backoff: float,
        interval: float,
        max_interval: float,
        retry_on: tuple[type[BaseException], ...],
        timeout: float | None = None,
    ) -> Callable[..., Any]:
        sname = _check_name(name or default_name(fn), "step")
        if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
            raise ConfigurationError(
                f"step {sname!r}: timeout must be seconds > 0 or None, got {timeout!r}"
            )
        if sname in self.steps and self.steps[sname].fn is not fn:
            raise ConfigurationError(
                f"two different functions are registered as step {sname!r}: give one of "
                "them name=... (histories record steps by name)"
            )
        if retries < 0 or backoff < 1.0 or interval < 0 or max_interval < interval:
            raise ConfigurationError(
                f"step {sname!r}: need retries >= 0, backoff >= 1.0, 0 <= interval <= "
                f"max_interval (got retries={retries}, backoff={backoff}, "
                f"interval={interval}, max_interval={max_interval})"
            )
        sdef = StepDef(
            name=sname,
            fn=fn,
            is_async=inspect.iscoroutinefunction(fn),
            retries=retries,
            backoff=backoff,
            interval=interval,
            max_interval=max_interval,
            retry_on=retry_on,
            timeout=timeout,
        )
        self.steps[sname] = sdef

        if sdef.is_async:

            @functools.wraps(fn)
            def async_step(*args: Any, **kwargs: Any) -> Any:
                return steps.call_async(sdef, args, kwargs)

            wrapper: Callable[..., Any] = async_step
        else:

            @functools.wraps(fn)
            def sync_step(*args: Any, **kwargs: Any) -> Any:
                return steps.call(sdef, args, kwargs)

            wrapper = sync_step
        wrapper.__tether_step__ = sname  # type: ignore[attr-defined]
        return wrapper

    def require_engine(self) -> Engine:
        """The app's engine (workflow code reaches children through its context instead)."""
        if self.engine is None:
            raise ConfigurationError("the app is not launched: call app.launch() first")
        return self.engine
