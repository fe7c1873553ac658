"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): pages render
the fleet's data, a cancel round-trips to the database, and every page is screenshotted
into ci-artifacts/screenshots (kept by CI as test artifacts)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from tether import Status
from tether.dashboard import dashboard_app

from ..integration.helpers import wait_until
from .conftest import Fleet

SHOTS = Path(
    os.environ.get("TETHER_SCREENSHOTS")
    or Path(__file__).resolve().parents[2] / "ci-artifacts" / "screenshots"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def served(fleet: Fleet) -> Iterator[str]:
    config = uvicorn.Config(
        dashboard_app(fleet.admin, code=fleet.app), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 10, "the dashboard server to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def page(served: str) -> Iterator[object]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: apt-get install -y chromium")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1360, "height": 900}, base_url=served)
        tab.set_default_timeout(10_000)
        yield tab
        browser.close()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_pages_and_a_cancel(fleet: Fleet, page: object) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto("/")
    card = page.locator('[data-version="v1"]')
    expect(card).to_contain_text("100 % of new work")
    expect(card).to_contain_text("active")
    strip = page.locator('[data-rollout="ro-1"]')
    expect(strip).to_contain_text("shop-v1 → shop-v2")
    expect(strip.locator(".steps span.done")).to_have_count(1)
    expect(page.locator("text=Needs attention")).to_be_visible()
    expect(page.locator(f'[data-workflow="{fleet.failed}"]').first).to_contain_text("ERROR")
    page.screenshot(path=SHOTS / "overview.png", full_page=True)

    page.goto("/workflows?name=checkout")
    page.click(f"text={fleet.done}")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("fetch")
    expect(timeline).to_contain_text("charge")
    expect(timeline.locator(".lane span")).to_have_count(page.locator("#timeline tbody tr").count())
    page.screenshot(path=SHOTS / "workflow.png", full_page=True)

    page.goto(f"/workflows/{fleet.waiting}")
    expect(page.locator("#status")).to_have_text(Status.PENDING)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel")
    expect(page.locator("#status")).to_have_text(Status.CANCELLED)
    expect(page.locator(".flash.ok")).to_contain_text("cancelled 1 workflow")
    assert fleet.admin.get_workflow(fleet.waiting).status == Status.CANCELLED
    page.screenshot(path=SHOTS / "workflow-cancelled.png", full_page=True)

    page.goto("/queues")
    expect(page.locator('[data-queue="jobs"] svg.spark')).to_have_count(3)
    page.screenshot(path=SHOTS / "queues.png", full_page=True)

    page.goto("/patches")
    expect(page.locator('[data-patch="free-shipping"]')).to_contain_text("keep")
    page.screenshot(path=SHOTS / "patches.png", full_page=True)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_rollout_buttons_follow_its_state_and_send_the_action(fleet: Fleet, page: object) -> None:
    from playwright.sync_api import Page, expect
    from sqlalchemy import select, update
    from tether.runtime.store import schema

    assert isinstance(page, Page)
    # The controller's mailbox: a workflow with the rollout's id receives its control messages.
    fleet.app.start_workflow("approval", workflow_id="ro-1")
    wait_until(lambda: fleet.admin.get_workflow("ro-1").status == Status.PENDING, 15, "ro-1")
    page.goto("/")
    strip = page.locator('[data-rollout="ro-1"]')
    buttons = strip.locator("button[data-action]")
    expect(buttons).to_have_text(["Pause", "Promote", "Abort"])

    # Paused at an approval point, as the controller records it: Approve, not Resume.
    with fleet.admin.store.db.write() as conn:
        conn.execute(
            update(schema.rollouts)
            .where(schema.rollouts.c.rollout_id == "ro-1")
            .values(state="paused", reason="waiting for approval to shift to 50%")
        )
    page.reload()
    expect(buttons).to_have_text(["Approve", "Promote", "Abort"])
    page.screenshot(path=SHOTS / "rollout-awaiting-approval.png", full_page=True)
    strip.locator('button[data-action="approve"]').click()
    expect(page.locator(".flash.ok")).to_contain_text("sent approve to rollout ro-1")

    m = schema.messages
    with fleet.admin.store.db.read() as conn:
        payloads = conn.execute(
            select(m.c.payload).where(m.c.app_name == fleet.app.app_name, m.c.dest_id == "ro-1")
        ).scalars()
        sent = [json.loads(p) for p in payloads]
    assert sent == [{"action": "approve", "by": "dashboard"}]
