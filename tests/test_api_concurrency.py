"""Concurrency on PostgreSQL: no lost update with If-Match, a change feed that never misses a change
while writers commit out of order, and idempotent POSTs that create one object however many
copies race. Threads use their own database connections (``transactional_db``)."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
import uuid
from collections import Counter

import pytest
from django.db import connections, transaction

from alignment import services as plan
from alignment.models import ChangeEvent, Objective
from api.feed import decode_cursor
from goals import commitments as goal_commitments
from goals.models import Commitment, Goal
from tests import factories as f
from tests.api_support import ApiClient

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def last_position(partnership_id):
    event = ChangeEvent.objects.filter(partnership_id=partnership_id).order_by("-txid", "-seq").first()
    return (event.txid, event.seq)


def follow_until(client, cursor, partnership_id, position, apply=lambda events: None):
    """Follow the feed until it has served ``position``. The feed serves a transaction's events
    once every older transaction on the server has ended, so an empty page may just mean "not
    yet": poll (bounded) instead of expecting them at once."""
    events = []
    for _ in range(6000):
        page = client.get("changes", since=cursor, partnership=str(partnership_id), limit=100).json()
        events += page["results"]
        apply(page["results"])
        cursor = page["cursor"]
        if decode_cursor(cursor) >= position:
            return events, cursor
        if not page["results"]:
            time.sleep(0.02)
    raise AssertionError(f"the feed never reached {position}")


def in_threads(count, work):
    """Run work(i) in ``count`` threads started together; re-raise the first error."""
    barrier = threading.Barrier(count)
    errors = []

    def run(i):
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.fixture
def goal(cast):
    editor = cast.access("vendor_editor")
    return f.make_goal(editor, f.make_objective(editor))


def test_concurrent_updates_with_if_match_never_lose_a_write(cast, goal):
    clients = [ApiClient(cast.vendor_editor if i % 2 else cast.partner_editor) for i in range(8)]
    accepted, outcomes = [], Counter()
    lock = threading.Lock()

    def writer(i):
        for attempt in range(5):
            read = clients[i].get(f"goals/{goal.pk}")
            text = f"writer {i} attempt {attempt}"
            response = clients[i].patch(f"goals/{goal.pk}", {"description": text}, headers={"If-Match": read["ETag"]})
            with lock:
                outcomes[response.status_code] += 1
                if response.status_code == 200:
                    accepted.append((response.json()["version"], text))

    in_threads(8, writer)
    assert set(outcomes) <= {200, 412}, outcomes
    assert outcomes[412] > 0  # the writers did collide
    goal.refresh_from_db()
    assert goal.version == 1 + len(accepted) == 1 + outcomes[200]
    versions = sorted(v for v, _ in accepted)
    assert versions == list(range(2, 2 + len(accepted)))  # every accepted write made exactly one version
    assert goal.description == max(accepted)[1]
    logged = [
        e.after["description"] for e in ChangeEvent.objects.filter(object_id=goal.pk, action="update").order_by("seq")
    ]
    assert logged == [text for _, text in sorted(accepted)]


def test_a_feed_event_committed_late_is_not_skipped(cast):
    """A transaction that started first but commits last: its event has the smaller sequence number,
    so a reader remembering 'the last id I saw' would skip it. The feed holds the later event back
    until the earlier transaction is over."""
    editor = ApiClient(cast.vendor_editor)
    p = str(cast.partnership.pk)
    cursor = editor.get(f"partnerships/{p}/plan").json()["cursor"]
    slow_wrote, release = threading.Event(), threading.Event()

    def slow_writer():
        with transaction.atomic():
            f.make_objective(cast.access("vendor_editor"), title="Slow")
            slow_wrote.set()
            release.wait(timeout=30)
        connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    try:
        assert slow_wrote.wait(timeout=30)
        f.make_objective(cast.access("vendor_editor"), title="Fast")  # commits while "Slow" is still open
        held_back = editor.get("changes", since=cursor, partnership=p).json()["results"]
        assert [e for e in held_back if e["type"] == "objective"] == []
    finally:
        release.set()
        thread.join()
    events, _ = follow_until(editor, cursor, p, last_position(p))
    # (Events from before the plan may be replayed too when the server was busy: replays are harmless.)
    assert [e["data"]["title"] for e in events if e["type"] == "objective"] == ["Slow", "Fast"]


