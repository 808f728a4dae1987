"""Action links in e-mails (issue 14, item 1): bound to one person, one object and one revision,
single use, expiring, stored hashed; the GET changes nothing; the POST acts through the goal and
vision services as the link's person."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import hash_token
from alignment import services as plan
from alignment.models import ChangeEvent, PartnershipMember, Side, VisionEndorsement
from core import outbox
from core.models import MailKind, OutboxMessage
from core.redact import redact
from goals import actions
from goals import commitments as goal_commitments
from goals import services as goals
from goals.models import ActionLink, Approval, Comment, Goal, GoalStatus
from tests import factories as f

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://testserver(/a/[A-Za-z0-9_\-]+/)")


def deliver_all() -> None:
    for row in OutboxMessage.objects.filter(status="pending"):
        outbox.deliver(row.pk)


@pytest.fixture
def proposed(cast):  # type: ignore[no-untyped-def]
    """A goal the vendor proposed and approved, with both sides' commitments: it waits for the partner."""
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor), title="Joint pipeline Q1")
    goals.goal_propose(access=editor, goal_id=goal.pk)
    goals.goal_approve(access=cast.access("vendor_approver"), goal_id=goal.pk, revision=1)
    return Goal.objects.get(pk=goal.pk)


def link_for(user, goal, action=ActionLink.Action.APPROVE) -> str:  # type: ignore[no-untyped-def]
    return "/a/" + actions.create_link(user=user, action=action, goal=goal) + "/"


def counts() -> tuple[int, int, int, int]:
    return (
        Approval.objects.count(),
        Comment.objects.count(),
        ChangeEvent.objects.count(),
        ActionLink.objects.filter(used_at__isnull=False).count(),
    )


def test_approve_from_the_link_without_signing_in_records_the_person(cast, proposed, client):
    path = link_for(cast.partner_approver, proposed)
    page = client.get(path)
    assert page.status_code == 200
    text = page.content.decode()
    for term in ("Joint pipeline Q1", "Qualified pipeline", "Fund two joint workshops", "Certify three consultants"):
        assert term in text
    assert "Approve revision 1 for the partner side" in text

    done = client.post(path, follow=True)
    assert done.status_code == 200 and done.redirect_chain[-1][0] == path + "done/"
    assert "it is agreed by both sides" in done.content.decode()
    approval = Approval.objects.get(goal=proposed, side=Side.PARTNER)
    assert approval.user == cast.partner_approver
    assert Goal.objects.get(pk=proposed.pk).status == GoalStatus.AGREED
    event = ChangeEvent.objects.filter(object_type="approval", object_id=approval.pk).get()
    assert event.actor == cast.partner_approver
    assert "_auth_user_id" not in client.session  # nobody was signed in


def test_a_scanners_get_twice_changes_nothing(cast, proposed, client):
    path = link_for(cast.partner_approver, proposed)
    before = counts()
    assert client.get(path).status_code == 200
    assert client.get(path).status_code == 200
    assert client.head(path).status_code == 200
    assert counts() == before
    assert ActionLink.objects.get().used_at is None
    assert client.post(path).status_code == 302  # still fresh


def test_a_used_link_is_gone_and_its_done_page_says_what_it_did(cast, proposed, client):
    path = link_for(cast.partner_approver, proposed)
    client.post(path)
    again = client.get(path)
    assert again.status_code == 410 and "This link was used already" in again.content.decode()
    assert f"/p/{cast.partnership.pk}/" in again.content.decode()
    assert client.post(path).status_code == 410
    assert Approval.objects.filter(goal=proposed, side=Side.PARTNER).count() == 1
    assert client.get(path + "done/").status_code == 200


def test_an_unused_links_done_page_leads_to_the_link(cast, proposed, client):
    path = link_for(cast.partner_approver, proposed)
    assert client.get(path + "done/")["Location"] == path


def test_an_expired_link_is_gone(cast, proposed, client):
    path = link_for(cast.partner_approver, proposed)
    with time_machine.travel(timezone.now() + dt.timedelta(days=7, minutes=1)):
        page = client.get(path)
        assert page.status_code == 410 and "This link has expired" in page.content.decode()
        assert client.post(path).status_code == 410
    assert not Approval.objects.filter(side=Side.PARTNER).exists()
    with time_machine.travel(timezone.now() + dt.timedelta(days=6, hours=23)):
        assert client.get(path).status_code == 200


