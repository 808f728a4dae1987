"""The change feed's exact bytes: a full sync reads hundreds of thousands of events, so the page is
written by a fast path (rows, orjson). These tests pin what clients get, byte for byte: fields and
their order, people by public id, tombstones, datetimes with ``Z``, escapes, numbers and cursors."""

from __future__ import annotations

import base64
import datetime as dt
import gc
import json
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from alignment import services as plan
from alignment.access import resolve
from alignment.changes import FEED_BOUNDS, feed_queryset
from alignment.models import ChangeEvent
from api.feed import _page_with_bounds, collector_paused, decode_cursor, feed_page, page_rows, represent
from api.renderers import FastJSON, JSONRenderer, escape_line_separators
from tests import factories as f
from tests.api_support import ApiClient
from tests.test_api_feed import follow
from tests.test_core_change_events import written_late

UTC = dt.UTC


def at_the_end(client, cast):
    """The cursor at the end of the partnership's feed, and the transaction id new events must carry
    to come after it (on PostgreSQL the test's own transaction; 0 on SQLite)."""
    _, cursor = follow(client, partnership=str(cast.partnership.pk))
    return cursor, decode_cursor(cursor)[0]


def cursor_of(txid, seq):
    return base64.urlsafe_b64encode(f"{txid}.{seq}".encode()).decode().rstrip("=")


def event(cast, txid, **fields):
    fields.setdefault("actor_label", "")
    fields.setdefault("summary", "")
    return ChangeEvent.objects.create(txid=txid, partnership_id=cast.partnership.pk, **fields)


def test_a_page_is_exactly_what_clients_have_always_got(cast):
    editor = ApiClient(cast.vendor_editor)
    since, txid = at_the_end(editor, cast)
    ed, pat = cast.vendor_editor, cast.partner_approver
    widget, check_in, member, goal = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # A type this release does not know (a newer release wrote it): shown as recorded, people by public id.
    # Keys in the order PostgreSQL's jsonb keeps them (shorter first), so both databases store them alike.
    unknown = event(
        cast,
        txid,
        actor=ed,
        actor_label="Ed Editor",
        object_type="widget",
        object_id=widget,
        action="update",
        summary='Said "yes" \\ done',
        created_at=dt.datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC),
        before={"id": str(widget), "owner": pat.pk, "version": 2},
        after={
            "id": str(widget),
            "note": "Zürich → 東京\u2028next line\ttab",
            "owner": pat.pk,
            "ratio": 0.25,
            "author": ed.pk,
            "nested": {"b": [1, 2.5, True], "user": ed.pk},
            "nothing": None,
            "version": 3,
            "created_by": 99999,
        },
    )
    # A check-in as the change log records it: shown as the check-in resource shows it (recorded before
    # check-ins had a ``source`` and a ``review``, it shows the ``web`` and ``confirmed`` that the
    # migrations gave the check-ins of then).
    created = event(
        cast,
        txid,
        actor=None,
        actor_label="system",
        object_type="checkin",
        object_id=check_in,
        action="create",
        created_at=dt.datetime(2026, 3, 4, 5, 6, 8, tzinfo=UTC),
        after={
            "id": str(check_in),
            "goal": str(goal),
            "note": "",
            "side": "partner",
            "value": "1.5",
            "author": pat.pk,
            "version": 1,
            "confidence": 4,
            "created_at": "2026-03-04T05:06:08+00:00",
            "updated_at": "2026-03-04T07:06:08.500000+02:00",
            "measured_on": "2026-03-01",
        },
    )
    deleted = event(
        cast,
        txid,
        actor=ed,
        actor_label="Ed Editor",
        object_type="partnershipmember",
        object_id=member,
        action="delete",
        created_at=dt.datetime(2026, 3, 4, 5, 6, 9, 120000, tzinfo=UTC),
        before={"id": str(member), "user": pat.pk},
    )
    p, e_id, p_id = cast.partnership.pk, ed.public_id, pat.public_id
    first, second, third = (cursor_of(txid, x.seq) for x in (unknown, created, deleted))
    expected = (
        f'{{"cursor":"{third}","has_more":false,"results":['
        f'{{"cursor":"{first}","partnership":"{p}","type":"widget","id":"{widget}","action":"update","version":3,'
        f'"at":"2026-03-04T05:06:07.000890Z","actor":{{"id":"{e_id}","name":"Ed Editor"}},'
        f'"summary":"Said \\"yes\\" \\\\ done","data":{{"id":"{widget}","note":"Zürich → 東京\\u2028next line\\ttab",'
        f'"owner":"{p_id}","ratio":0.25,"author":"{e_id}","nested":{{"b":[1,2.5,true],"user":{ed.pk}}},'
        f'"nothing":null,"version":3,"created_by":null}}}},'
        f'{{"cursor":"{second}","partnership":"{p}","type":"check-in","id":"{check_in}","action":"create",'
        f'"version":1,"at":"2026-03-04T05:06:08Z","actor":{{"id":null,"name":"system"}},"summary":"",'
        f'"data":{{"id":"{check_in}","version":1,"created_at":"2026-03-04T05:06:08Z",'
        f'"updated_at":"2026-03-04T05:06:08.500000Z","goal":"{goal}","side":"partner","author":"{p_id}",'
        f'"measured_on":"2026-03-01","value":"1.5000","confidence":4,"note":"","source":"web",'
        f'"review":"confirmed","reviewed_by":null,"reviewed_at":null,"disputed_value":null,"dispute_note":""}}}},'
        f'{{"cursor":"{third}","partnership":"{p}","type":"member","id":"{member}","action":"delete",'
        f'"version":null,"at":"2026-03-04T05:06:09.120000Z","actor":{{"id":"{e_id}","name":"Ed Editor"}},'
        f'"summary":"","data":null}}]}}'
    )
    response = editor.get("changes", since=since, partnership=str(p))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content.decode() == expected


