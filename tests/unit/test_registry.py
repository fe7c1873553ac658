"""Registration refuses bad names and retry settings up front, with a message saying why."""

from __future__ import annotations

from typing import Any

import pytest
from tether.runtime.errors import ConfigurationError
from tether.runtime.registry import Registry, StepDef

from tether import Tether


def plain() -> None: ...


async def coro() -> None: ...


def add_step(registry: Registry, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "name": "s",
        "retries": 0,
        "backoff": 2.0,
        "interval": 1.0,
        "max_interval": 60.0,
        "retry_on": (Exception,),
    }
    options.update(overrides)
    return registry.add_step(plain, **options)


@pytest.mark.parametrize("name", ["has space", "9lives", "-dash", "x" * 256, "semi;colon"])
def test_bad_names_are_refused(name: str) -> None:
    registry = Registry()
    with pytest.raises(ConfigurationError, match="invalid workflow name"):
        registry.add_workflow(plain, name=name, max_recovery_attempts=1)
    with pytest.raises(ConfigurationError, match="invalid step name"):
        add_step(registry, name=name)


def test_default_names_are_module_and_qualname() -> None:
    registry = Registry()
    registry.add_workflow(plain, name=None, max_recovery_attempts=1)
    assert f"{__name__}.plain" in registry.workflows


@pytest.mark.parametrize(
    "overrides",
    [
        {"retries": -1},
        {"backoff": 0.5},
        {"interval": -0.1},
        {"interval": 10.0, "max_interval": 5.0},
    ],
)
def test_bad_retry_parameters_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="step 's': need retries >= 0"):
        add_step(Registry(), **overrides)


def test_max_recovery_attempts_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_recovery_attempts"):
        Registry().add_workflow(plain, name="w", max_recovery_attempts=0)


def test_two_functions_cannot_share_a_workflow_name() -> None:
    registry = Registry()
    registry.add_workflow(plain, name="w", max_recovery_attempts=1)
    registry.add_workflow(plain, name="w", max_recovery_attempts=1)  # same function: fine
    with pytest.raises(ConfigurationError, match="two different functions"):
        registry.add_workflow(coro, name="w", max_recovery_attempts=1)


def test_sync_and_async_are_classified_at_registration() -> None:
    registry = Registry()
    registry.add_workflow(plain, name="sync_wf", max_recovery_attempts=1)
    registry.add_workflow(coro, name="async_wf", max_recovery_attempts=1)
    assert not registry.workflows["sync_wf"].is_async
    assert registry.workflows["async_wf"].is_async


def test_unknown_workflows_are_reported_with_what_is_registered() -> None:
    registry = Registry()
    wrapper = registry.add_workflow(plain, name="known", max_recovery_attempts=1)
    assert registry.workflow_def(wrapper).name == "known"
    assert registry.workflow_def("known").name == "known"
    with pytest.raises(ConfigurationError, match=r"no workflow named 'other'.*'known'"):
        registry.workflow_def("other")
    with pytest.raises(ConfigurationError, match="not a registered workflow"):
        registry.workflow_def(plain)


def test_backoff_is_exponential_and_capped() -> None:
    sdef = StepDef("s", plain, False, retries=5, backoff=2.0, interval=0.5, max_interval=3.0)
    assert [sdef.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_decorators_validate_too() -> None:
    app = Tether(app_name="registry-test", database_url="sqlite:///:memory:")
    with pytest.raises(ConfigurationError, match=r"step '.*plain': need retries >= 0.*retries=-2"):
        app.step(retries=-2)(plain)
    with pytest.raises(ConfigurationError, match="invalid workflow name 'bad name'"):
        app.workflow(name="bad name")(plain)


def test_calling_a_workflow_before_launch_says_what_to_do() -> None:
    app = Tether(app_name="registry-test", database_url="sqlite:///:memory:")

    @app.workflow()
    def wf() -> None: ...

    with pytest.raises(ConfigurationError, match="launch"):
        wf()
    with pytest.raises(ConfigurationError, match="launch"):
        app.start_workflow(wf)