def test_a_reader_following_the_feed_while_writers_commit_ends_with_the_servers_state(cast):
    p = cast.partnership
    reader = ApiClient(cast.vendor_viewer)
    cursor = reader.get(f"partnerships/{p.pk}/plan").json()["cursor"]
    objective = f.make_objective(cast.access("vendor_editor"), title="Shared")
    replica: dict[tuple[str, str], int] = {}
    writers_done = threading.Event()
    TRACKED = {"objective", "goal", "commitment"}

    def apply(events):
        for e in events:
            if e["type"] not in TRACKED:
                continue
            key = (e["type"], e["id"])
            if e["action"] == "delete":
                replica.pop(key, None)
            else:
                replica[key] = e["data"]["version"]

    def read_while_writing():
        nonlocal cursor
        while not writers_done.is_set():
            page = reader.get("changes", since=cursor, partnership=str(p.pk), limit=50).json()
            apply(page["results"])
            cursor = page["cursor"]

    def write(i):
        rng = random.Random(i)
        editor = cast.access("vendor_editor" if i % 2 else "partner_editor")
        mine: list = []
        for step in range(25):
            with transaction.atomic():  # some transactions stay open a while and commit out of order
                choice = rng.random()
                if choice < 0.3 or not mine:
                    mine.append(plan.objective_create(access=editor, title=f"w{i} s{step}"))
                elif choice < 0.5:
                    goal = f.make_goal(editor, objective, title=f"g{i} {step}")
                    mine.append(goal)
                elif choice < 0.8:
                    obj = rng.choice(mine)
                    if isinstance(obj, Objective):
                        plan.objective_update(access=editor, objective_id=obj.pk, title=f"w{i} s{step} edited")
                    else:
                        c = obj.commitments.first()
                        if c is not None:
                            goal_commitments.commitment_update(access=editor, commitment_id=c.pk, text=f"edit {step}")
                else:
                    obj = mine.pop(rng.randrange(len(mine)))
                    if isinstance(obj, Objective):
                        plan.objective_delete(access=editor, objective_id=obj.pk)
                    else:
                        for c in obj.commitments.all()[:1]:
                            goal_commitments.commitment_delete(access=editor, commitment_id=c.pk)
                if rng.random() < 0.3:
                    threading.Event().wait(rng.random() / 50)

    reader_thread = threading.Thread(target=lambda: (read_while_writing(), connections.close_all()))
    reader_thread.start()
    try:
        in_threads(4, write)
    finally:
        writers_done.set()
        reader_thread.join(timeout=300)
    follow_until(reader, cursor, p.pk, last_position(p.pk), apply)  # what committed after its last look

    server = {("objective", str(o.pk)): o.version for o in Objective.objects.filter(partnership=p)}
    server |= {("goal", str(g.pk)): g.version for g in Goal.objects.filter(partnership=p)}
    server |= {("commitment", str(c.pk)): c.version for c in Commitment.objects.filter(goal__partnership=p)}
    assert len(server) > 20
    assert replica == server
    # The hazard did occur: transactions interleaved, so sequence numbers were handed out in a
    # different order than transactions finished (a reader of "ids after the last one I saw" skips).
    by_seq = list(ChangeEvent.objects.filter(partnership=p).order_by("seq").values_list("txid", flat=True))
    assert by_seq != sorted(by_seq)


def test_the_same_post_sent_concurrently_with_one_key_creates_one_object(cast):
    objective = f.make_objective(cast.access("vendor_editor"))
    clients = [ApiClient(cast.vendor_editor) for _ in range(8)]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {
        "objective": str(objective.pk),
        "title": "Exactly once",
        "period_start": str(dt.date.today()),
        "period_end": str(dt.date.today() + dt.timedelta(days=90)),
        "baseline": "1",
        "target": "2",
    }
    responses = []

    def post(i):
        for _ in range(3):
            responses.append(clients[i].post("goals", body, headers=key))

    in_threads(8, post)
    assert {r.status_code for r in responses} == {201}
    assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1
    assert Goal.objects.filter(title="Exactly once").count() == 1
    assert sum(1 for r in responses if "Idempotent-Replayed" not in r) == 1


def test_without_a_key_each_post_creates_its_own_object(cast):
    """The control for the test above: the key is what makes retries safe."""
    objective = f.make_objective(cast.access("vendor_editor"))
    client = ApiClient(cast.vendor_editor)
    body = {"partnership": str(cast.partnership.pk), "title": "No key"}
    for _ in range(2):
        assert client.post("objectives", body).status_code == 201
    assert Objective.objects.filter(title="No key").count() == 2 and objective.pk


def test_concurrent_creates_with_one_client_chosen_id_make_one_object_and_no_server_error(cast):
    clients = [ApiClient(cast.vendor_editor) for _ in range(8)]
    objective_id = str(uuid.uuid4())
    statuses = []

    def post(i):
        body = {"id": objective_id, "partnership": str(cast.partnership.pk), "title": f"Offline {i}"}
        statuses.append(clients[i].post("objectives", body).status_code)

    in_threads(8, post)
    assert statuses.count(201) == 1 and set(statuses) <= {201, 400, 409}, statuses
    assert Objective.objects.filter(pk=objective_id).count() == 1
