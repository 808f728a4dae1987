"""Who may do what through the API (pretix style): every endpoint for every kind of person → status.

Columns: vendor editor, vendor approver, partner approver, partner viewer, outsider, anonymous,
vendor org admin. Outsiders always get 404 (never a hint that the object exists); members whose
role does not allow an action get 403; anonymous callers get 401.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from alignment.models import Driver, DriverFigure
from tests import factories as f
from tests.api_support import ApiClient, World

PEOPLE = ("vendor_editor", "vendor_approver", "partner_approver", "partner_viewer", "outsider", None, "vendor_admin")
TODAY = dt.date.today()


def vendor_driver(w):  # type: ignore[no-untyped-def]
    return Driver.objects.filter(partnership=w.partnership, side="vendor").order_by("order").first()


def vendor_figure(w, visibility):  # type: ignore[no-untyped-def]
    """A figure of the vendor side's first driver (made in the person's transaction, rolled back after)."""
    start = dt.date(2026, 1, 1) if visibility == "private" else dt.date(2026, 4, 1)
    return DriverFigure.objects.create(
        driver=vendor_driver(w),
        period_start=start,
        period_end=start + dt.timedelta(days=89),
        value=7,
        visibility=visibility,
    )


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
    (
        "read give/get balance",
        "get",
        lambda w: f"partnerships/{w.partnership.pk}/balance",
        None,
        "200 200 200 200 404 401 200",
    ),
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
    ("read review pulse", "get", lambda w: f"reviews/{w.review.pk}/pulse", None, "200 200 200 200 404 401 200"),
    (
        "answer review pulse",  # a question to each person, viewers included: not a change of the plan
        "post",
        lambda w: f"reviews/{w.review.pk}/pulse",
        {"trust": 4, "fairness": 3, "value": 4, "responsiveness": 5, "ease": 4},
        "200 200 200 200 404 401 200",
    ),
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
    # Each side's economics: drivers and figures are the side's own; a private figure does not exist
    # for the other side (404), a shared one is read-only for it (403).
    ("list drivers", "get", lambda w: f"drivers?partnership={w.partnership.pk}", None, "200 200 200 200 404 401 200"),
    (
        "add driver",
        "post",
        lambda w: "drivers",
        lambda w: {"partnership": str(w.partnership.pk), "name": "deals sourced", "unit": "deals"},
        "201 201 201 403 404 401 201",
    ),
    ("read driver", "get", lambda w: f"drivers/{vendor_driver(w).pk}", None, "200 200 200 200 404 401 200"),
    (
        "rename vendor driver",
        "patch",
        lambda w: f"drivers/{vendor_driver(w).pk}",
        {"name": "net new licence revenue"},
        "200 200 403 403 404 401 200",
    ),
    ("remove vendor driver", "delete", lambda w: f"drivers/{vendor_driver(w).pk}", None, "204 204 403 403 404 401 204"),
    (
        "list figures",
        "get",
        lambda w: f"driver-figures?partnership={w.partnership.pk}",
        None,
        "200 200 200 200 404 401 200",
    ),
    (
        "record vendor figure",
        "post",
        lambda w: "driver-figures",
        lambda w: {
            "driver": str(vendor_driver(w).pk),
            "period_start": "2026-07-01",
            "period_end": "2026-09-30",
            "value": "12.5",
        },
        "201 201 403 403 404 401 201",
    ),
    (
        "record shared vendor figure",
        "post",
        lambda w: "driver-figures",
        lambda w: {
            "driver": str(vendor_driver(w).pk),
            "period_start": "2026-07-01",
            "period_end": "2026-09-30",
            "value": "12.5",
            "visibility": "shared",
        },
        "403 201 403 403 404 401 201",
    ),
    (
        "read private vendor figure",
        "get",
        lambda w: f"driver-figures/{vendor_figure(w, 'private').pk}",
        None,
        "200 200 404 404 404 401 200",
    ),
    (
        "read shared vendor figure",
        "get",
        lambda w: f"driver-figures/{vendor_figure(w, 'shared').pk}",
        None,
        "200 200 200 200 404 401 200",
    ),
    (
        "change private vendor figure",
        "patch",
        lambda w: f"driver-figures/{vendor_figure(w, 'private').pk}",
        {"value": "9"},
        "200 200 404 404 404 401 200",
    ),
    (
        "change shared vendor figure",
        "patch",
        lambda w: f"driver-figures/{vendor_figure(w, 'shared').pk}",
        {"value": "9"},
        "200 200 403 403 404 401 200",
    ),
    (
        "share vendor figure",
        "patch",
        lambda w: f"driver-figures/{vendor_figure(w, 'private').pk}",
        {"visibility": "shared"},
        "403 200 404 404 404 401 200",
    ),
    (
        "delete private vendor figure",
        "delete",
        lambda w: f"driver-figures/{vendor_figure(w, 'private').pk}",
        None,
        "204 204 404 404 404 401 204",
    ),
    (
        "follow the feed",
        "get",
        lambda w: f"changes?partnership={w.partnership.pk}",
        None,
        "200 200 200 200 404 401 200",
    ),
    # Plan templates: shipped ones for everyone; this plan is written, so no template starts it.
    ("list templates", "get", lambda w: "templates", None, "200 200 200 200 200 401 200"),
    (
        "apply a template",
        "post",
        lambda w: f"partnerships/{w.partnership.pk}/apply-template",
        {"template": "consulting"},
        "409 409 409 403 404 401 409",
    ),
    # Saving needs an editor who belongs to the side's organisation (here: the vendor's admin).
    (
        "save as template",
        "post",
        lambda w: f"partnerships/{w.partnership.pk}/save-template",
        {"name": "Our playbook"},
        "403 403 403 403 404 401 201",
    ),
    # Cloning writes to another plan: a new one only its creator (the vendor's admin) may see.
    (
        "clone structure",
        "post",
        lambda w: f"partnerships/{w.partnership.pk}/clone-structure",
        lambda w: {"target": str(f.make_partnership(w.cast.vendor_admin, vendor_drivers=[], partner_drivers=[]).pk)},
        "404 404 404 403 404 401 200",
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
        "drivers",
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
