"""The partner's review queue: what waits for a side, the readable diff between revisions, the
actions (approve, request changes, counter-propose, propose a goal) and the other side's e-mails."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from alignment import invitations as inv
from alignment import services as plan
from alignment.models import Role, Side
from core import outbox
from core.models import OutboxMessage
from goals import comments as goal_comments
from goals import commitments as goal_commitments
from goals import services as goals
from goals.models import Commitment, Goal, GoalStatus
from goals.review import diff_revisions, review_queue
from tests import factories as f


@pytest.fixture
def proposed(cast):
    """A goal the vendor proposed (revision 1), waiting for the partner."""
    vendor = cast.access("vendor_approver")
    objective = f.make_objective(vendor, title="Grow the joint pipeline")
    plan.vision_update(
        access=vendor,
        why_together="We win mid-market deals together.",
        what_we_hope="A shared pipeline",
        how_we_work="Monthly reviews",
    )
    goal = f.make_goal(vendor, objective, title="Pipeline Q1", target=Decimal("200"))
    return goals.goal_propose(access=vendor, goal_id=goal.pk)


def queue_url(cast) -> str:
    return reverse("goal-review-queue", args=[cast.partnership.pk])


def action_url(cast, goal, action: str) -> str:
    return reverse(f"goal-review-{action}", args=[cast.partnership.pk, goal.pk])


def page_text(response) -> str:
    return " ".join(response.content.decode().split())


# --- The readable diff ------------------------------------------------------------------------


def test_diff_names_changed_terms_and_commitments_readably():
    old_terms = {"title": "Pipeline", "target": "200", "baseline": "100", "period_end": "2026-12-31"}
    new_terms = old_terms | {"target": "250.0000", "period_end": "2027-01-31"}
    old_commitments = [
        {"id": "a", "side": "vendor", "text": "Fund two workshops", "owner": None, "due_date": None},
        {"id": "b", "side": "partner", "text": "Certify three consultants", "owner": None, "due_date": None},
    ]
    new_commitments = [
        {"id": "a", "side": "vendor", "text": "Fund three workshops", "owner": 7, "due_date": "2026-12-01"},
        {"id": "c", "side": "partner", "text": "Run a webinar", "owner": None, "due_date": None},
    ]
    lines = [
        c.text
        for c in diff_revisions((old_terms, old_commitments), (new_terms, new_commitments), people={7: "Ava Approver"})
    ]
    assert "Target 200 → 250" in lines
    assert "Period end 31 Dec 2026 → 31 Jan 2027" in lines
    assert "Vendor commitment “Fund two workshops” → “Fund three workshops”" in lines
    assert "Due date of the vendor commitment “Fund three workshops” — → 1 Dec 2026" in lines
    assert "Owner of the vendor commitment “Fund three workshops” — → Ava Approver" in lines
    assert "Partner commitment added: “Run a webinar”" in lines
    assert "Partner commitment removed: “Certify three consultants”" in lines
    assert len(lines) == 7


def test_identical_revisions_have_no_diff():
    snapshot = ({"target": "200"}, [{"id": "a", "side": "vendor", "text": "x", "owner": None, "due_date": None}])
    assert diff_revisions(snapshot, snapshot) == []


# --- The queue --------------------------------------------------------------------------------


def test_a_proposed_goal_waits_for_the_side_that_has_not_approved(cast, proposed):
    partner_queue = review_queue(cast.access("partner_approver"))
    assert [i.goal for i in partner_queue.items] == [proposed]
    vendor = cast.access("vendor_approver")
    goals.goal_approve(access=vendor, goal_id=proposed.pk, revision=1)
    assert review_queue(vendor).items == []
    assert [i.goal for i in review_queue(vendor).theirs] == [proposed]


def test_the_queue_page_shows_objective_vision_metric_and_both_commitments(client, cast, proposed):
    client.force_login(cast.partner_approver)
    text = page_text(client.get(queue_url(cast)))
    for expected in (
        "Pipeline Q1",
        "Grow the joint pipeline",
        "We win mid-market deals together.",
        "Qualified pipeline",
        "from 100 to",
        "200",
        "Fund two joint workshops",
        "Certify three consultants",
        "Approve revision 1",
        "Request changes",
    ):
        assert expected in text


def test_what_changed_since_the_revision_the_side_last_saw(cast, proposed):
    partner = cast.access("partner_approver")
    vendor = cast.access("vendor_approver")
    goals.goal_approve(access=partner, goal_id=proposed.pk, revision=1)
    goals.goal_update(access=vendor, goal_id=proposed.pk, target=Decimal("250"))
    goal_commitments.commitment_create(access=vendor, goal_id=proposed.pk, side=Side.VENDOR, text="Co-fund a campaign")
    goals.goal_propose(access=vendor, goal_id=proposed.pk)
    [item] = review_queue(partner).items
    assert item.compared_with == 1
    assert [c.text for c in item.changes] == ["Target 200 → 250", "Vendor commitment added: “Co-fund a campaign”"]


def test_changes_requested_wait_for_the_side_that_proposed(client, cast, proposed):
    client.force_login(cast.partner_editor)
    response = client.post(
        action_url(cast, proposed, "request-changes"),
        {"revision": 1, "comment": "Target 250, <script>alert(1)</script>"},
    )
    assert response.status_code == 302
    proposed.refresh_from_db()
    assert proposed.status == GoalStatus.CHANGES_REQUESTED
    assert review_queue(cast.access("partner_approver")).items == []
    [item] = review_queue(cast.access("vendor_editor")).items
    assert item.action == "revise" and item.change_requests[0].body.startswith("Target 250")
    client.force_login(cast.vendor_editor)
    page = client.get(queue_url(cast)).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


def test_approving_from_the_queue_by_both_sides_agrees_the_goal(client, cast, proposed):
    for who in ("vendor_approver", "partner_approver"):
        client.force_login(getattr(cast, who))
        assert client.post(action_url(cast, proposed, "approve"), {"revision": 1}).status_code == 302
    proposed.refresh_from_db()
    assert proposed.status == GoalStatus.AGREED and proposed.agreed_revision == 1
    assert "Pipeline Q1" in page_text(client.get(queue_url(cast)))  # under "Agreed lately"


def test_counter_proposal_makes_a_new_revision_with_the_edited_terms(client, cast, proposed):
    client.force_login(cast.partner_approver)
    vendor_commitment = proposed.commitments.get(side=Side.VENDOR)
    partner_commitment = proposed.commitments.get(side=Side.PARTNER)
    response = client.post(
        action_url(cast, proposed, "counter"),
        {
            "version": proposed.version,
            "target": "180",
            f"commitment-{vendor_commitment.pk}": "Fund three joint workshops",
            f"commitment-{partner_commitment.pk}": partner_commitment.text,
            "new_commitment": "Host a customer day",
            "new_commitment_side": "partner",
            "approve": "on",
        },
    )
    assert response.status_code == 302
    proposed.refresh_from_db()
    assert (proposed.status, proposed.revision, proposed.target) == (GoalStatus.PROPOSED, 2, Decimal("180"))
    assert proposed.proposed_by_side == Side.PARTNER
    assert set(proposed.approvals.filter(revision=2).values_list("side", flat=True)) == {Side.PARTNER}
    [item] = review_queue(cast.access("vendor_approver")).items
    assert [c.text for c in item.changes] == [
        "Target 200 → 180",
        "Partner commitment added: “Host a customer day”",
        "Vendor commitment “Fund two joint workshops” → “Fund three joint workshops”",
    ]


def test_a_stale_counter_proposal_is_refused_and_changes_nothing(client, cast, proposed):
    client.force_login(cast.partner_approver)
    response = client.post(action_url(cast, proposed, "counter"), {"version": proposed.version - 1, "target": "180"})
    assert response.status_code == 412
    proposed.refresh_from_db()
    assert proposed.revision == 1 and proposed.target == Decimal("200")


def test_a_counter_proposal_that_changes_nothing_is_refused(client, cast, proposed):
    client.force_login(cast.partner_approver)
    response = client.post(action_url(cast, proposed, "counter"), {"version": proposed.version, "target": "200"})
    assert response.status_code == 400
    assert "Change the target or a commitment" in page_text(response)


def test_a_failing_step_of_a_counter_proposal_writes_nothing(client, cast, proposed):
    client.force_login(cast.partner_approver)
    c = proposed.commitments.get(side=Side.VENDOR)
    response = client.post(
        action_url(cast, proposed, "counter"),
        {
            "version": proposed.version,
            "target": "50",  # below the baseline of an increasing metric: refused
            f"commitment-{c.pk}": "Changed text",
        },
    )
    assert response.status_code == 400
    proposed.refresh_from_db()
    assert proposed.revision == 1 and Commitment.objects.get(pk=c.pk).text == c.text


def test_the_partner_proposes_a_goal_of_their_own(client, cast, proposed, django_capture_on_commit_callbacks):
    client.force_login(cast.partner_approver)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("goal-review-propose", args=[cast.partnership.pk]),
            {
                "objective": proposed.objective_id,
                "title": "Certified consultants",
                "period_start": "2026-12-01",
                "period_end": "2027-02-28",
                "metric_name": "Certified consultants",
                "metric_unit": "people",
                "baseline": "2",
                "target": "6",
                "direction": "increase",
                "own_commitment": "Send six to training",
                "other_commitment": "Waive the exam fees",
                "approve": "on",
            },
        )
    assert response.status_code == 302
    goal = Goal.objects.get(title="Certified consultants")
    assert goal.status == GoalStatus.PROPOSED and goal.proposed_by_side == Side.PARTNER
    assert [i.goal for i in review_queue(cast.access("vendor_approver")).items] == [proposed, goal]
    assert {m.to[0] for m in mail.outbox} == {"admin@vendor.test", "editor@vendor.test", "approver@vendor.test"}


@pytest.mark.parametrize(
    "data",
    [
        {"revision": "abc"},
        {"revision": ""},
        {"revision": "99999999999999999999"},
    ],
)
def test_bad_approvals_get_a_clear_4xx(client, cast, proposed, data):
    client.force_login(cast.partner_approver)
    assert client.post(action_url(cast, proposed, "approve"), data).status_code == 400


def test_bad_change_requests_get_a_clear_4xx_and_change_nothing(client, cast, proposed):
    client.force_login(cast.partner_approver)
    for data in (
        {"revision": 1, "comment": ""},
        {"revision": 1, "comment": "a\x00b"},
        {"revision": 1, "comment": "x" * 10001},
    ):
        assert client.post(action_url(cast, proposed, "request-changes"), data).status_code == 400
    assert (
        client.post(action_url(cast, proposed, "request-changes"), {"revision": 7, "comment": "x"}).status_code == 409
    )
    proposed.refresh_from_db()
    assert proposed.status == GoalStatus.PROPOSED and not proposed.comments.exists()


@pytest.mark.parametrize(
    "who,status",
    [
        ("partner_approver", 302),
        ("partner_editor", 403),
        ("partner_viewer", 403),
        ("outsider", 404),
    ],
)
def test_who_may_approve_from_the_queue(client, cast, proposed, who, status):
    client.force_login(getattr(cast, who))
    assert client.post(action_url(cast, proposed, "approve"), {"revision": 1}).status_code == status


def test_viewers_see_the_queue_without_actions(client, cast, proposed):
    client.force_login(cast.partner_viewer)
    text = page_text(client.get(queue_url(cast)))
    assert "Pipeline Q1" in text and "Approve revision" not in text and "Request changes" not in text


# --- Notifications ----------------------------------------------------------------------------


def test_the_other_side_is_emailed_about_approvals_change_requests_and_proposals(
    client, cast, proposed, django_capture_on_commit_callbacks
):
    client.force_login(cast.partner_approver)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(action_url(cast, proposed, "request-changes"), {"revision": 1, "comment": "Make it 250"})
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@vendor.test", "approver@vendor.test", "editor@vendor.test"]
    assert "Changes requested on “Pipeline Q1”" in mail.outbox[0].subject
    assert "Make it 250" in mail.outbox[0].body
    mail.outbox.clear()
    client.force_login(cast.vendor_approver)
    c = proposed.commitments.get(side=Side.VENDOR)
    proposed.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            action_url(cast, proposed, "counter"),
            {
                "version": proposed.version,
                "target": "250",
                f"commitment-{c.pk}": c.text,
                "approve": "on",
                f"commitment-{proposed.commitments.get(side=Side.PARTNER).pk}": "Certify three consultants",
            },
        )
    assert sorted(m.to[0] for m in mail.outbox) == ["approver@partner.test", "editor@partner.test"]
    assert "revision 2" in mail.outbox[0].subject
    mail.outbox.clear()
    client.force_login(cast.partner_approver)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(action_url(cast, proposed, "approve"), {"revision": 2})
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@vendor.test", "approver@vendor.test", "editor@vendor.test"]
    assert mail.outbox[0].subject.startswith("Agreed: “Pipeline Q1”")
    for message in mail.outbox:
        assert cast.outsider_partnership.name not in message.body + message.subject


def test_people_who_muted_negotiation_emails_get_none(client, cast, proposed, django_capture_on_commit_callbacks):
    cast.vendor_editor.muted_reminder_kinds = ["goal_negotiation"]
    cast.vendor_editor.save()
    client.force_login(cast.partner_approver)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(action_url(cast, proposed, "approve"), {"revision": 1})
    assert [m.to[0] for m in mail.outbox] == ["admin@vendor.test", "approver@vendor.test"]


# --- Isolation and cost -----------------------------------------------------------------------


def test_an_invited_person_sees_only_their_partnership(client, cast, proposed):
    other = f.make_partnership(cast.vendor_admin, name="Acme × Contoso")
    other_access = f.access(cast.vendor_admin, other)
    other_goal = f.make_goal(other_access, f.make_objective(other_access), title="Contoso secret goal")
    outsider_access = f.access(cast.outsider, cast.outsider_partnership)
    outsider_goal = f.make_goal(outsider_access, f.make_objective(outsider_access))
    _, raw = inv.invitation_create(
        access=cast.access("vendor_admin"), email="newbie@partner.test", side=Side.PARTNER, role=Role.APPROVER
    )
    client.post(
        reverse("invitation-accept", args=[raw]),
        {"full_name": "Nina", "password": f.PASSWORD, "password_again": f.PASSWORD},
    )
    assert client.get(queue_url(cast)).status_code == 200
    for p, goal in ((other, other_goal), (cast.outsider_partnership, outsider_goal)):
        assert client.get(reverse("goal-review-queue", args=[p.pk])).status_code == 404
        assert client.get(reverse("goal-thread", args=[p.pk, goal.pk])).status_code == 404
        assert client.post(reverse("goal-review-approve", args=[p.pk, goal.pk]), {"revision": 1}).status_code == 404
        assert client.get(reverse("invitations-manage", args=[p.pk])).status_code == 404
    # Another partnership's goal through this partnership's address is not found either.
    assert client.get(reverse("goal-thread", args=[cast.partnership.pk, other_goal.pk])).status_code == 404
    assert "Contoso" not in client.get(queue_url(cast)).content.decode()


def test_the_thread_shows_revisions_approvals_and_comments(client, cast, proposed):
    partner = cast.access("partner_approver")
    goals.goal_request_changes(access=partner, goal_id=proposed.pk, comment="Make it 250")
    goals.goal_update(access=cast.access("vendor_approver"), goal_id=proposed.pk, target=Decimal("250"))
    goals.goal_propose(access=cast.access("vendor_approver"), goal_id=proposed.pk)
    goals.goal_approve(access=partner, goal_id=proposed.pk, revision=2)
    client.force_login(cast.vendor_viewer)
    text = page_text(client.get(reverse("goal-thread", args=[cast.partnership.pk, proposed.pk])))
    order = [
        text.index(s)
        for s in (
            "proposed revision 1",
            "requested changes to revision 1: <q>Make it 250</q>",
            "proposed revision 2",
            "approved revision 2 for the partner side",
        )
    ]
    assert order == sorted(order)
    assert "Target 200 → 250" in text


def _make_goals(cast, n):
    vendor = cast.access("vendor_approver")
    objective = f.make_objective(vendor)
    for _ in range(n):
        goal = f.make_goal(vendor, objective)
        goals.goal_propose(access=vendor, goal_id=goal.pk)
        goal_comments.comment_create(access=vendor, goal_id=goal.pk, body="Please look")
        goals.goal_request_changes(access=cast.access("partner_editor"), goal_id=goal.pk, comment="More")
        goals.goal_update(access=vendor, goal_id=goal.pk, target=Decimal("300"))
        goals.goal_propose(access=vendor, goal_id=goal.pk)
        goals.goal_approve(access=vendor, goal_id=goal.pk, revision=2)


@pytest.mark.parametrize("n", [1, 6])
def test_the_queue_runs_a_constant_number_of_queries(client, cast, django_assert_num_queries, n):
    _make_goals(cast, n)
    client.force_login(cast.partner_approver)
    # 15: one more than before, for the vision's endorsements (the queue offers the vision to endorse).
    with django_assert_num_queries(15):
        response = client.get(queue_url(cast))
    assert response.status_code == 200
    assert page_text(response).count("Approve revision 2") == n


def test_an_invited_person_sees_only_their_partnership_through_the_api_and_feed(cast, proposed):
    from tests.api_support import ApiClient

    other = f.make_partnership(cast.vendor_admin, name="Acme × Contoso")
    other_access = f.access(cast.vendor_admin, other)
    other_goal = f.make_goal(other_access, f.make_objective(other_access), title="Contoso secret goal")
    # Invited to the vendor side: they join the vendor organisation, which has other partnerships.
    _, raw = inv.invitation_create(
        access=cast.access("vendor_admin"), email="newbie@vendor.test", side=Side.VENDOR, role=Role.EDITOR
    )
    person = f.make_user("newbie@vendor.test")
    inv.invitation_accept(raw_token=raw, user=person)
    api = ApiClient(person)
    partnerships = api.get("partnerships").json()["results"]
    assert [p["id"] for p in partnerships] == [str(cast.partnership.pk)]
    goal_ids = {g["id"] for g in api.get("goals").json()["results"]}
    assert goal_ids == {str(proposed.pk)}
    assert api.get(f"goals/{other_goal.pk}").status_code == 404
    assert api.get(f"partnerships/{other.pk}/plan").status_code == 404
    assert api.get("changes", partnership=str(other.pk)).status_code == 404
    feed = api.get("changes", limit=500).json()
    assert feed["results"] and {e["partnership"] for e in feed["results"]} == {str(cast.partnership.pk)}
    assert "Contoso" not in str(feed)


def test_a_repeated_negotiation_email_task_sends_once(client, cast, proposed, django_capture_on_commit_callbacks):
    client.force_login(cast.partner_approver)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(action_url(cast, proposed, "approve"), {"revision": 1})
    notify = callbacks[-1]  # queued last, after the change events' own commit hooks
    for callback in callbacks:
        callback()
    sent = len(mail.outbox)
    assert sent == 3
    notify()  # the same event delivered twice by the broker
    assert len(mail.outbox) == sent
    # A different event (the same revision approved again after a change request) is e-mailed.
    row = OutboxMessage.objects.filter(kind="goal_approved", recipient=cast.vendor_editor).get()
    with django_capture_on_commit_callbacks(execute=True):
        outbox.queue(
            [
                outbox.Message(
                    "goal_approved",
                    "approval",
                    str(uuid.uuid4()),
                    timezone.now(),
                    recipient_id=cast.vendor_editor.pk,
                    partnership_id=cast.partnership.pk,
                    context=row.context,
                )
            ]
        )
    assert len(mail.outbox) == sent + 1


def test_services_tell_the_other_side_whichever_client_acted(cast, django_capture_on_commit_callbacks):
    """The goal services announce, so a proposal made through the API or the plan page e-mails too."""
    from goals import services as goal_services
    from tests import factories as f

    objective = f.make_objective(cast.access("vendor_editor"))
    goal = f.make_goal(cast.access("vendor_editor"), objective)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        goal_services.goal_propose(access=cast.access("vendor_editor"), goal_id=goal.pk)
    partner_side = {cast.partner_approver.email, cast.partner_editor.email}
    assert {m.to[0] for m in mail.outbox} == partner_side
    message = mail.outbox[0]
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/unsubscribe/" in message.extra_headers["List-Unsubscribe"]
    mail.outbox.clear()
    cast.partner_editor.muted_reminder_kinds = ["goal_negotiation"]
    cast.partner_editor.save()
    with django_capture_on_commit_callbacks(execute=True):
        goal_services.goal_request_changes(
            access=cast.access("partner_approver"), goal_id=goal.pk, comment="Lower the target"
        )
    vendor_side = {cast.vendor_admin.email, cast.vendor_approver.email, cast.vendor_editor.email}
    assert {m.to[0] for m in mail.outbox} == vendor_side
