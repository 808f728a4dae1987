"""Who may do what through the API (pretix style): every endpoint for every kind of person → status.

Columns: vendor editor, vendor approver, partner approver, partner viewer, outsider, anonymous,
vendor org admin. Outsiders always get 404 (never a hint that the object exists); members whose
role does not allow an action get 403; anonymous callers get 401.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from tests.api_support import ApiClient, World

PEOPLE = ("vendor_editor", "vendor_approver", "partner_approver", "partner_viewer", "outsider", None, "vendor_admin")
TODAY = dt.date.today()

# (name, method, path, body, expected statuses in the order of PEOPLE)
TABLE = [
    ("me", "get", lambda w: "me", None, "200 200 200 200 200 401 200"),
    ("list partnerships", "get", lambda w: "partnerships", None, "200 200 200 200 200 401 200"),
    ("read partnership", "get", lambda w: f"partnerships/{w.partnership.pk}", None, "200 200 200 200 404 401 200"),
    (
        "change partnership",
        "patch",
        lambda w: f"partnerships/{w.partnership.pk}",
        {"status": "paused"},
        "403 403 403 403 404 401 200",
    ),
    ("read plan", "get", lambda w: f"partnerships/{w.partnership.pk}/plan", None, "200 200 200 200 404 401 200"),
    ("list visions", "get", lambda w: f"visions?partnership={w.partnership.pk}", None, "200 200 200 200 404 401 200"),
    (
        "change vision",
        "patch",
        lambda w: f"visions/{w.vision.pk}",
        {"how_we_work": "Weekly"},
        "200 200 200 403 404 401 200",
    ),
    (
        "endorse vision",
        "post",
        lambda w: f"visions/{w.vision.pk}/endorse",
        lambda w: {"revision": w.vision.revision},
        "403 201 201 403 404 401 201",
    ),
    (
        "list objectives",
        "get",
        lambda w: f"objectives?partnership={w.partnership.pk}",
        None,
        "200 200 200 200 404 401 200",
    ),
    (
        "create objective",
        "post",
        lambda w: "objectives",
        lambda w: {"partnership": str(w.partnership.pk), "title": "Open a new region"},
        "201 201 201 403 404 401 201",
    ),
    ("read objective", "get", lambda w: f"objectives/{w.objective.pk}", None, "200 200 200 200 404 401 200"),
    (
        "change objective",
        "patch",
        lambda w: f"objectives/{w.objective.pk}",
        {"title": "Sharper"},
        "200 200 200 403 404 401 200",
    ),
    ("delete objective", "delete", lambda w: f"objectives/{w.spare_objective.pk}", None, "204 204 204 403 404 401 204"),
    ("list goals", "get", lambda w: f"goals?partnership={w.partnership.pk}", None, "200 200 200 200 404 401 200"),
    (
        "create goal",
        "post",
        lambda w: "goals",
        lambda w: {
            "objective": str(w.objective.pk),
            "title": "Q1 pipeline",
            "period_start": str(TODAY),
            "period_end": str(TODAY + dt.timedelta(days=90)),
            "baseline": "10",
            "target": "20",
        },
        "201 201 201 403 404 401 201",
    ),
    ("read goal", "get", lambda w: f"goals/{w.draft.pk}", None, "200 200 200 200 404 401 200"),
    ("change goal", "patch", lambda w: f"goals/{w.draft.pk}", {"target": "300"}, "200 200 200 403 404 401 200"),
    ("delete draft goal", "delete", lambda w: f"goals/{w.draft.pk}", None, "204 204 204 403 404 401 204"),
    ("propose goal", "post", lambda w: f"goals/{w.draft.pk}/propose", {}, "200 200 200 403 404 401 200"),
    (
        "approve goal",
        "post",
        lambda w: f"goals/{w.proposed.pk}/approve",
        lambda w: {"revision": 1},
        "403 201 201 403 404 401 201",
    ),
    (
        "request changes",
        "post",
        lambda w: f"goals/{w.proposed.pk}/request-changes",
        {"comment": "Lower target"},
        "201 201 201 403 404 401 201",
    ),
    (
        "withdraw goal",
        "post",
        lambda w: f"goals/{w.draft.pk}/withdraw",
        {"note": "Not now"},
        "200 200 200 403 404 401 200",
    ),
    (
        "close goal",
        "post",
        lambda w: f"goals/{w.agreed.pk}/close",
        {"outcome": "dropped", "note": "Market moved"},
        "403 200 200 403 404 401 200",
    ),
    ("list commitments", "get", lambda w: f"commitments?goal={w.draft.pk}", None, "200 200 200 200 404 401 200"),
    (
        "create commitment",
        "post",
        lambda w: "commitments",
        lambda w: {"goal": str(w.draft.pk), "side": "partner", "text": "Train two sellers"},
        "201 201 201 403 404 401 201",
    ),
    ("read commitment", "get", lambda w: f"commitments/{w.commitment.pk}", None, "200 200 200 200 404 401 200"),
    (
        "change commitment",
        "patch",
        lambda w: f"commitments/{w.commitment.pk}",
        {"text": "Fund three workshops"},
        "200 200 200 403 404 401 200",
    ),
    ("delete commitment", "delete", lambda w: f"commitments/{w.commitment.pk}", None, "204 204 204 403 404 401 204"),
    ("list check-ins", "get", lambda w: f"check-ins?goal={w.agreed.pk}", None, "200 200 200 200 404 401 200"),
    (
        "create check-in",
        "post",
        lambda w: "check-ins",
        lambda w: {"goal": str(w.agreed.pk), "value": "130", "confidence": 4},
        "201 201 201 403 404 401 201",
    ),
    ("read check-in", "get", lambda w: f"check-ins/{w.check_in.pk}", None, "200 200 200 200 404 401 200"),
    # A check-in belongs to the side that made it.
    (
        "change vendor check-in",
        "patch",
        lambda w: f"check-ins/{w.check_in.pk}",
        {"value": "125"},
        "200 200 403 403 404 401 200",
    ),
    ("delete vendor check-in", "delete", lambda w: f"check-ins/{w.check_in.pk}", None, "204 204 403 403 404 401 204"),
    ("list comments", "get", lambda w: f"comments?goal={w.draft.pk}", None, "200 200 200 200 404 401 200"),
    # Viewers may comment.
    (
        "create comment",
        "post",
        lambda w: "comments",
        lambda w: {"goal": str(w.draft.pk), "body": "Agreed"},
        "201 201 201 201 404 401 201",
    ),
    ("read comment", "get", lambda w: f"comments/{w.comment.pk}", None, "200 200 200 200 404 401 200"),
    # Only the author changes a comment.
    (
        "change own comment",
        "patch",
        lambda w: f"comments/{w.comment.pk}",
        {"body": "Second thoughts"},
        "200 403 403 403 404 401 403",
    ),
    (
        "replace own comment",
        "put",
        lambda w: f"comments/{w.comment.pk}",
        {"body": "Rewritten"},
        "200 403 403 403 404 401 403",
    ),
    ("delete own comment", "delete", lambda w: f"comments/{w.comment.pk}", None, "204 403 403 403 404 401 403"),
    ("list reviews", "get", lambda w: f"reviews?partnership={w.partnership.pk}", None, "200 200 200 200 404 401 200"),
    (
        "schedule review",
        "post",
        lambda w: "reviews",
        lambda w: {"partnership": str(w.partnership.pk), "scheduled_for": "2027-01-15T10:00:00Z"},
        "201 201 201 403 404 401 201",
    ),
    ("read review", "get", lambda w: f"reviews/{w.review.pk}", None, "200 200 200 200 404 401 200"),
    (
        "change review",
        "patch",
        lambda w: f"reviews/{w.review.pk}",
        {"notes": "Agenda: pipeline"},
        "200 200 200 403 404 401 200",
    ),
    ("skip review", "post", lambda w: f"reviews/{w.review.pk}/skip", {}, "200 200 200 403 404 401 200"),
    (
        "hold review",
        "post",
        lambda w: f"reviews/{w.review.pk}/hold",
        {"held_on": str(TODAY), "schedule_next": False},
        "200 200 200 403 404 401 200",
    ),
    (
        "list invitations",
        "get",
        lambda w: f"invitations?partnership={w.partnership.pk}",
        None,
        "200 200 200 200 404 401 200",
    ),
    # Organisation admins and the partnership's approvers invite people to their own side.
    (
        "invite",
        "post",
        lambda w: "invitations",
        lambda w: {
            "partnership": str(w.partnership.pk),
            "email": "someone@vendor.test",
            "side": "vendor",
            "role": "editor",
        },
        "403 201 403 403 404 401 201",
    ),
    ("read invitation", "get", lambda w: f"invitations/{w.invitation.pk}", None, "200 200 200 200 404 401 200"),
    ("revoke invitation", "post", lambda w: f"invitations/{w.invitation.pk}/revoke", {}, "403 200 403 403 404 401 200"),
    (
        "follow the feed",
        "get",
        lambda w: f"changes?partnership={w.partnership.pk}",
        None,
        "200 200 200 200 404 401 200",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE]
)
def test_permission_table(cast, method, path, body, expected):
    world = World(cast)
    clients = {who: ApiClient(getattr(cast, who) if who else None) for who in PEOPLE}
    actual = []
    for who in PEOPLE:
        with transaction.atomic():  # every person acts on the same, untouched world
            data = body(world) if callable(body) else body
            target = path(world)
            headers = {}
            if method in ("patch", "put", "delete"):
                headers = {"If-Match": clients["vendor_admin"].get(target)["ETag"]}
            if "?" in target:
                target, query = target.split("?")
                response = clients[who].get(target, **dict([query.split("=")]))
            else:
                response = clients[who].request(method, target, data, headers=headers)
            actual.append(str(response.status_code))
            transaction.set_rollback(True)
    assert " ".join(actual) == expected, dict(zip([p or "anonymous" for p in PEOPLE], actual, strict=True))


def test_outsiders_see_nothing_in_lists_or_the_feed(cast):
    World(cast)
    outsider = ApiClient(cast.outsider)
    theirs = str(cast.outsider_partnership.pk)
    for resource in (
        "partnerships",
        "visions",
        "objectives",
        "goals",
        "commitments",
        "check-ins",
        "comments",
        "reviews",
        "invitations",
    ):
        results = outsider.get(resource).json()["results"]
        partnerships = {r.get("partnership", r["id"] if resource == "partnerships" else None) for r in results}
        assert str(cast.partnership.pk) not in partnerships, resource
        if resource in ("partnerships", "visions"):
            assert partnerships == {theirs}, resource
    feed = outsider.get("changes", limit=1000).json()["results"]
    assert feed and {e["partnership"] for e in feed} == {theirs}
    me = outsider.get("me").json()
    assert [m["partnership"] for m in me["partnerships"]] == [theirs]


def test_filtering_a_list_by_a_partnership_one_may_not_see_is_a_404(cast):
    world = World(cast)
    outsider = ApiClient(cast.outsider)
    assert outsider.get("goals", objective=str(world.objective.pk)).status_code == 404
    assert outsider.get("comments", goal=str(world.draft.pk)).status_code == 404
    assert outsider.get("goals", partnership=str(cast.partnership.pk)).status_code == 404
