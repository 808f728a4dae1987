"""Two web machines behind one proxy (scripts/stack.py): PgBouncer in transaction pooling, two
gunicorn instances with the production settings, nginx round-robin in front, two Celery workers.

Brought up once for the module, on this test run's database and a Redis database of its own. Each
test talks to the instances directly when the point is that two different processes took part
(what one wrote, the other serves), and through the proxy where the proxy is the point."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from subprocess import PIPE
from typing import Any
from urllib.parse import quote, urlparse

import psycopg2
import pytest
import requests
from aiosmtpd.controller import Controller
from celery import Celery
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection

from accounts.models import ApiToken
from alignment.models import ChangeEvent
from core.models import OutboxMessage
from goals.models import Goal
from scripts.stack import Stack, free_port
from tests import factories as f
from tests.conftest import redis_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

ROOT = Path(settings.BASE_DIR)
PRINT_CURSORS = (
    "import django; django.setup(); from django.db import connection; "
    "cursor = connection.cursor(); cursor.execute('SHOW jit'); "
    "print(connection.settings_dict['DISABLE_SERVER_SIDE_CURSORS'], cursor.fetchone()[0])"
)
STACK_REDIS_DB = 12  # the stack's cache, throttles, presence and broker; flushed when it starts
CSRF = "stacktest" + "x" * 23  # a 32-character CSRF secret, sent as cookie and header
TIMEOUT = 30


def stack_redis_url() -> str:
    url = urlparse(redis_url())
    return f"redis://{url.hostname or '127.0.0.1'}:{url.port or 6379}/{STACK_REDIS_DB}"


class Inbox:
    """An aiosmtpd handler keeping every message the workers send."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self.arrived:
            self.messages.append(message_from_bytes(envelope.content))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int) -> list[Message]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout=TIMEOUT)
            return list(self.messages)


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def stack(django_db_setup, inbox, tmp_path_factory) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    db = connection.settings_dict  # this run's test database, which the instances share with the tests
    user = quote(db["USER"] or "postgres") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    database_url = f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    with Stack(
        database_url=database_url,
        redis_url=stack_redis_url(),
        var_dir=tmp_path_factory.mktemp("stack"),
        secret_key=settings.SECRET_KEY,  # sessions made here sign in there
        web_workers=1,  # one process each: two instances are two processes whatever happens
        flush_redis=True,
        extra_env={
            "EMAIL_URL": f"smtp://127.0.0.1:{inbox[1]}",
            # The instances store a plan's dashboard numbers in the request, as the suite does: a
            # worker storing them after a test's last request would race the flush that ends it.
            "ATTENTION_STORED_BY_WORKER": "0",
        },
    ) as running:
        yield running


def session_of(user: Any) -> requests.Session:
    """A browser signed in as ``user`` (a session row, as ``login`` stores it) with a CSRF cookie."""
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    browser = requests.Session()
    browser.cookies.set("sessionid", store.session_key or "")
    browser.cookies.set("csrftoken", CSRF)
    browser.headers["X-CSRFToken"] = CSRF
    return browser


def api_of(user: Any) -> requests.Session:
    _, raw = ApiToken.issue(user=user, name="two instances")
    client = requests.Session()
    client.headers["Authorization"] = f"Bearer {raw}"
    return client