def test_numbers_orjson_would_write_differently_are_written_as_before(cast):
    """A float below 1e-4 is ``1e-05`` (not ``0.00001``) and an integer beyond 64 bits stays exact,
    as the standard encoder writes them."""
    editor = ApiClient(cast.vendor_editor)
    since, txid = at_the_end(editor, cast)
    record = {"id": "x", "tiny": 0.00001, "huge": 2**70, "owner": cast.vendor_editor.pk}
    event(cast, txid, object_type="widget", object_id=uuid.uuid4(), action="create", after=record)
    body = editor.get("changes", since=since, partnership=str(cast.partnership.pk)).content.decode()
    assert '"tiny":1e-05' in body
    assert f'"huge":{2**70}' in body
    assert json.loads(body)["results"][0]["data"]["owner"] == str(cast.vendor_editor.public_id)


def test_in_a_known_type_only_the_numbers_shown_decide_how_the_page_is_written(cast):
    """A goal's shown value (``title``) that orjson would write differently sends the page through
    the standard encoder; the same number in a key the representation leaves out changes nothing."""
    editor = ApiClient(cast.vendor_editor)
    since, txid = at_the_end(editor, cast)
    shown = {"id": str(uuid.uuid4()), "title": 0.00001, "version": 2**70, "status": "draft"}
    hidden = {"id": str(uuid.uuid4()), "title": "Plain", "version": 3, "internal": 0.00001, "huge": 2**70}
    for record in (shown, hidden):
        event(cast, txid, object_type="goal", object_id=uuid.UUID(record["id"]), action="update", after=record)
    body = editor.get("changes", since=since, partnership=str(cast.partnership.pk)).content.decode()
    first, second = json.loads(body)["results"]
    assert '"title":1e-05' in body and f'"version":{2**70}' in body  # as the standard encoder writes them
    assert first["data"]["title"] == 0.00001 and first["version"] == 2**70
    assert second["data"]["title"] == "Plain" and second["version"] == 3 and "internal" not in second["data"]