def test_a_stale_revision_is_a_conflict(cast, proposed, client):
    path = link_for(cast.partner_approver, proposed)
    goals.goal_update(access=cast.access("vendor_editor"), goal_id=proposed.pk, target="250")
    page = client.get(path)
    assert page.status_code == 409 and "The terms have changed since the e-mail" in page.content.decode()
    assert client.post(path).status_code == 409
    assert not Approval.objects.filter(side=Side.PARTNER).exists()
    assert ActionLink.objects.get().used_at is None


def test_a_person_who_lost_access_is_refused(cast, proposed, client):
    path = link_for(cast.partner_approver, proposed)
    PartnershipMember.objects.filter(user=cast.partner_approver).delete()
    page = client.get(path)
    assert page.status_code == 403 and "no longer have access" in page.content.decode()
    assert client.post(path).status_code == 403
    assert not Approval.objects.filter(side=Side.PARTNER).exists()


def test_a_link_acts_only_as_its_person(cast, proposed, client):
    path = link_for(cast.partner_approver, proposed)
    client.force_login(cast.partner_editor)
    assert client.get(path).status_code == 403
    assert client.post(path).status_code == 403
    assert not Approval.objects.filter(side=Side.PARTNER).exists()
    # The person's own link of another action, or someone else's, is no way round it.
    client.logout()
    viewer_path = link_for(cast.partner_viewer, proposed)
    assert client.post(viewer_path).status_code == 403  # a viewer may not approve
    assert not Approval.objects.filter(side=Side.PARTNER).exists()


def test_a_tampered_token_is_a_404_page(cast, proposed, client):
    path = link_for(cast.partner_approver, proposed)
    tampered = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    for url in (tampered, "/a/not-a-real-link/", tampered + "done/"):
        page = client.get(url)
        assert page.status_code == 404 and "This link does not work" in page.content.decode()
    assert client.post(tampered).status_code == 404


def test_tokens_are_stored_hashed(cast, proposed):
    raw = actions.create_link(user=cast.partner_approver, action=ActionLink.Action.APPROVE, goal=proposed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM goals_actionlink")
        rows = cursor.fetchall()
    assert rows and not any(raw in str(value) for row in rows for value in row)
    assert ActionLink.objects.get().token_hash == hash_token(raw)
    assert redact(f"Forbidden: /a/{raw}/done/") == "Forbidden: /a/[redacted]/done/"


def test_request_changes_needs_a_reason_and_records_the_comment(cast, proposed, client):
    path = link_for(cast.partner_editor, proposed, ActionLink.Action.REQUEST_CHANGES)
    page = client.get(path)
    assert page.status_code == 200 and "What should change?" in page.content.decode()
    empty = client.post(path, {"comment": "  "})
    assert empty.status_code == 400 and not Comment.objects.exists()
    assert client.post(path, {"comment": "Target 180, please"}).status_code == 302
    note = Comment.objects.get()
    assert (note.author, note.body, note.kind) == (cast.partner_editor, "Target 180, please", "change_request")
    assert Goal.objects.get(pk=proposed.pk).status == GoalStatus.CHANGES_REQUESTED


def test_commit_and_approve_adds_the_commitment_and_approves(cast, client):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor), commitments=False)
    goal_commitments.commitment_create(access=editor, goal_id=goal.pk, side=Side.VENDOR, text="Run two workshops")
    goals.goal_propose(access=editor, goal_id=goal.pk)
    goals.goal_approve(access=cast.access("vendor_approver"), goal_id=goal.pk, revision=1)
    goal.refresh_from_db()
    offers = {o.action: o for o in actions.offered_links(cast.partner_approver, goal)}
    assert sorted(offers) == ["commit_approve", "request_changes"]  # no plain approval: no commitment yet
    offer = offers[ActionLink.Action.COMMIT_AND_APPROVE]
    path = offer.url.removeprefix("http://testserver")
    assert client.post(path, {"text": ""}).status_code == 400
    response = client.post(path, {"text": "Assign a pre-sales lead", "due_date": "2030-01-31"})
    assert response.status_code == 302
    goal.refresh_from_db()
    assert goal.status == GoalStatus.AGREED
    commitment = goal.commitments.get(side=Side.PARTNER)
    assert (commitment.text, commitment.due_date) == ("Assign a pre-sales lead", dt.date(2030, 1, 31))