def together(*calls: Callable[[], requests.Response]) -> list[requests.Response]:
    """Send the requests at the same moment, each from its own thread."""
    barrier = threading.Barrier(len(calls))
    answers: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        answers[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert all(isinstance(a, requests.Response) for a in answers), answers
    return answers


def test_the_proxy_sends_requests_to_both_instances_in_turn(stack):
    answered = [requests.get(f"{stack.proxy_url}/healthz", timeout=TIMEOUT) for _ in range(6)]
    assert [r.status_code for r in answered] == [200] * 6
    upstreams = [r.headers["X-Partnerplan-Upstream"] for r in answered]
    assert {f"http://{u}" for u in upstreams} == set(stack.instance_urls)
    assert all(a != b for a, b in itertools.pairwise(upstreams))  # round-robin


def test_the_instances_reach_postgresql_through_pgbouncer_in_transaction_pooling(stack, cast):
    api = api_of(cast.vendor_viewer)
    for base in stack.instance_urls:  # each instance's worker connects (and stays connected)
        assert api.get(f"{base}/api/v1/me", timeout=TIMEOUT).status_code == 200
    db = connection.settings_dict
    console = psycopg2.connect(
        host="127.0.0.1", port=stack.pgbouncer_port, dbname="pgbouncer", user=db["USER"] or "postgres"
    )
    console.autocommit = True  # the console knows no transactions
    try:
        with console.cursor() as cursor:
            cursor.execute("SHOW POOLS")
            columns = [c[0] for c in cursor.description]
            pools = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            cursor.execute("SHOW CLIENTS")
            columns = [c[0] for c in cursor.description]
            clients = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        console.close()
    assert [p["pool_mode"] for p in pools if p["database"] == db["NAME"]] == ["transaction"]
    assert len([c for c in clients if c["database"] == db["NAME"]]) >= 2

    # What the instances run with: Django's server-side cursors off (``.iterator()`` reads in one
    # query), and PostgreSQL's JIT off on the pool's server connections (PgBouncer's connect_query:
    # it passes no startup options on).
    shown, refused = (
        subprocess.Popen([sys.executable, "-c", PRINT_CURSORS], env=env, cwd=ROOT, stdout=PIPE, stderr=PIPE, text=True)
        for env in (stack.env, stack.env | {"DATABASE_POOLER": "pgbouncer-statement"})
    )
    out, err = shown.communicate(timeout=60)
    assert out.strip() == "True off", err[-2000:]
    _, err = refused.communicate(timeout=60)
    assert refused.returncode != 0 and "DATABASE_POOLER='pgbouncer-statement'" in err


def test_a_change_made_through_one_instance_reaches_a_live_page_on_the_other(stack, cast):
    a, b = stack.instance_urls
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor))
    live = f"/p/{cast.partnership.pk}/live/"
    viewer, editing = session_of(cast.vendor_viewer), session_of(cast.vendor_editor)

    first = viewer.post(b + live, data={"after": "0.0"}, timeout=TIMEOUT)
    assert first.status_code == 200, first.text[:500]
    cursor = first.json()["cursor"]
    # Presence: the editor's page beats on A; the viewer's page on B sees who edits what.
    assert editing.post(a + live, data={"after": cursor, "editing": f"goal-{goal.pk}"}, timeout=TIMEOUT).ok
    seen = viewer.post(b + live, data={"after": cursor}, timeout=TIMEOUT).json()
    assert [(p["name"], p["editing"]) for p in seen["presence"]] == [("Ed Editor", f"goal-{goal.pk}")]

    api = api_of(cast.vendor_editor)
    changed = api.patch(
        f"{a}/api/v1/goals/{goal.pk}", json={"title": "Renamed on A"}, headers={"If-Match": '"1"'}, timeout=TIMEOUT
    )
    assert changed.status_code == 200, changed.text[:500]
    update = ChangeEvent.objects.get(object_id=goal.pk, action="update")
    delivered: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + TIMEOUT
    while update.seq not in delivered and time.monotonic() < deadline:
        page = viewer.post(b + live, data={"after": cursor}, timeout=TIMEOUT).json()
        delivered.update({e["seq"]: e for e in page["events"]})
        time.sleep(0.1)
    assert f"goal-{goal.pk}" in delivered[update.seq]["fragments"]
    assert delivered[update.seq]["actor"] == "Ed Editor"


