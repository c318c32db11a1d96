"""Browser tests: Debian's Chromium (``/usr/bin/chromium``, installed by ``scripts/bootstrap``)
driven by Playwright for Python, never a downloaded browser. One browser per module;
screenshots of every page go to ``tests/browser/artifacts/`` (git-ignored)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one module. Not for the session: Playwright's sync API keeps an event loop
    running in this thread while it is open, and every async test that ran after it in the same
    worker failed with "Cannot run the event loop while another loop is running"."""
    executable = shutil.which("chromium") or CHROMIUM
    assert Path(executable).exists(), (
        "chromium is missing: scripts/bootstrap installs it (apt-get install chromium)"
    )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context (no cookies, no storage) per test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    opened = context.new_page()
    yield opened
    context.close()


class Shots:
    """Numbered screenshots of one test."""

    def __init__(self, page: Page, name: str) -> None:
        self.page = page
        self.dir = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.count = 0

    def __call__(self, label: str) -> Path:
        self.count += 1
        path = self.dir / f"{self.count:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(page: Page, request: pytest.FixtureRequest) -> Shots:
    return Shots(page, request.node.name)
