"""Screenshots of every page of Partnerplan at 1280 and 390 px, with axe and a sideways-scroll check.

Used by ``make screenshots``::

    python scripts/screenshots.py               # every page, into artifacts/screenshots/
    python scripts/screenshots.py --only plan   # the pages whose file name contains "plan"
    python scripts/screenshots.py --docs        # also docs/screens/*.png and the page list of docs/screens.md

It builds the demo from nothing in a fresh temporary var dir (``PARTNERPLAN_VAR_DIR``) on the
embedded default (SQLite, whatever ``DATABASE_URL`` or ``REDIS_URL`` say): ``manage.py migrate``,
``manage.py seed_demo``, then what the remaining pages need (``tests.every_page.prepare``: a goal
waiting for the partner's commitment, a new partnership, invitation links, an unsubscribe and a
password-reset link). It starts ``manage.py runserver`` with DEBUG on, on a free port, and visits
every page of ``tests.every_page.PAGES`` (the list CI checks too) in Debian's Chromium as the person
who sees it, signed in through the sign-in form: the vendor's admin, its partner manager, the
partner's approver, a partner viewer, and someone signed out.

Each page gets a full-page screenshot ``<who>-<page>-<width>.png``, an axe-core run and a check
that it does not scroll sideways. ``report.md`` beside the screenshots has the table; the summary is
printed. The exit code is 1 when any page has a serious or critical axe violation, scrolls sideways,
answers with an unexpected status or fails to load. The server stops on exit, on Ctrl-C and on
SIGTERM alike; the temporary var dir goes with it (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screens"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The embedded default: none of these may point the demo at another database, cache or broker.
NOT_EMBEDDED = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "EMAIL_URL", "DJANGO_SETTINGS_MODULE")
TIMEOUT_MS = 20_000
SERVER_START_SECONDS = 60.0
STOP_SECONDS = 5.0

# The demo's people (plans/demo/showcase.py): who signs in as whom.
DEMO_PEOPLE = {
    "admin": "admin@acme-cloud.example",
    "manager": "sam.okafor@acme-cloud.example",
    "partner": "priya.nair@northwind-consulting.example",
    "viewer": "tom.becker@northwind-consulting.example",
}


@dataclass(frozen=True)
class DocShot:
    """One image of docs/screens.md (``--docs``): a window ``width`` by ``height`` px on a page of
    ``tests.every_page.PAGES``, scrolled to ``scroll_to`` (a CSS selector, ``{ids}`` filled in) or
    showing the element ``element`` alone, or the top of the page."""

    name: str
    page: str  # <who>-<page>
    width: int = 1280
    height: int = 800
    scroll_to: str = ""
    element: str = ""


DOC_SHOTS = [
    DocShot("dashboard", "admin-dashboard", height=880),
    DocShot("new-plan", "admin-new-plan", height=900),
    DocShot("plan", "admin-plan", scroll_to="#objectives-heading", height=900),
    DocShot("review-queue-partner", "partner-review-queue", height=900),
    DocShot("commit-and-approve", "partner-review-queue", element="article.review-item:has(form.commit-approve)"),
    DocShot("goal-card-commit", "partner-plan", element="#goal-{commitment_goal}"),
    DocShot("invitations", "partner-invitations", height=900),
    DocShot("health", "admin-health", height=860),
    DocShot("plan-phone", "partner-plan", width=390, height=844, scroll_to="#goal-{commitment_goal}"),
    DocShot("review-queue-phone", "partner-review-queue", width=390, height=844),
]


@dataclass
class Row:
    """What one page showed at one width."""

    key: str
    who: str
    name: str
    width: int
    url: str
    expected: int
    status: int = 0
    violations: list[str] = field(default_factory=list)
    sideways: int = 0
    error: str = ""
    file: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.violations or self.sideways or self.error or self.status != self.expected)


def say(text: str) -> None:
    print(text, flush=True)


# --- The demo and its server ------------------------------------------------------------------------


def demo_environment(var_dir: Path, site_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_EMBEDDED}
    env.update({"PARTNERPLAN_VAR_DIR": str(var_dir), "DEBUG": "1", "SITE_URL": site_url, "PYTHONUNBUFFERED": "1"})
    # No worker runs beside the server: e-mails go out as the request that queued them commits (into
    # the var dir's outbox folder), as the worker of `make run` would send them, so the e-mail log
    # shows them sent.
    env["CELERY_TASK_ALWAYS_EAGER"] = "1"
    env.setdefault("LOG_LEVEL", "WARNING")
    return env


def manage(env: dict[str, str], *args: str, show: bool = False) -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if show or done.returncode:
        say(done.stdout.rstrip())
    if done.returncode:
        say(done.stderr.rstrip())
        raise SystemExit(f"manage.py {' '.join(args)} failed (exit code {done.returncode}).")


def prepare_demo(env: dict[str, str]) -> tuple[dict[str, str], str]:
    """What the remaining pages need, written in this process through the services (the server is
    not running yet); the ids of ``PAGES`` and the demo's password."""
    for name in NOT_EMBEDDED:  # this process writes to the server's database, not to DATABASE_URL's
        os.environ.pop(name, None)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "partnerplan.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connections

    from accounts.models import User
    from alignment.models import Partnership
    from plans.demo import DEMO_PASSWORD, NORTHWIND_ID
    from tests.every_page import prepare

    people = {who: User.objects.get(email=email) for who, email in DEMO_PEOPLE.items()}
    ids = prepare(
        partnership=Partnership.objects.get(pk=NORTHWIND_ID),
        admin=people["admin"],
        manager=people["manager"],
        partner=people["partner"],
    )
    connections.close_all()
    return ids, DEMO_PASSWORD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """``manage.py runserver`` in a process group of its own, stopped (the group) when the block ends."""
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_up(base, proc, log)
            yield base
        finally:
            stop(proc)