def test_both_instances_serve_the_same_plan_document_before_and_after_a_change(stack, cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor))
    api = api_of(cast.vendor_viewer)
    path = f"/api/v1/partnerships/{cast.partnership.pk}/plan"
    a, b = stack.instance_urls
    before = [api.get(base + path, timeout=TIMEOUT) for base in (a, b)]
    assert [r.status_code for r in before] == [200, 200]
    assert before[0].content == before[1].content and before[0].headers["ETag"] == before[1].headers["ETag"]

    changed = api_of(cast.vendor_editor).patch(
        f"{a}/api/v1/goals/{goal.pk}", json={"title": "Changed on A"}, headers={"If-Match": '"1"'}, timeout=TIMEOUT
    )
    assert changed.status_code == 200, changed.text[:500]
    after = [api.get(base + path, timeout=TIMEOUT) for base in (b, a)]  # B first: A wrote, B must not lag
    assert after[0].content == after[1].content and after[0].headers["ETag"] == after[1].headers["ETag"]
    assert after[0].headers["ETag"] != before[0].headers["ETag"]
    assert "Changed on A" in after[0].text
    assert api.get(b + path, headers={"If-None-Match": after[0].headers["ETag"]}, timeout=TIMEOUT).status_code == 304


def test_the_feed_followed_page_by_page_through_the_proxy_serves_what_one_page_holds(stack, cast):
    """Pages with more after them are sent as they are built (headers first, the body chunked):
    through nginx and both instances in turn, the links lead through every event once, in order."""
    editor = cast.access("vendor_editor")
    f.make_goal(editor, f.make_objective(editor))
    api = api_of(cast.vendor_viewer)
    query = f"partnership={cast.partnership.pk}"
    whole = api.get(f"{stack.instance_urls[0]}/api/v1/changes?{query}&limit=5000", timeout=TIMEOUT)
    assert whole.status_code == 200 and whole.json()["has_more"] is False
    expected = [event["cursor"] for event in whole.json()["results"]]
    assert len(expected) >= 3
    path: str | None = f"/api/v1/changes?{query}&limit=1"
    seen: list[str] = []
    upstreams = set()
    while path:
        page = api.get(stack.proxy_url + path, timeout=TIMEOUT)
        assert page.status_code == 200, page.text[:300]
        body = page.json()
        seen += [event["cursor"] for event in body["results"]]
        upstreams.add(page.headers["X-Partnerplan-Upstream"])
        link = re.search(r'<([^>]*)>; rel="next"', page.headers.get("Link", ""))
        assert bool(link) == body["has_more"]
        path = link.group(1) if link else None
    assert seen == expected
    assert len(upstreams) == 2


def test_two_patches_with_the_same_version_through_two_instances_keep_one_and_refuse_the_other(stack, cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor))
    vendor, partner = api_of(cast.vendor_editor), api_of(cast.partner_editor)
    a, b = stack.instance_urls
    for version in (1, 2, 3):  # three rounds: each time both read the same version

        def write(client: requests.Session, base: str, who: str, version: int = version) -> requests.Response:
            return client.patch(
                f"{base}/api/v1/goals/{goal.pk}",
                json={"description": f"{who} wrote on {version}"},
                headers={"If-Match": f'"{version}"'},
                timeout=TIMEOUT,
            )

        answers = together(lambda: write(vendor, a, "A"), lambda: write(partner, b, "B"))
        assert sorted(r.status_code for r in answers) == [200, 412], [r.text[:300] for r in answers]
        kept = next(r for r in answers if r.status_code == 200).json()
        refused = next(r for r in answers if r.status_code == 412).json()
        assert refused["code"] == "stale_version" and refused["current"]["version"] in (version, version + 1)
        goal.refresh_from_db()
        assert (goal.version, goal.description) == (version + 1, kept["description"])
    logged = ChangeEvent.objects.filter(object_id=goal.pk, action="update").count()
    assert logged == 3  # one write per round, none lost and none doubled


def test_a_limit_is_reached_across_both_instances_and_the_proxy(stack):
    # POST /auth/token: 10 attempts a minute per client address, counted in the shared cache. The
    # throttle counts before the body is read, so empty bodies (400) count as much as wrong passwords.
    targets = [*stack.instance_urls, stack.proxy_url]
    statuses = [
        requests.post(f"{targets[n % 3]}/api/v1/auth/token", json={}, timeout=TIMEOUT).status_code for n in range(12)
    ]
    # A got 4 of the first 10 directly, B 3, the proxy 3 (shared out to both): no process alone saw 10.
    assert 429 not in statuses[:10], statuses
    assert statuses[10:] == [429, 429], statuses