def test_an_indented_page_is_still_indented_on_request(cast):
    editor = ApiClient(cast.vendor_editor)
    compact = editor.get("changes", limit=2)
    indented = editor.get("changes", limit=2, headers={"Accept": "application/json; indent=2"})
    assert indented.status_code == 200
    assert indented.content.startswith(b'{\n  "cursor": ')
    assert json.loads(indented.content) == json.loads(compact.content)
    assert b"\n" not in compact.content


def test_cursors_are_the_base64_of_the_position_without_padding(cast):
    editor = ApiClient(cast.vendor_editor)
    events, cursor = follow(editor)
    assert events
    for e in events:
        txid, seq = decode_cursor(e["cursor"])
        assert e["cursor"] == cursor_of(txid, seq) and "=" not in e["cursor"]
    assert cursor == events[-1]["cursor"]


@pytest.mark.postgres
def test_bounds_read_first_serve_what_the_horizon_subquery_serves(cast):
    """``feed_queryset(bounds=...)`` compares with numbers read before the page: events of the
    reader's own transaction count, nothing at or above the horizon does."""
    f.make_objective(cast.access("vendor_editor"))
    with connection.cursor() as cursor:
        cursor.execute(FEED_BOUNDS)
        horizon, own = cursor.fetchone()
    assert own is not None  # the test's transaction has written and still runs
    mine = set(feed_queryset().filter(txid=own).values_list("seq", flat=True))
    assert mine
    assert set(feed_queryset(bounds=(horizon, own)).filter(txid=own).values_list("seq", flat=True)) == mine
    # The horizon may lie below the reader's own transaction (an older one still runs) or above it.
    assert set(feed_queryset(bounds=(own, own)).filter(txid=own).values_list("seq", flat=True)) == mine
    assert not feed_queryset(bounds=(own, None)).filter(txid=own).exists()
    assert set(feed_queryset(bounds=(own + 1, None)).values_list("seq", flat=True)) >= mine