def wait_until_up(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"The server stopped (exit code {proc.returncode}):\n{log.read_text()}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:  # noqa: S310
            if answer.status == 200:  # our own server, on 127.0.0.1
                return
        time.sleep(0.25)
    raise SystemExit(f"The server did not answer within {SERVER_START_SECONDS:.0f} s:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_SECONDS)
            return


STOP_SIGNALS: list[str] = []  # the stop signals received (Ctrl-C, SIGTERM, SIGHUP)


def stop_on_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP end the script alike: through ``finally``, stopping the server.
    Ctrl-C in a terminal also reaches Playwright's driver, whose next call then fails: that is a
    stop too, not an error."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        STOP_SIGNALS.append(signal.Signals(signum).name)
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # the driver's dropped connection
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


# --- Looking at the pages -------------------------------------------------------------------------


def sign_in(context: Any, email: str, password: str) -> None:
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login" not in url)
    page.close()


def visit_all(browser: Any, base: str, ids: dict[str, str], password: str, only: str, out: Path) -> list[Row]:
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    from tests.every_page import PAGES, WHO, WIDTHS, open_page, serious, sideways

    axe = Axe()
    rows: list[Row] = []
    for who in WHO:
        pages = [p for p in PAGES if p.who == who and (not only or only in p.key)]
        if not pages:
            continue
        state = None
        for width, height in WIDTHS:
            context = browser.new_context(
                viewport={"width": width, "height": height}, base_url=base, storage_state=state
            )
            context.set_default_timeout(TIMEOUT_MS)
            if who in DEMO_PEOPLE and state is None:
                sign_in(context, DEMO_PEOPLE[who], password)
                state = context.storage_state()
            page = context.new_page()
            for spec in pages:
                row = Row(spec.key, who, spec.name, width, spec.url(ids), spec.status)
                try:
                    row.status = open_page(page, spec, ids)
                    row.sideways = sideways(page)
                    row.violations = serious(axe.run(page))
                    target = out / f"{spec.key}-{width}.png"
                    page.screenshot(path=str(target), full_page=True)
                    row.file = target.name
                except Exception as exc:  # one broken page must not hide the others
                    row.error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                rows.append(row)
                mark = "FAIL" if row.failed else "ok  "
                say(f"  {mark} {row.key}-{width} ({row.status})")
            context.close()
    return rows


def doc_shots(browser: Any, base: str, ids: dict[str, str], password: str) -> None:
    """The images of docs/screens.md: part of a page at its width, small enough to commit."""
    from tests.every_page import PAGES, open_page

    DOCS.mkdir(parents=True, exist_ok=True)
    by_key = {p.key: p for p in PAGES}
    states: dict[str, Any] = {}
    for shot in DOC_SHOTS:
        spec = by_key[shot.page]
        context = browser.new_context(
            viewport={"width": shot.width, "height": shot.height}, base_url=base, storage_state=states.get(spec.who)
        )
        context.set_default_timeout(TIMEOUT_MS)
        if spec.who in DEMO_PEOPLE and spec.who not in states:
            sign_in(context, DEMO_PEOPLE[spec.who], password)
            states[spec.who] = context.storage_state()
        page = context.new_page()
        open_page(page, spec, ids)
        target = DOCS / f"{shot.name}.png"
        if shot.element:
            page.locator(shot.element.format(**ids)).first.screenshot(path=str(target))
        else:
            if shot.scroll_to:
                page.locator(shot.scroll_to.format(**ids)).first.evaluate("el => el.scrollIntoView()")
                page.evaluate("window.scrollBy(0, -12)")
            page.screenshot(path=str(target))
        say(f"  {target.relative_to(ROOT)} ({target.stat().st_size // 1024} KB)")
        context.close()


# --- The report -----------------------------------------------------------------------------------


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_report(rows: list[Row], out: Path) -> Path:
    from tests.every_page import WHO

    lines = [
        "# Every page at 1280 and 390 px",
        "",
        f"Generated by `make screenshots` ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC) on the demo "
        "(`manage.py seed_demo`). Axe: serious or critical violations (axe-core via axe-playwright-python). "
        "Sideways: whether the page scrolls horizontally (`scrollWidth > innerWidth`).",
        "",
        "| page | who | width | status | serious/critical axe violations | sideways scroll | screenshot |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        status = str(r.status) if r.status == r.expected else f"**{r.status}** (expected {r.expected})"
        axe = "none" if not r.violations else "**" + "; ".join(cell(v) for v in r.violations) + "**"
        if r.error:
            axe = f"**error: {cell(r.error)}**"
        scroll = "no" if not r.sideways else f"**yes, {r.sideways} px**"
        lines.append(
            f"| {r.name} | {r.who} ({WHO[r.who]}) | {r.width} | {status} | {axe} | {scroll} | "
            f"{f'[{r.file}]({r.file})' if r.file else '—'} |"
        )
    lines += ["", summary(rows), ""]
    target = out / "report.md"
    target.write_text("\n".join(lines))
    return target


def summary(rows: list[Row]) -> str:
    pages = len({r.key for r in rows})
    axe = sum(1 for r in rows if r.violations)
    scroll = sum(1 for r in rows if r.sideways)
    status = sum(1 for r in rows if r.status != r.expected and not r.error)
    errors = sum(1 for r in rows if r.error)
    return (
        f"{pages} pages × {len({r.width for r in rows})} widths ({len(rows)} screenshots): "
        f"{axe} with serious or critical axe violations, {scroll} scrolling sideways, "
        f"{status} with an unexpected status, {errors} that failed to load."
    )


PAGES_START, PAGES_END = "<!-- pages: written by make screenshots --docs -->", "<!-- /pages -->"


def write_docs_table(rows: list[Row]) -> None:
    """The list of pages with their axe result in docs/screens.md, between its two markers."""
    from tests.every_page import WHO

    doc = ROOT / "docs" / "screens.md"
    text = doc.read_text()
    if PAGES_START not in text or PAGES_END not in text:
        say(f"  {doc.relative_to(ROOT)} has no page list markers; not updated.")
        return
    by_page: dict[str, dict[int, Row]] = {}
    for r in rows:
        by_page.setdefault(r.key, {})[r.width] = r

    def axe(r: Row | None) -> str:
        if r is None:
            return "—"
        if r.error:
            return "error"
        return "none" if not r.violations else ", ".join(v.split(" ", 1)[0] for v in r.violations)

    lines = [
        PAGES_START,
        "| page | who | serious/critical axe violations at 1280 px | at 390 px | fits 390 px |",
        "| --- | --- | --- | --- | --- |",
    ]
    for widths in by_page.values():
        first = next(iter(widths.values()))
        phone = widths.get(390)
        fits = "—" if phone is None else ("yes" if not phone.sideways else f"no (+{phone.sideways} px)")
        lines.append(f"| {first.name} | {WHO[first.who]} | {axe(widths.get(1280))} | {axe(phone)} | {fits} |")
    lines.append(PAGES_END)
    before, rest = text.split(PAGES_START, 1)
    after = rest.split(PAGES_END, 1)[1]
    doc.write_text(before + "\n".join(lines) + after)
    say(f"  {doc.relative_to(ROOT)}: the page list")


# --- Main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--only", default="", help="only the pages whose <who>-<page> contains this text")
    parser.add_argument(
        "--docs", action="store_true", help="also write docs/screens/*.png and the page list of docs/screens.md"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir (its path is printed)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the screenshots go (default {OUT})")
    args = parser.parse_args(argv)
    stop_on_signals()
    var_dir = Path(tempfile.mkdtemp(prefix="partnerplan-screens-"))
    port = free_port()
    env = demo_environment(var_dir, f"http://127.0.0.1:{port}")
    try:
        say(f"Building the demo in {var_dir} …")
        manage(env, "migrate", "--noinput")
        manage(env, "seed_demo", show=True)
        ids, password = prepare_demo(env)
        args.out.mkdir(parents=True, exist_ok=True)
        from playwright.sync_api import sync_playwright

        with server(env, port, var_dir / "server.log") as base, sync_playwright() as playwright:
            say(f"Looking at every page on {base} …")
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                rows = visit_all(browser, base, ids, password, args.only, args.out)
                if args.docs:
                    doc_shots(browser, base, ids, password)
            finally:
                browser.close()
    except KeyboardInterrupt:
        say(f"\nStopped ({STOP_SIGNALS[0] if STOP_SIGNALS else 'SIGINT'}).")
        return 130
    except Exception:
        if not STOP_SIGNALS:
            raise
        say(f"\nStopped ({STOP_SIGNALS[0]}).")
        return 130
    finally:
        if args.keep:
            say(f"The demo's var dir stays in {var_dir}.")
        else:
            shutil.rmtree(var_dir, ignore_errors=True)
    report = write_report(rows, args.out)
    if args.docs and not args.only:
        write_docs_table(rows)
    failed = [r for r in rows if r.failed]
    say(f"\n{summary(rows)}\nReport: {report.relative_to(ROOT) if report.is_relative_to(ROOT) else report}")
    for r in failed:
        problems = r.violations + ([f"scrolls sideways by {r.sideways} px"] if r.sideways else [])
        problems += [r.error] if r.error else []
        problems += [f"status {r.status}, expected {r.expected}"] if r.status != r.expected and not r.error else []
        say(f"  {r.key}-{r.width}: {'; '.join(problems)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