def test_the_same_idempotency_key_through_a_then_b_writes_once_and_answers_the_same(stack, cast):
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    api = api_of(cast.vendor_editor)
    a, b = stack.instance_urls

    def create(base: str, key: str, title: str) -> requests.Response:
        body = {
            "objective": str(objective.pk),
            "title": title,
            "period_start": "2026-01-01",
            "period_end": "2026-03-31",
            "baseline": "10",
            "target": "40",
        }
        return api.post(f"{base}/api/v1/goals", json=body, headers={"Idempotency-Key": key}, timeout=TIMEOUT)

    key = str(uuid.uuid4())
    first, retry = create(a, key, "Once through A"), create(b, key, "Once through A")
    assert first.status_code == retry.status_code == 201, first.text[:500]
    assert retry.json() == first.json() and retry.headers["ETag"] == first.headers["ETag"]
    assert "Idempotent-Replayed" not in first.headers and retry.headers["Idempotent-Replayed"] == "true"
    assert Goal.objects.filter(title="Once through A").count() == 1

    # The same key sent to both at once: one runs, the other waits for its commit and replays it.
    key = str(uuid.uuid4())
    answers = together(lambda: create(a, key, "Raced"), lambda: create(b, key, "Raced"))
    assert [r.status_code for r in answers] == [201, 201], [r.text[:300] for r in answers]
    assert answers[0].json() == answers[1].json()
    assert Goal.objects.filter(title="Raced").count() == 1


def test_each_e_mail_is_sent_once_while_both_workers_take_the_tasks(stack, cast, inbox):
    sink, _ = inbox
    already = len(sink.messages)
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    goals = [f.make_goal(editor, objective) for _ in range(6)]
    api = api_of(cast.vendor_editor)
    targets = [*stack.instance_urls, stack.proxy_url]
    for n, goal in enumerate(goals):  # each proposal e-mails the partner's editor and approver
        proposed = api.post(f"{targets[n % 3]}/api/v1/goals/{goal.pk}/propose", timeout=TIMEOUT)
        assert proposed.status_code == 200, proposed.text[:500]
    rows = list(OutboxMessage.objects.values_list("pk", flat=True))
    assert len(rows) == 2 * len(goals)

    # Every row handed to the workers twice more, as a redelivered or retried task would be: the
    # two workers race for the same rows, and only the claim decides who sends.
    broker = Celery(broker=stack.env["REDIS_URL"])
    try:
        for _ in range(2):
            for pk in rows:
                broker.send_task("alignment.send_reminder", args=[str(pk)])
    finally:
        broker.close()

    deadline = time.monotonic() + TIMEOUT
    while len(finished_sends(stack)) < 3 * len(rows) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}
    received = sink.wait_for(already + len(rows))[already:]
    time.sleep(1)  # a second copy, if one were sent, would have arrived by now
    host = urlparse(stack.proxy_url).hostname
    ids = Counter(m["Message-ID"] for m in sink.messages[already:])
    assert len(received) == len(sink.messages) - already == len(rows)
    assert set(ids) == {f"<reminder-{pk}@{host}>" for pk in rows} and set(ids.values()) == {1}

    results = finished_sends(stack)
    assert len(results) == 3 * len(rows)  # every task ran to its end
    assert {worker for worker, _ in results} == {"worker1", "worker2"}  # both workers took tasks
    assert sum("sent" in outcome for _, outcome in results) == len(rows)  # the others found their row taken


def finished_sends(stack: Stack) -> list[tuple[str, str]]:
    """(worker, what the task returned) for every delivery task the workers finished."""
    done = re.compile(r"Task alignment\.send_reminder\[[^]]+\] succeeded in [0-9.e-]+s: (.*)")
    return [(w, outcome) for w in ("worker1", "worker2") for outcome in done.findall(stack.log_of(w))]
