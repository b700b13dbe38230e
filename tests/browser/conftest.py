"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against pytest-django's
live_server. `make test` installs chromium; Playwright's own browser download is never used.

Playwright's sync API runs an asyncio loop in the test thread, where Django then refuses the ORM
(SynchronousOnlyOperation). So: set rows up before opening the browser (the `open_page` fixture is
set up after the database and torn down before it), and touch the ORM while a page is open only
through `orm`, which runs the function in a thread of its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.db import connections
from django.test import Client
from playwright.sync_api import Page, sync_playwright

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
# A directory to keep screenshots of the pages under test in, e.g. BROWSER_SCREENSHOTS=/tmp.
SCREENSHOTS = os.environ.get("BROWSER_SCREENSHOTS", "")


@pytest.fixture
def open_page(live_server) -> Iterator[Callable[..., Page]]:
    """open_page(user, path) -> a Chromium page logged in as `user` (by its session cookie) at `path`."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium package. "
            "`make test` installs it (apt-get install chromium).",
            pytrace=False,
        )
    playwright = None
    browser = None

    def open_(user: Any, path: str) -> Page:
        nonlocal playwright, browser
        client = Client()
        client.force_login(user)  # before Playwright starts its loop: this writes the session row
        session_id = client.cookies["sessionid"].value
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=live_server.url)
        context.add_cookies([{"name": "sessionid", "value": session_id, "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(path)
        return page

    yield open_
    if browser is not None:
        browser.close()
    if playwright is not None:
        playwright.stop()


@pytest.fixture
def orm() -> Callable[[Callable[[], T]], T]:
    """orm(fn) runs fn in its own thread (with its own database connection) and returns its result."""

    def run(fn: Callable[[], T]) -> T:
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["value"] = fn()
            except BaseException as exc:  # re-raised in the test's thread
                outcome["error"] = exc
            finally:
                connections.close_all()

        thread = threading.Thread(target=target)
        thread.start()
        thread.join(30)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    return run


@pytest.fixture
def screenshot() -> Callable[[Page, str], None]:
    """screenshot(page, name) keeps a full-page screenshot as $BROWSER_SCREENSHOTS/<name>.png when that is set."""

    def take(page: Page, name: str) -> None:
        if SCREENSHOTS:
            page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)

    return take
