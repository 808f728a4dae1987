"""The other side never sees a private figure anywhere.

For a private figure of each side (a distinctive note and value), a person of the other side asks
for every page (``tests.every_page``), every API list and detail, the change feed, ``/plan``, the
exports, the print view, the digest e-mail, webhook and chat payloads, live updates and the audit
export: the figure is never there. A person of its own side finds it where figures are shown. The
pages that show figures cost the same number of queries whatever the number of drivers and figures.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import OrganisationMembership, User
from alignment import economics
from alignment import services as plan
from alignment.models import ChangeEvent, Side
from api import plan_updates
from api.resources import ALL
from api.views import plan as plan_view
from api.webhook_feed import load_events
from cadence import digest
from cadence import services as review_services
from goals import services as goal_services
from plans import audit, chat
from plans.models import ChatChannel, ChatDelivery
from tests import factories as f
from tests.api_support import ApiClient
from tests.every_page import PAGES, prepare

# What only each side may see: a note and a value (as the pages and the API write it).
SECRET = {
    Side.VENDOR: ("VENDOR-PRIVATE-ZQ7", "975.31"),
    Side.PARTNER: ("PARTNER-PRIVATE-KX9", "864.29"),
}
SHARED = {Side.VENDOR: "VENDOR-SHARED-AB1", Side.PARTNER: "PARTNER-SHARED-CD2"}
# The side of each person of ``tests.every_page``.
SIDE_OF = {"admin": Side.VENDOR, "manager": Side.VENDOR, "partner": Side.PARTNER, "viewer": Side.PARTNER}
Q1 = (dt.date(2025, 1, 1), dt.date(2025, 3, 31))
Q2 = (dt.date(2025, 4, 1), dt.date(2025, 6, 30))
# The period of each side's private figure: the summaries of its changes name it.
SECRET_PERIOD = {Side.VENDOR: Q2, Side.PARTNER: (dt.date(2025, 7, 1), dt.date(2025, 9, 30))}


def people(cast: Any) -> dict[str, User]:
    return {
        "admin": cast.vendor_admin,
        "manager": cast.vendor_approver,
        "partner": cast.partner_approver,
        "viewer": cast.partner_viewer,
    }


def write_plan(cast: Any) -> None:
    """What ``tests.every_page.prepare`` builds on: an objective, an agreed goal, reviews."""
    editor, vendor, partner = (cast.access(w) for w in ("vendor_editor", "vendor_approver", "partner_approver"))
    plan.vision_update(access=editor, why_together="Why", what_we_hope="What", how_we_work="How")
    objective = f.make_objective(editor, title="Certified practice")
    f.agree(f.make_goal(editor, objective, title="Certify 12 consultants"), vendor, partner)
    held = plan.review_schedule(access=editor, scheduled_for=dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC))
    review_services.review_hold(
        access=editor, review_id=held.pk, held_on=dt.date(2026, 1, 5), attendees=[], schedule_next=False
    )
    plan.review_schedule(access=editor, scheduled_for=dt.datetime.now(dt.UTC) + dt.timedelta(days=9))


def record_secrets(cast: Any) -> None:
    """Each side's private figure (changed once, so it has more than one event) and an older shared
    one, on a driver of its own that an objective moves."""
    objective = f.make_objective(cast.access("vendor_editor"), title="Moves both sides")
    for side, who, name in (
        (Side.VENDOR, "vendor_approver", "net retention"),
        (Side.PARTNER, "partner_approver", "deals sourced"),
    ):
        access = cast.access(who)
        driver = economics.driver_add(access=access, name=name)
        economics.objective_link_driver(access=access, objective_id=objective.pk, driver_id=driver.pk)
        note, value = SECRET[side]
        start, end = SECRET_PERIOD[side]
        secret = economics.figure_record(
            access=access, driver_id=driver.pk, period_start=start, period_end=end, value="1", note=note
        )
        economics.figure_update(access=access, figure_id=secret.pk, value=value)
        economics.figure_record(
            access=access,
            driver_id=driver.pk,
            period_start=Q1[0],
            period_end=Q1[1],
            value="500",
            note=SHARED[side],
            visibility="shared",
        )


def assert_hidden(text: str, side: str, where: str) -> None:
    """Nothing of the other side's private figure is in ``text`` (read by a person of ``side``)."""
    note, value = SECRET[Side.other(side)]
    assert note not in text, f"{where}: the {Side.other(side)} side's private note leaks to the {side} side"
    assert value not in text, f"{where}: the {Side.other(side)} side's private value leaks to the {side} side"


