"""A real Chromium, driven by Playwright, against pytest-django's live server."""

import os
import shutil

import pytest
from django.db import connections

CHROMIUM = os.environ.get("OMS_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def page(monkeypatch):
    """A fresh browser page; the browser is closed before the database is flushed."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("OMS_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium not found at {CHROMIUM} and OMS_REQUIRE_BROWSER is set")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in the test thread; the ORM
    # calls the test makes between browser steps are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(15_000)
        # Chromium reports each Content-Security-Policy refusal on the console: none may happen in any walk.
        violations: list[str] = []
        page.on("console", lambda msg: "Content Security Policy" in msg.text and violations.append(msg.text))
        yield page
        assert not violations, f"Content-Security-Policy violations: {violations}"
        # Connections the test opened while Playwright's loop ran live in that
        # loop's context; close them here, or they outlive the test database.
        connections.close_all()
        context.close()
        browser.close()
