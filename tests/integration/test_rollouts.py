"""Whole rollouts on the in-memory platform: promote, roll back on failures of the candidate's
real workflows, pause for approval, drain then retire, in-flight work on either side. The
same scenarios run against Cloud Run's stand-in in tests/rollout/test_cloudrun_rollouts.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tether import Tether

from . import rollout_scenarios as scenario
from .rollout_helpers import Service, service


@pytest.fixture
def s(make_app: Callable[..., Tether]) -> Service:
    return service(make_app)


def test_rollout_promotes_then_retires_the_drained_revision(s: Service) -> None:
    scenario.promotes_then_retires_the_drained_revision(s)


def test_rollout_rolls_back_on_the_candidates_failure_rate(s: Service) -> None:
    scenario.rolls_back_on_the_candidates_failure_rate(s)


def test_rollout_pauses_for_approval(s: Service) -> None:
    scenario.pauses_for_approval(s)


def test_old_revision_with_open_work_is_kept_until_it_drains(s: Service) -> None:
    scenario.keeps_the_old_revision_until_its_work_drains(s)


def test_rollback_keeps_the_candidates_workflows_on_the_candidate(s: Service) -> None:
    scenario.rollback_keeps_the_candidates_workflows_on_the_candidate(s)


def test_a_candidate_that_is_not_ready_fails_before_any_shift(s: Service) -> None:
    scenario.an_unready_candidate_fails_before_any_shift(s)


def test_a_permission_denied_pauses_the_rollout_until_resumed(s: Service) -> None:
    scenario.a_permission_denied_pauses_the_rollout_until_resumed(s)


def test_orphaned_old_work_wakes_its_revision_and_a_failed_wake_is_reported(s: Service) -> None:
    scenario.orphaned_old_work_wakes_its_revision_and_a_failed_wake_is_reported(s)


def test_a_refused_promotion_pauses_and_is_retried_on_resume(s: Service) -> None:
    scenario.a_refused_promotion_pauses_and_is_retried_on_resume(s)
