"""The cast every test can use (healthchecks style: owner, team member, outsider), and the rules
that turn a skipped real-service test into a failure in CI (REQUIRE_POSTGRES, REQUIRE_REDIS,
REQUIRE_BROWSER, REQUIRE_BENCH, REQUIRE_GETTEXT, REQUIRE_STACK)."""

from __future__ import annotations

import os
import shutil
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import django_ratelimit.core
import pytest
import time_machine
from django.core.cache import cache
from django.db import connection

from alignment.models import Role, Side
from api import plan_updates
from tests import factories as f


def _flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"


def redis_available() -> bool:
    url = urlparse(redis_url())
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


def _need(flag: str, available: bool, what: str) -> None:
    if available:
        return
    if _flag(flag):
        pytest.fail(f"{what} is required ({flag}=1) but not available", pytrace=False)
    pytest.skip(f"needs {what} (set {flag}=1 to make this a failure)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres"):
        _need("REQUIRE_POSTGRES", connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")
    if item.get_closest_marker("redis"):
        _need("REQUIRE_REDIS", redis_available(), f"Redis at {redis_url()}")
    if item.get_closest_marker("browser"):
        _need("REQUIRE_BROWSER", chromium_path() is not None, "Chromium (/usr/bin/chromium)")
    if item.get_closest_marker("bench"):
        _need("REQUIRE_BENCH", shutil.which("wrk") is not None, "wrk (apt-get install wrk)")
    if item.get_closest_marker("stack"):
        found = all(shutil.which(tool) or shutil.which(tool, path="/usr/sbin") for tool in ("nginx", "pgbouncer"))
        _need("REQUIRE_STACK", found, "nginx and pgbouncer (apt-get install nginx pgbouncer)")
    if item.get_closest_marker("gettext"):
        found = all(shutil.which(tool) for tool in ("xgettext", "msgfmt", "msgmerge"))
        _need("REQUIRE_GETTEXT", found, "GNU gettext (apt-get install gettext)")


def pytest_sessionstart(session: pytest.Session) -> None:
    if _flag("REQUIRE_POSTGRES") and connection.vendor != "postgresql":
        raise pytest.UsageError("REQUIRE_POSTGRES=1 but the tests are not running on PostgreSQL (set DATABASE_URL)")


class _RateWindowClock:
    """The clock django-ratelimit reads its windows from, standing still while a test runs.

    django-ratelimit counts in fixed windows (a minute, from a point tied to the wall clock). A burst
    of 21 requests that a slow machine spreads across a window's end is counted in two windows, neither
    of which reaches the limit, and a test that expects the 21st to be refused fails now and then. Held
    still, the whole burst falls in one window. While a test moves the clock on purpose (time-machine),
    its clock is the one read, so a window still ends when a test travels past it."""

    def __init__(self) -> None:
        self.wall = time.time()

    def time(self) -> float:
        return time.time() if time_machine.escape_hatch.is_travelling() else self.wall


@pytest.fixture(autouse=True)
def _still_rate_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(django_ratelimit.core, "time", _RateWindowClock())


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    cache.clear()
    # The /plan documents this process keeps: a test's rolled-back plan must not reach the next one.
    plan_updates.forget()


@dataclass
class Cast:
    """A partnership and everyone around it."""

    partnership: object
    vendor_admin: object  # admin of the vendor organisation
    vendor_editor: object
    vendor_approver: object
    vendor_viewer: object
    partner_approver: object
    partner_editor: object
    partner_viewer: object
    outsider: object  # admin of another vendor with its own partnership
    outsider_partnership: object

    def access(self, who: str):  # type: ignore[no-untyped-def]
        return f.access(getattr(self, who), self.partnership)


@pytest.fixture
def cast(db) -> Cast:  # type: ignore[no-untyped-def]
    vendor_admin = f.make_user("admin@vendor.test", full_name="Vera Vendor")
    p = f.make_partnership(vendor_admin, name="Acme × Northwind")
    people = {}
    for side, role, email, name in [
        (Side.VENDOR, Role.EDITOR, "editor@vendor.test", "Ed Editor"),
        (Side.VENDOR, Role.APPROVER, "approver@vendor.test", "Ava Approver"),
        (Side.VENDOR, Role.VIEWER, "viewer@vendor.test", "Vic Viewer"),
        (Side.PARTNER, Role.APPROVER, "approver@partner.test", "Pat Partner"),
        (Side.PARTNER, Role.EDITOR, "editor@partner.test", "Pete Editor"),
        (Side.PARTNER, Role.VIEWER, "viewer@partner.test", "Paula Viewer"),
    ]:
        user = f.make_user(email, full_name=name)
        f.add_member(p, user, side, role)
        people[f"{side}_{role}"] = user
    outsider = f.make_user("outsider@other.test", full_name="Otto Outsider")
    outsider_p = f.make_partnership(outsider, name="Other × Elsewhere")
    return Cast(
        partnership=p,
        vendor_admin=vendor_admin,
        vendor_editor=people["vendor_editor"],
        vendor_approver=people["vendor_approver"],
        vendor_viewer=people["vendor_viewer"],
        partner_approver=people["partner_approver"],
        partner_editor=people["partner_editor"],
        partner_viewer=people["partner_viewer"],
        outsider=outsider,
        outsider_partnership=outsider_p,
    )