def assert_shown(text: str, side: str, where: str) -> None:
    assert SECRET[side][0] in text, f"{where}: the {side} side does not see its own figure"


@pytest.fixture
def written(cast: Any) -> dict[str, str]:
    write_plan(cast)
    ids = prepare(
        partnership=cast.partnership,
        admin=cast.vendor_admin,
        manager=cast.vendor_approver,
        partner=cast.partner_approver,
    )
    record_secrets(cast)
    return ids


def test_no_page_shows_the_other_sides_private_figure(client, cast, written):
    checked = 0
    for page in PAGES:
        if page.who not in SIDE_OF:
            continue
        client.force_login(people(cast)[page.who])
        response = client.get(page.url(written))
        assert response.status_code == page.status, (page.key, response.status_code)
        text = response.content.decode()
        assert_hidden(text, SIDE_OF[page.who], page.key)
        if page.name in ("plan", "print"):
            assert_shown(text, SIDE_OF[page.who], page.key)
            assert SHARED[Side.other(SIDE_OF[page.who])] in text, f"{page.key}: the other side's shared figure"
        checked += 1
    assert checked >= 40
    # The fragments live updates fetch, and the history's readable sentences.
    for who in SIDE_OF:
        client.force_login(people(cast)[who])
        for name in ("economics", "history", "objectives"):
            response = client.get(f"/p/{cast.partnership.pk}/fragment/{name}/")
            assert response.status_code == 200
            assert_hidden(response.content.decode(), SIDE_OF[who], f"{who} fragment {name}")
        # The history names a figure's period: the other side's private one is not there, one's own is.
        history = client.get(f"/p/{cast.partnership.pk}/fragment/history/").content.decode()
        assert SECRET_PERIOD[Side.other(SIDE_OF[who])][0].isoformat() not in history, who
        assert SECRET_PERIOD[SIDE_OF[who]][0].isoformat() in history, who


def test_live_updates_never_announce_the_other_sides_private_figure(client, cast, written):
    for who in SIDE_OF:
        client.force_login(people(cast)[who])
        response = client.post(f"/p/{cast.partnership.pk}/live/", {"after": "0.0"})
        assert response.status_code == 200
        side = SIDE_OF[who]
        seqs = [e["seq"] for e in response.json()["events"]]
        served = ChangeEvent.objects.filter(seq__in=seqs)
        assert not served.filter(side_only=Side.other(side)).exists(), who
        assert served.filter(side_only=side).exists(), who
        assert_hidden(response.content.decode(), side, f"{who} live updates")
        assert SECRET_PERIOD[Side.other(side)][0].isoformat() not in response.content.decode()


