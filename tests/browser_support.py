"""Shared fixtures for browser tests in real Chromium (Debian's package, driven by Playwright).

Use them from a test module with::

    from tests.browser_support import browser, live_url, new_page, screenshot, sign_in  # noqa: F401

    pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

    def test_something(new_page, live_url, cast):
        page = new_page(cast.vendor_editor)            # logged in, fresh context
        page.goto(f"{live_url}/p/{cast.partnership.pk}/")

- ``browser`` (session): one Chromium for the whole run, launched with the flags the CI needs.
- ``live_url``: the base URL of a live server on the test database (``live_server`` +
  ``transactional_db``, so data written by the test is visible to the server and vice versa).
- ``new_page(user=None, *, width=1280, height=900)``: a page in a fresh browser context (own
  cookies, so two users never share a session), signed in as ``user`` when given.
- ``sign_in(page, email, password)``: signs in through the real sign-in form.
- ``screenshot(page, name)``: a full-page PNG in ``artifacts/screenshots/<name>.png`` (kept by CI).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.test import Client

from tests import factories as f
from tests.conftest import chromium_path

SCREENSHOT_DIR = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous: two cores are shared by several test runs; expectations poll, they do not sleep.
DEFAULT_TIMEOUT_MS = 15_000
DESKTOP = (1280, 900)
PHONE = (390, 844)


_running: dict[str, Any] = {}


def _shared_chromium(path: str) -> Any:
    """One Playwright driver and one Chromium per test process.

    Every module that imports ``browser`` gets its own fixture definition (and so its own session
    cache); they must all share this one instance, because Playwright's sync API allows a single
    driver loop per thread.
    """
    if "browser" not in _running:
        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
        # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
        # still synchronous, so Django's "called from an async context" guard does not apply.
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        driver = sync_playwright().start()
        _running["driver"] = driver
        _running["browser"] = driver.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        atexit.register(_stop_chromium)
    return _running["browser"]


def _stop_chromium() -> None:
    try:
        _running.pop("browser").close()
        _running.pop("driver").stop()
    except Exception:  # the process is ending: nothing is left to clean up for
        pass


@pytest.fixture(scope="session")
def browser() -> Any:
    path = chromium_path()
    if path is None:  # the `browser` marker normally skips (or fails under REQUIRE_BROWSER) earlier
        pytest.skip("needs Chromium (/usr/bin/chromium)")
    return _shared_chromium(path)


@pytest.fixture
def live_url(live_server: Any, transactional_db: None) -> str:
    return str(live_server.url).rstrip("/")


def session_cookie_for(user: Any) -> str:
    """A real session for ``user`` in the session store, as the cookie value a browser would hold."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def new_page(browser: Any, live_url: str) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []
    # Chromium reports every Content Security Policy violation on the console: any one fails the test.
    csp_violations: list[str] = []

    def make(user: Any = None, *, width: int = DESKTOP[0], height: int = DESKTOP[1]) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_url)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        if user is not None:
            context.add_cookies(
                [
                    {
                        "name": settings.SESSION_COOKIE_NAME,
                        "value": session_cookie_for(user),
                        "url": live_url,
                    }
                ]
            )
        page = context.new_page()
        page.errors = []  # uncaught script errors, for tests that want to assert there were none
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on("console", lambda msg: _note_csp_violation(csp_violations, page, msg))
        return page

    yield make
    for context in contexts:
        context.close()
    if csp_violations:
        pytest.fail("Content Security Policy violations in Chromium:\n" + "\n".join(csp_violations), pytrace=False)


def _note_csp_violation(found: list[str], page: Any, message: Any) -> None:
    if "Content Security Policy" in message.text:
        found.append(f"{page.url}: {message.text}")


def sign_in(page: Any, email: str, password: str = f.PASSWORD) -> None:
    """Sign in through the sign-in page, as a person would."""
    page.goto("/accounts/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(lambda url: "/accounts/login" not in url)


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target


__all__ = ["DESKTOP", "PHONE", "browser", "live_url", "new_page", "screenshot", "session_cookie_for", "sign_in"]


def tab_to(page: Any, predicate: str, limit: int = 150) -> None:
    """Press Tab until the focused element matches the JavaScript predicate (given ``el``)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!el && ({predicate}); }})()"):
            return
    raise AssertionError(f"Tab never reached an element where {predicate}")


def serious_violations(page: Any) -> list[str]:
    """What axe-core finds serious or critical on the page, one line each."""
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
