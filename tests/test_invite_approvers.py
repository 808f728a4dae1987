"""Item 3 of "invitations for real teams": the partnership's approvers invite their own side (not
only organisation admins), and change the review schedule; the other settings stay with the
organisations' admins. Each permission is one rule on ``alignment.access.Access``."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from alignment import invitations as inv
from alignment import services as plan
from alignment.access import SCHEDULE_FIELDS
from alignment.models import ChangeEvent, Invitation, Partnership, Role, Side
from core.errors import NotAllowed

PEOPLE = ("vendor_admin", "vendor_approver", "vendor_editor", "vendor_viewer", "partner_approver", "partner_editor")


# (rule, expected for each of PEOPLE)
RULES = [
    ("can_invite_own_side", (True, True, False, False, True, False)),
    ("can_manage_invitations", (True, True, False, False, True, False)),
    ("can_change_schedule", (True, True, False, False, True, False)),
    ("can_manage", (True, False, False, False, False, False)),
    ("can_confirm_invitations", (True, False, False, False, False, False)),
    ("can_set_vendor_invitations", (False, False, False, False, False, False)),
]


@pytest.mark.parametrize("rule,expected", RULES, ids=[r for r, _ in RULES])
def test_the_permission_table(cast, rule, expected):
    assert tuple(getattr(cast.access(who), rule) for who in PEOPLE) == expected


def test_who_may_invite_to_which_side(cast):
    table = {who: inv.invitable_sides(cast.access(who)) for who in PEOPLE}
    assert table == {
        "vendor_admin": [Side.VENDOR, Side.PARTNER],  # the partner has no admin yet: its first people
        "vendor_approver": [Side.VENDOR],
        "vendor_editor": [],
        "vendor_viewer": [],
        "partner_approver": [Side.PARTNER],
        "partner_editor": [],
    }


@pytest.mark.parametrize("who,side", [("vendor_approver", Side.VENDOR), ("partner_approver", Side.PARTNER)])
def test_approvers_invite_their_own_side_directly(cast, who, side, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, raw = inv.invitation_create(
            access=cast.access(who), email=f"colleague@{side}.test", side=side, role=Role.EDITOR
        )
    assert invitation.state == "pending" and raw and invitation.invited_by == getattr(cast, who)


def test_approvers_resend_and_revoke_their_sides_invitations_but_editors_do_not(cast):
    invitation, _ = inv.invitation_create(
        access=cast.access("vendor_admin"), email="colleague@vendor.test", side=Side.VENDOR, role=Role.EDITOR
    )
    for service in (inv.invitation_resend, inv.invitation_revoke):
        with pytest.raises(NotAllowed):
            service(access=cast.access("vendor_editor"), invitation_id=invitation.pk)
        with pytest.raises(NotAllowed):
            service(access=cast.access("partner_approver"), invitation_id=invitation.pk)
    inv.invitation_resend(access=cast.access("vendor_approver"), invitation_id=invitation.pk)
    assert inv.invitation_revoke(access=cast.access("vendor_approver"), invitation_id=invitation.pk).state == "revoked"


def test_the_partner_approver_sees_the_invitations_page_for_their_side(client, cast):
    client.force_login(cast.partner_approver)
    response = client.get(reverse("invitations-manage", args=[cast.partnership.pk]))
    assert response.status_code == 200
    page = html.unescape(" ".join(response.content.decode().split()))
    assert "(partner, your side)" in page
    assert "Waiting for your confirmation" not in page and "When a vendor invites your colleagues" not in page


@pytest.mark.parametrize("who", ["vendor_editor", "partner_viewer"])
def test_others_are_told_who_invites(client, cast, who):
    client.force_login(getattr(cast, who))
    response = client.get(reverse("invitations-manage", args=[cast.partnership.pk]))
    assert response.status_code == 403
    assert "Only admins and approvers invite people to this partnership" in response.content.decode()


# --- The review schedule --------------------------------------------------------------------------


def schedule(p: Partnership, **overrides: str) -> dict[str, object]:
    return {
        "version": p.version,
        "review_cadence": "monthly",
        "review_rrule": "",
        "review_time": "09:30",
        "review_duration_minutes": "45",
        "timezone": "Europe/Berlin",
        "reminder_offsets_days": "1, 7",
        "reviews_on_working_days": "on",
    } | overrides


def section(p: Partnership, name: str) -> str:
    return reverse("partnership_settings_section", args=[p.pk, name])


@pytest.mark.parametrize("who", ["vendor_approver", "partner_approver"])
def test_approvers_change_the_review_schedule(client, cast, who):
    p = cast.partnership
    client.force_login(getattr(cast, who))
    page = client.get(reverse("partnership_settings", args=[p.pk])).content.decode()
    assert f'action="{section(p, "schedule")}"' in page
    assert f'action="{section(p, "general")}"' not in page
    assert "As an approver, you can change the" in page
    response = client.post(section(p, "schedule"), schedule(p))
    assert response.status_code == 302 and response["Location"].endswith("/settings/#schedule")
    p.refresh_from_db()
    assert (p.review_cadence, p.timezone, p.reminder_offsets_days) == ("monthly", "Europe/Berlin", [7, 1])
    event = ChangeEvent.objects.get(object_id=p.pk, action="update")
    assert event.actor == getattr(cast, who)


@pytest.mark.parametrize("who", ["vendor_approver", "partner_approver"])
def test_the_other_settings_stay_with_the_admins(client, cast, who):
    p = cast.partnership
    client.force_login(getattr(cast, who))
    general = {"version": 1, "name": "Renamed", "partner_type": p.partner_type, "status": p.status}
    assert client.post(section(p, "general"), general).status_code == 403
    economics = {"version": 1, "margin_percent": "50", "referral_fee_percent": "", "economic_notes": ""}
    assert client.post(section(p, "economics"), economics).status_code == 403
    p.refresh_from_db()
    assert (p.name, p.margin_percent, p.version) == ("Acme × Northwind", None, 1)


@pytest.mark.parametrize("who", ["vendor_editor", "vendor_viewer", "partner_editor"])
def test_editors_and_viewers_do_not_change_the_schedule(client, cast, who):
    p = cast.partnership
    client.force_login(getattr(cast, who))
    assert (
        f'action="{section(p, "schedule")}"'
        not in client.get(reverse("partnership_settings", args=[p.pk])).content.decode()
    )
    response = client.post(section(p, "schedule"), schedule(p))
    assert response.status_code == 403
    assert "Only approvers and admins may change the review schedule" in response.content.decode()
    p.refresh_from_db()
    assert p.review_cadence == "quarterly"


def test_the_service_allows_approvers_the_schedule_fields_only(cast):
    approver = cast.access("vendor_approver")
    changed = plan.partnership_update(access=approver, expected_version=1, review_cadence="monthly")
    assert changed.review_cadence == "monthly"
    for changes in ({"status": "paused"}, {"review_cadence": "yearly", "name": "Sneaked in"}):
        with pytest.raises(NotAllowed, match="Only admins of your organisation"):
            plan.partnership_update(access=approver, **changes)
    with pytest.raises(NotAllowed, match="your role is editor"):
        plan.partnership_update(access=cast.access("vendor_editor"), review_cadence="yearly")
    assert "reviews_on_working_days" in SCHEDULE_FIELDS and "name" not in SCHEDULE_FIELDS


def test_invitations_of_approvers_are_listed_for_both_sides(client, cast):
    inv.invitation_create(
        access=cast.access("partner_approver"), email="pia@partner.test", side=Side.PARTNER, role=Role.VIEWER
    )
    client.force_login(cast.vendor_approver)
    page = html.unescape(client.get(reverse("invitations-manage", args=[cast.partnership.pk])).content.decode())
    assert "pia@partner.test" in page and "Pat Partner" in page
    assert Invitation.objects.get().invited_by == cast.partner_approver