def all_results(client: ApiClient, path: str, **params: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = client.get(path, **params, **({"cursor": cursor} if cursor else {}), limit=200)
        assert response.status_code == 200, (path, response.content[:300])
        page = response.json()
        results += page["results"]
        cursor = page.get("next_cursor") or page.get("next")
        if not cursor:
            return results
        cursor = cursor.split("cursor=")[-1].split("&")[0] if "cursor=" in str(cursor) else cursor


def test_no_api_list_detail_feed_or_plan_shows_the_other_sides_private_figure(cast, written):
    secret_ids = {
        str(pk): side
        for pk, side in economics.DriverFigure.objects.filter(visibility="private").values_list("pk", "driver__side")
    }
    for who in SIDE_OF:
        side = SIDE_OF[who]
        client = ApiClient(people(cast)[who])
        seen = ""
        for resource in ALL:
            for item in all_results(client, resource.name):
                seen += json.dumps(item)
                detail = client.get(f"{resource.name}/{item['id']}")
                assert detail.status_code == 200
                seen += detail.content.decode()
        for figure_id, owner in secret_ids.items():
            expected = 200 if owner == side else 404
            assert client.get(f"driver-figures/{figure_id}").status_code == expected
        assert_hidden(seen, side, f"{who} API lists and details")
        assert_shown(seen, side, f"{who} API lists and details")
        feed = client.get("changes", limit=5000)
        assert feed.status_code == 200 and not feed.json()["has_more"]
        assert_hidden(feed.content.decode(), side, f"{who} change feed")
        assert_shown(feed.content.decode(), side, f"{who} change feed")
        mine = {e["id"] for e in feed.json()["results"] if e["type"] == "driver-figure"}
        assert {pk for pk, owner in secret_ids.items() if owner == side} <= mine
        assert not {pk for pk, owner in secret_ids.items() if owner != side} & mine
        document = client.get(f"partnerships/{cast.partnership.pk}/plan")
        assert_hidden(document.content.decode(), side, f"{who} /plan")
        assert_shown(document.content.decode(), side, f"{who} /plan")


def test_the_feed_pages_through_the_other_sides_private_changes_as_one_page_does(cast, written):
    """A page is read without the filter by side unless it holds an event only one side may see:
    paged in ones and threes, each side gets exactly the events it gets in one page, in order."""
    for who in SIDE_OF:
        client = ApiClient(people(cast)[who])
        whole = [(e["type"], e["id"], e["action"]) for e in client.get("changes", limit=5000).json()["results"]]
        assert any(t == "driver-figure" for t, _, _ in whole)
        for limit in (1, 3):
            paged, cursor = [], None
            while True:
                page = client.get("changes", limit=limit, **({"since": cursor} if cursor else {})).json()
                paged += [(e["type"], e["id"], e["action"]) for e in page["results"]]
                cursor = page["cursor"]
                if not page["has_more"]:
                    break
            assert paged == whole, (who, limit)


def test_the_plan_etag_and_cache_differ_per_side_when_a_private_figure_exists(cast, written):
    vendor, partner = ApiClient(cast.vendor_approver), ApiClient(cast.partner_approver)
    path = f"partnerships/{cast.partnership.pk}/plan"
    first_vendor = vendor.get(path)
    first_partner = partner.get(path)  # after the vendor's: a shared cache would hand it the vendor's figures
    assert first_vendor["ETag"] != first_partner["ETag"]
    assert_hidden(first_partner.content.decode(), Side.PARTNER, "partner /plan after the vendor's")
    assert_shown(first_partner.content.decode(), Side.PARTNER, "partner /plan")
    # A vendor viewer (another role, same side) gets the vendor side's document, from the cache.
    viewer = ApiClient(cast.vendor_viewer)
    viewer.get("me")  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as cached:
        document = viewer.get(path).content.decode()
    assert_shown(document, Side.VENDOR, "vendor viewer /plan")
    editor = ApiClient(cast.partner_editor)
    editor.get("me")
    economics.driver_add(access=cast.access("partner_editor"), name="rebuild")  # a change: a new generation
    with CaptureQueriesContext(connection) as built:
        editor.get(path)
    assert len(cached) < len(built) / 2, "a member of the same side gets the side's cached document"
    assert partner.get(path, headers={"If-None-Match": first_vendor["ETag"]}).status_code == 200


def test_exports_and_print_keep_each_sides_private_figures(client, cast, written):
    for who in SIDE_OF:
        client.force_login(people(cast)[who])
        for export in ("goals.csv", "check-ins.csv"):
            response = client.get(f"/p/{cast.partnership.pk}/export/{export}")
            assert response.status_code == 200
            assert_hidden(b"".join(response.streaming_content).decode(), SIDE_OF[who], f"{who} {export}")
        printed = client.get(f"/p/{cast.partnership.pk}/print/").content.decode()
        assert_hidden(printed, SIDE_OF[who], f"{who} print")
        assert_shown(printed, SIDE_OF[who], f"{who} print")


def test_the_audit_export_of_each_side_keeps_the_other_sides_private_figures(
    cast, written, django_capture_on_commit_callbacks
):
    OrganisationMembership.objects.create(
        organisation=cast.partnership.partner, user=cast.partner_approver, role=OrganisationMembership.Role.ADMIN
    )
    for user, side in ((cast.vendor_admin, Side.VENDOR), (cast.partner_approver, Side.PARTNER)):
        for fmt in ("csv", "json"):
            with django_capture_on_commit_callbacks(execute=True):
                export = audit.audit_export_request(user=user, partnership_ids=[cast.partnership.pk], fmt=fmt)
            export.refresh_from_db()
            assert export.status == "ready", export.error
            with audit.storage().open(export.file_name, "rb") as fh:
                text = fh.read().decode("utf-8-sig")
            assert_hidden(text, side, f"{side} audit export ({fmt})")
            assert_shown(text, side, f"{side} audit export ({fmt})")


def test_webhooks_and_chat_of_each_side_keep_the_other_sides_private_figures(cast, written):
    p = cast.partnership
    for organisation_id, side in ((p.vendor_id, Side.VENDOR), (p.partner_id, Side.PARTNER)):
        events, _end = load_events(organisation_id=organisation_id, after=(0, 0), limit=10000)
        text = json.dumps([e.document for e in events])
        assert_hidden(text, side, f"{side} webhook payloads")
        assert_shown(text, side, f"{side} webhook payloads")
    kinds = list(chat.CHANGE_KINDS)
    for side in Side.values:
        ChatChannel.objects.create(
            partnership=p,
            side=side,
            kind=ChatChannel.Kind.SLACK,
            name=f"#{side}",
            url=f"https://hooks.slack.com/services/T0000/B0000/{side}",
            event_kinds=kinds,
            after_txid=0,
            after_seq=0,
            owner=cast.vendor_admin if side == Side.VENDOR else cast.partner_approver,
        )
    chat.chat_sweep(send=False)
    for side in Side.values:
        payloads = " ".join(ChatDelivery.objects.filter(channel__side=side).values_list("payload", flat=True))
        assert payloads, f"the {side} channel heard the plan's goal steps"
        assert_hidden(payloads, side, f"{side} chat channel")
    # The one place that decides it: a channel reads only events its side may see.
    private = ChangeEvent.objects.filter(side_only__isnull=False).values_list("side_only", flat=True)
    assert set(private) == {Side.VENDOR, Side.PARTNER}


def test_the_digest_never_carries_the_other_sides_private_figure(cast, written, django_capture_on_commit_callbacks):
    User.objects.filter(pk__in=[cast.vendor_approver.pk, cast.partner_approver.pk]).update(timezone="UTC")
    monday = dt.datetime(2026, 12, 7, 8, 5, tzinfo=dt.UTC)
    with time_machine.travel(monday - dt.timedelta(days=2), tick=False):
        # Something for each digest to tell: a goal proposed this week.
        editor = cast.access("vendor_editor")
        goal = f.make_goal(editor, f.make_objective(editor, title="Digest objective"), title="Digest goal")
        goal_services.goal_propose(access=editor, goal_id=goal.pk)
    mail.outbox.clear()
    with time_machine.travel(monday, tick=False), django_capture_on_commit_callbacks(execute=True):
        digest.sweep_digest(monday)
    for user, side in ((cast.vendor_approver, Side.VENDOR), (cast.partner_approver, Side.PARTNER)):
        messages = [m for m in mail.outbox if m.to == [user.email]]
        assert messages, f"the {side} approver got a digest"
        for message in messages:
            text = message.body + "".join(str(content) for content, _type in getattr(message, "alternatives", []))
            assert_hidden(text, side, f"{side} digest")


def grow_economics(cast: Any, n: int, start: int) -> None:
    """n more drivers on each side, each with a private and a shared figure, linked to a new objective."""
    objective = f.make_objective(cast.access("vendor_editor"))
    for who in ("vendor_approver", "partner_approver"):
        access = cast.access(who)
        for i in range(start, start + n):
            driver = economics.driver_add(access=access, name=f"driver {i}", unit="EUR k")
            economics.objective_link_driver(access=access, objective_id=objective.pk, driver_id=driver.pk)
            for period, visibility in ((Q1, "private"), (Q2, "shared")):
                economics.figure_record(
                    access=access,
                    driver_id=driver.pk,
                    period_start=period[0],
                    period_end=period[1],
                    value=Decimal(i),
                    visibility=visibility,
                )


def count(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_economics_cost_the_same_queries_whatever_the_number_of_drivers_and_figures(client, cast):
    client.force_login(cast.partner_approver)
    grow_economics(cast, 1, 0)
    urls = [
        f"/p/{cast.partnership.pk}/",
        f"/p/{cast.partnership.pk}/fragment/economics/",
        f"/p/{cast.partnership.pk}/print/",
    ]
    for url in urls:
        client.get(url)  # warm caches (health, cards)
    small = {url: count(client, url) for url in urls}
    grow_economics(cast, 5, 1)
    for url in urls:
        client.get(url)
    large = {url: count(client, url) for url in urls}
    assert large == small
    page = client.get(f"/p/{cast.partnership.pk}/fragment/economics/").content.decode()
    assert page.count("driver 5") >= 2  # the partner's own driver and the vendor's, with what they shared


def test_a_figure_made_private_while_the_plan_is_read_never_reaches_the_other_side(cast, written, monkeypatch):
    """The check for private figures ran before one was made private (the change committed while the
    document was read): the document that holds it is still never handed to the other side."""
    monkeypatch.setattr(plan_view, "has_private_figures", lambda partnership: False)
    path = f"partnerships/{cast.partnership.pk}/plan"
    assert_shown(ApiClient(cast.vendor_approver).get(path).content.decode(), Side.VENDOR, "vendor /plan")
    document = ApiClient(cast.partner_approver).get(path).content.decode()
    assert_hidden(document, Side.PARTNER, "partner /plan after the vendor's")
    assert_shown(document, Side.PARTNER, "partner /plan")


def follow_feed(client: ApiClient, cursor: str, partnership: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        page = client.get("changes", since=cursor, partnership=str(partnership), limit=200)
        assert page.status_code == 200, page.content
        events += page.json()["results"]
        cursor = page.json()["cursor"]
        if not page.json()["has_more"]:
            return events


def test_one_sides_private_figure_changes_leave_the_other_sides_plan_and_etag_as_they_were(cast, written):
    """The other side cannot even tell that a private figure changed: its ``/plan`` keeps its bytes
    and its ``ETag`` (304 on If-None-Match), while the owner's changes. Following the feed from the
    cursor of either document misses nothing the reader may see (the owner's changes come)."""
    path = f"partnerships/{cast.partnership.pk}/plan"
    vendor, partner = ApiClient(cast.vendor_approver), ApiClient(cast.partner_approver)
    secret = economics.DriverFigure.objects.get(note=SECRET[Side.VENDOR][0])
    access = cast.access("vendor_approver")
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False):
        vendor_before, partner_before = vendor.get(path), partner.get(path)

        def partner_unchanged() -> None:
            not_modified = partner.get(path, headers={"If-None-Match": partner_before["ETag"]})
            assert not_modified.status_code == 304 and not_modified["ETag"] == partner_before["ETag"]
            again = partner.get(path)
            assert again.content == partner_before.content and again["ETag"] == partner_before["ETag"]

        # The document this process keeps is updated for the change ...
        economics.figure_update(access=access, figure_id=secret.pk, value="123.45")
        partner_unchanged()
        # ... and one built whole (by another process, or after the hour turned) is the same.
        plan_updates.forget()
        added = economics.figure_record(
            access=access,
            driver_id=secret.driver_id,
            period_start=dt.date(2025, 10, 1),
            period_end=dt.date(2025, 12, 31),
            value="77",
            note="ANOTHER-VENDOR-SECRET",
        )
        partner_unchanged()
        vendor_after = vendor.get(path, headers={"If-None-Match": vendor_before["ETag"]})
        assert vendor_after.status_code == 200 and vendor_after["ETag"] != vendor_before["ETag"]
        assert b"123.4500" in vendor_after.content and b"ANOTHER-VENDOR-SECRET" in vendor_after.content
        # The feed from each document's cursor: the vendor gets its own changes, the partner nothing of them.
        mine = follow_feed(vendor, vendor_before.json()["cursor"], cast.partnership.pk)
        assert {str(secret.pk), str(added.pk)} <= {e["id"] for e in mine if e["type"] == "driver-figure"}
        theirs = follow_feed(partner, partner_before.json()["cursor"], cast.partnership.pk)
        assert not {e["id"] for e in theirs} & {str(secret.pk), str(added.pk)}
        # Shared, the figure reaches the partner through the feed from the same cursor, and its /plan changes.
        economics.figure_set_visibility(access=access, figure_id=added.pk, visibility="shared")
        theirs = follow_feed(partner, partner_before.json()["cursor"], cast.partnership.pk)
        assert str(added.pk) in {e["id"] for e in theirs}
        shared = partner.get(path, headers={"If-None-Match": partner_before["ETag"]})
        assert shared.status_code == 200 and b"ANOTHER-VENDOR-SECRET" in shared.content


def test_the_first_private_figure_of_one_side_leaves_the_other_sides_plan_as_it_was(cast):
    """While neither side keeps a figure to itself, both share one cached document; the first private
    figure splits it per side, and the other side's still has the same bytes and ETag."""
    write_plan(cast)
    access = cast.access("partner_approver")
    driver = economics.driver_add(access=access, name="deals sourced")
    economics.figure_record(
        access=access, driver_id=driver.pk, period_start=Q1[0], period_end=Q1[1], value="500", visibility="shared"
    )
    path = f"partnerships/{cast.partnership.pk}/plan"
    vendor = ApiClient(cast.vendor_approver)
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False):
        before = vendor.get(path)
        start, end = SECRET_PERIOD[Side.PARTNER]
        note, value = SECRET[Side.PARTNER]
        economics.figure_record(
            access=access, driver_id=driver.pk, period_start=start, period_end=end, value=value, note=note
        )
        after = vendor.get(path, headers={"If-None-Match": before["ETag"]})
        assert after.status_code == 304 and after["ETag"] == before["ETag"]
        assert vendor.get(path).content == before.content
        assert_shown(ApiClient(cast.partner_approver).get(path).content.decode(), Side.PARTNER, "partner /plan")