def test_endorse_the_vision(cast, client):
    plan.vision_update(
        access=cast.access("vendor_editor"), why_together="Win together.", what_we_hope="Growth.", how_we_work="Calls."
    )
    vision = cast.partnership.vision
    vision.refresh_from_db()
    [offer] = actions.endorse_offer(cast.partner_approver, vision)
    path = offer.url.removeprefix("http://testserver")
    page = client.get(path)
    assert page.status_code == 200 and "Win together." in page.content.decode()
    assert client.post(path).status_code == 302
    assert VisionEndorsement.objects.get().user == cast.partner_approver
    assert actions.endorse_offer(cast.partner_approver, vision) == []  # endorsed: nothing more to offer


def test_only_actions_the_recipient_may_take_now_are_offered(cast, proposed):
    def offered(who):  # type: ignore[no-untyped-def]
        return sorted(o.action for o in actions.offered_links(getattr(cast, who), proposed))

    assert offered("partner_approver") == ["approve", "request_changes"]
    assert offered("partner_editor") == ["request_changes"]
    assert offered("partner_viewer") == []
    assert offered("vendor_approver") == []  # the goal does not wait for the vendor side
    assert offered("outsider") == []


def test_the_proposal_email_carries_working_links_made_when_it_is_sent(cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor))
    goals.goal_propose(access=editor, goal_id=goal.pk)
    rows = OutboxMessage.objects.filter(kind=MailKind.GOAL_PROPOSED, recipient=cast.partner_approver)
    assert rows.exists() and not ActionLink.objects.exists()  # no token in the outbox row or the broker
    assert not any("/a/" in str(row.context) for row in rows)
    deliver_all()
    [message] = [m for m in mail.outbox if m.to == [cast.partner_approver.email]]
    paths = LINK.findall(message.body)
    assert len(paths) == 2 and set(LINK.findall(message.alternatives[0][0])) == set(paths)
    assert ActionLink.objects.filter(user=cast.partner_approver).count() == 2
    client = Client()
    approve = next(p for p in paths if "Approve this revision: http://testserver" + p in message.body)
    assert client.post(approve).status_code == 302
    assert Approval.objects.get(goal=goal, side=Side.PARTNER).user == cast.partner_approver


def test_the_approval_waiting_reminder_carries_links(cast, proposed):
    outbox.queue(
        [
            outbox.Message(
                MailKind.APPROVAL_WAITING,
                "goal",
                str(proposed.pk),
                timezone.now(),
                recipient_id=cast.partner_approver.pk,
                partnership_id=cast.partnership.pk,
            )
        ]
    )
    deliver_all()
    [message] = [m for m in mail.outbox if m.to == [cast.partner_approver.email] and "has waited" in m.body]
    assert len(LINK.findall(message.body)) == 2


def test_a_resend_makes_new_links_and_using_one_uses_its_siblings(cast, proposed, client):
    first = link_for(cast.partner_approver, proposed)
    second = link_for(cast.partner_approver, proposed)
    assert client.get(first).status_code == 200 and client.get(second).status_code == 200
    assert client.post(second).status_code == 302
    assert client.get(first).status_code == 410


def test_links_of_the_action_pages_are_rate_limited_per_address(cast, proposed, settings):
    client = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [client.get("/a/not-a-real-link/").status_code for _ in range(31)]
    assert statuses[:30] == [404] * 30 and statuses[30] == 429


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_posts_of_one_link_make_one_approval(cast, proposed):
    path = link_for(cast.partner_approver, proposed)
    barrier = threading.Barrier(20)
    statuses: list[int | Exception] = [0] * 20

    def run(i: int) -> None:
        try:
            client = Client(REMOTE_ADDR=f"198.51.100.{i + 1}")
            barrier.wait(timeout=30)
            statuses[i] = client.post(path).status_code
        except Exception as exc:  # handed back to the test
            statuses[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert sorted(statuses, key=str) == sorted([302] + [410] * 19, key=str), statuses
    assert Approval.objects.filter(goal=proposed, side=Side.PARTNER).count() == 1
    assert ChangeEvent.objects.filter(object_type="approval", actor=cast.partner_approver).count() == 1