@pytest.mark.postgres
def test_a_page_read_with_the_feeds_bounds_has_the_rows_django_reads(cast):
    """On PostgreSQL a page is read in one statement with the feed's bounds, the watermark and the
    cursor's check; its rows are what Django's own read of the page gives, field for field."""
    editor = ApiClient(cast.vendor_editor)
    partnership = str(cast.partnership.pk)
    objective = editor.post("objectives", {"partnership": partnership, "title": "Enter retail"}).json()
    plan.objective_update(
        access=resolve(cast.vendor_editor, cast.partnership.pk), objective_id=objective["id"], title="Then services"
    )
    events = feed_queryset(unbounded=True).filter(partnership_id=cast.partnership.pk)
    assert events.count() > 3
    for limit in (1, 3, 5000):
        qs = page_rows(events, limit)
        (horizon, own, _, _, exists), rows = _page_with_bounds(qs, None)
        django_rows = list(qs)
        assert rows == django_rows and len(rows) == min(limit + 1, events.count())
        assert all(mine._fields == theirs._fields for mine, theirs in zip(rows, django_rows, strict=True))
        assert horizon is not None and own is not None  # the test's transaction has written
    last = events.order_by("-txid", "-seq").first()
    (_, _, _, _, exists), rows = _page_with_bounds(page_rows(events, 10), (last.txid, last.seq))
    assert exists and rows == list(page_rows(events, 10))
    made_up = (last.txid, last.seq + 10**6)
    (_, _, _, _, exists), rows = _page_with_bounds(page_rows(feed_queryset(after=made_up, unbounded=True), 10), made_up)
    assert not exists and rows == []  # an empty page still brings the bounds


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_page_serves_nothing_past_a_transaction_still_running_and_all_of_it_once_it_ends(cast):
    """The page is read past the horizon and cut at it: events committed after a transaction that is
    still running are held back (not served, no more pages promised) until it ends, then served in
    feed order after what it wrote, each once."""
    partnership_id, user_id = cast.partnership.pk, cast.vendor_editor.pk
    editor = resolve(cast.vendor_editor, partnership_id)

    def read(since, limit):
        return feed_page(partnership_ids=[partnership_id], since=since, limit=limit, reader=cast.vendor_editor)

    rows, _ = read(None, 5000)
    cursor = (rows[-1].txid, rows[-1].seq)
    plan.objective_create(access=editor, title="Zero")  # committed before the slow transaction starts

    with written_late(user_id, partnership_id, "Late"):
        for title in ("One", "Two"):
            plan.objective_create(access=editor, title=title)
        assert ChangeEvent.objects.filter(after__title__in=["One", "Two"]).count() == 2  # committed
        for limit in (1, 5000):
            rows, more = read(cursor, limit)
            assert [row.object_type for row in rows] == ["objective"] and more is False
            assert json.loads(rows[0].after_text)["title"] == "Zero"

    titles, more, since = [], True, cursor
    while more:
        rows, more = read(since, 1)
        titles += [json.loads(row.after_text)["title"] for row in rows]
        since = (rows[-1].txid, rows[-1].seq)
    assert titles == ["Zero", "Late", "One", "Two"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("limit", [1, 2, 3, 5000])
def test_a_page_read_past_the_horizon_serves_what_the_bounds_in_sql_serve(cast, monkeypatch, limit):
    """With a transaction of the reader's own and events of other transactions above the horizon
    (an older transaction is made to seem still running), the page is what ``feed_queryset`` with
    the bounds in SQL serves: events below the horizon, then the reader's own, in feed order."""
    editor = resolve(cast.vendor_editor, cast.partnership.pk)
    for title in ("One", "Two", "Three"):
        plan.objective_create(access=editor, title=title)  # each in a transaction of its own
    txids = sorted(set(ChangeEvent.objects.values_list("txid", flat=True)))
    assert len(txids) >= 4
    horizon = txids[-2]  # the transaction of "Two" seems to run still: it and "Three" wait
    real = _page_with_bounds

    def older_one_running(qs, since):  # type: ignore[no-untyped-def]
        (_, own, *rest), rows = real(qs, since)
        return (horizon, own, *rest), rows

    monkeypatch.setattr("api.feed._page_with_bounds", older_one_running)
    with transaction.atomic():
        plan.objective_create(access=editor, title="Mine")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()::text::bigint")
            (own,) = cursor.fetchone()
        before_two = ChangeEvent.objects.filter(txid__lt=horizon).order_by("-txid", "-seq").first()
        for since in (None, (before_two.txid, before_two.seq)):
            with CaptureQueriesContext(connection) as statements:
                rows, more = feed_page(partnership_ids=[cast.partnership.pk], since=since, limit=limit)
            expected = list(
                feed_queryset(after=since, bounds=(horizon, own))
                .filter(partnership_id=cast.partnership.pk)
                .values_list("txid", "seq")[: limit + 1]
            )
            assert [(row.txid, row.seq) for row in rows] == expected[:limit] and more == (len(expected) > limit)
            assert all(row.txid < horizon or row.txid == own for row in rows)
            if since is not None:
                assert [json.loads(row.after_text)["title"] for row in rows] == ["Mine"]
                # "Two" and "Three" were read and left out: with more events past them than the
                # page holds, the page is read again with the bounds in SQL.
                assert len(statements) == (2 if limit < 3 else 1)


@pytest.fixture
def seen(monkeypatch):
    """Whether the collector ran, at each call of the feed view's ``represent``."""
    calls = []
    real = represent

    def spy(events):
        calls.append(gc.isenabled())
        return real(events)

    monkeypatch.setattr("api.views.changes.represent", spy)
    return calls


def test_a_page_is_built_with_the_collector_paused_and_leaves_it_as_it_was(cast, seen):
    editor = ApiClient(cast.vendor_editor)
    assert gc.isenabled()
    assert editor.get("changes").status_code == 200
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # a collector someone else disabled stays disabled
    finally:
        gc.enable()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError
    assert gc.isenabled()


def test_a_page_holds_up_to_5000_events(cast):
    editor = ApiClient(cast.vendor_editor)
    assert editor.get("changes", limit=5000).status_code == 200
    too_many = editor.get("changes", limit=5001)
    assert too_many.status_code == 400 and "limit" in too_many.json()["errors"]


def whole_page(cast, reader, since, limit):
    """The bytes of a page of the partnership's feed as the renderer writes the document whole."""
    events, has_more = feed_page(
        partnership_ids=[cast.partnership.pk], since=since and decode_cursor(since), limit=limit, reader=reader
    )
    results, exact = represent(events)
    document = {"cursor": cursor_of(events[-1].txid, events[-1].seq), "has_more": has_more, "results": results}
    return JSONRenderer().render(FastJSON(document) if exact else document)


def test_a_page_with_more_sends_its_headers_before_its_events_are_represented(cast, seen):
    """A bulk client asks for the next page on the headers, so another worker builds it meanwhile."""
    editor = ApiClient(cast.vendor_editor)
    response = editor.get("changes", limit=2, partnership=str(cast.partnership.pk))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/json"
    assert 'rel="next"' in response["Link"] and "Authorization" in response["Vary"]
    chunks = iter(response.streaming_content)
    head = next(chunks)
    assert seen == []  # the headers and the page's opening are out; its events are not built yet
    assert head.startswith(b'{"cursor":"') and head.endswith(b',"has_more":true,"results":[')
    body = head + b"".join(chunks)
    assert seen == [False] and gc.isenabled()
    assert body == whole_page(cast, cast.vendor_editor, None, 2)
    assert len(json.loads(body)["results"]) == 2
    last = editor.get("changes", limit=5000, partnership=str(cast.partnership.pk))
    assert not last.streaming and json.loads(last.content)["has_more"] is False  # the last page is answered whole
    # The same headers as a page answered whole (the API's, the throttle's, the middleware's), Link aside.
    assert set(response.headers) - {"Link"} == set(last.headers) - {"Content-Length"}
    assert response["Vary"] == last["Vary"]


def test_a_streamed_page_the_standard_encoder_must_write_is_written_by_it(cast):
    editor = ApiClient(cast.vendor_editor)
    since, txid = at_the_end(editor, cast)
    for tiny in (0.00001, 0.00002):
        record = {"id": "x", "tiny": tiny, "huge": 2**70, "owner": cast.vendor_editor.pk}
        event(cast, txid, object_type="widget", object_id=uuid.uuid4(), action="create", after=record)
    response = editor.get("changes", since=since, limit=1, partnership=str(cast.partnership.pk))
    assert response.streaming
    body = response.content
    assert b'"tiny":1e-05' in body and f'"huge":{2**70}'.encode() in body
    assert body == whole_page(cast, cast.vendor_editor, since, 1)
    assert json.loads(body)["has_more"] is True


def test_an_indented_page_with_more_is_answered_whole(cast):
    editor = ApiClient(cast.vendor_editor)
    indented = editor.get("changes", limit=1, headers={"Accept": "application/json; indent=2"})
    assert not indented.streaming and indented.content.startswith(b'{\n  "cursor": ')
    assert json.loads(indented.content)["has_more"] is True


def test_only_the_two_line_separators_are_escaped_in_a_fast_body():
    text = "a\u2028b – “c” ’\u2029 \u2027\u202a"  # neighbours in UTF-8 (e2 80 xx) stay as they are
    written = escape_line_separators(text.encode())
    assert written.decode() == text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    plain = "no separators – at all".encode()
    assert escape_line_separators(plain) is plain
