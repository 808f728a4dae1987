"""Partnership settings: everyone reads them, only an organisation's admins change them (and only
their own side's drivers and people); every change is version-checked and nothing half-saves."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import OrganisationMembership
from alignment.models import ChangeEvent, Partnership, PartnershipMember, Role, Side
from tests import factories as f

pytestmark = pytest.mark.django_db


def page(p) -> str:
    return reverse("partnership_settings", args=[p.pk])


def section(p, name: str) -> str:
    return reverse("partnership_settings_section", args=[p.pk, name])


def general(p, **overrides):
    return {"version": p.version, "name": p.name, "partner_type": p.partner_type, "status": p.status} | overrides


def schedule(p, **overrides):
    return {
        "version": p.version,
        "review_cadence": "monthly",
        "review_rrule": "",
        "review_time": "09:30",
        "review_duration_minutes": "45",
        "timezone": "Europe/Berlin",
        "reminder_offsets_days": "1, 7",
    } | overrides


def partner_admin(cast):
    user = f.make_user("admin@partner.test", full_name="Paul Partner-Admin")
    OrganisationMembership.objects.create(organisation=cast.partnership.partner, user=user, role="admin")
    return user


# --- who may see and change ---------------------------------------------------------------------


def test_outsiders_get_404_for_the_page_and_every_change(client, cast):
    p = cast.partnership
    member = PartnershipMember.objects.get(partnership=p, user=cast.vendor_editor)
    client.force_login(cast.outsider)
    assert client.get(page(p)).status_code == 404
    assert client.post(section(p, "general"), general(p, name="Taken over")).status_code == 404
    assert client.post(reverse("partnership_member_remove", args=[p.pk, member.pk])).status_code == 404
    assert PartnershipMember.objects.filter(pk=member.pk).exists()


@pytest.mark.parametrize("who", ["vendor_viewer", "vendor_editor", "vendor_approver", "partner_approver"])
def test_members_who_are_not_admins_read_the_settings_but_cannot_change_them(client, cast, who):
    p = cast.partnership
    client.force_login(getattr(cast, who))
    html = client.get(page(p)).content.decode()
    assert "Only admins of your organisation can change these settings" in html
    assert 'action="' + section(p, "general") not in html
    response = client.post(section(p, "general"), general(p, name="Renamed"))
    assert response.status_code == 403
    member = PartnershipMember.objects.get(partnership=p, user=cast.vendor_viewer)
    role_url = reverse("partnership_member_role", args=[p.pk, member.pk])
    assert client.post(role_url, {"role": "approver"}).status_code == 403
    assert client.post(reverse("partnership_member_remove", args=[p.pk, member.pk])).status_code == 403
    p.refresh_from_db()
    member.refresh_from_db()
    assert (p.name, member.role) == ("Acme × Northwind", Role.VIEWER)


def test_changes_need_the_csrf_token(cast):
    p = cast.partnership
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast.vendor_admin)
    assert browser.post(section(p, "general"), general(p, name="Forged")).status_code == 403
    p.refresh_from_db()
    assert p.name == "Acme × Northwind"


def test_unknown_section_is_404(client, cast):
    client.force_login(cast.vendor_admin)
    assert client.post(section(cast.partnership, "billing"), {"version": 1}).status_code == 404


# --- changing the partnership --------------------------------------------------------------------


def test_admin_renames_the_partnership_and_it_is_recorded(client, cast):
    p = cast.partnership
    client.force_login(cast.vendor_admin)
    response = client.post(section(p, "general"), general(p, name="Acme × Northwind EMEA", status="paused"))
    assert response.status_code == 302 and response["Location"].endswith("/settings/#general")
    p.refresh_from_db()
    assert (p.name, p.status, p.version) == ("Acme × Northwind EMEA", "paused", 2)
    event = ChangeEvent.objects.filter(object_id=p.pk, action="update").get()
    assert event.actor == cast.vendor_admin
    assert "Settings saved." in client.get(page(p)).content.decode()


def test_review_schedule_and_reminders(client, cast):
    p = cast.partnership
    client.force_login(cast.vendor_admin)
    assert client.post(section(p, "schedule"), schedule(p)).status_code == 302
    p.refresh_from_db()
    assert (p.review_cadence, str(p.review_time), p.timezone, p.review_duration_minutes) == (
        "monthly",
        "09:30:00",
        "Europe/Berlin",
        45,
    )
    assert p.reminder_offsets_days == [7, 1]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"review_cadence": "custom", "review_rrule": ""}, "A custom cadence needs a recurrence rule."),
        ({"review_cadence": "custom", "review_rrule": "FREQ=SOMETIMES"}, "Not a valid RRULE"),
        ({"timezone": "Mars/Olympus"}, "Select a valid choice"),
        ({"reminder_offsets_days": "7, soon"}, "“soon” is not a whole number from 0 to 90."),
        ({"reminder_offsets_days": "120"}, "“120” is not a whole number from 0 to 90."),
        ({"review_time": "25:99"}, "Enter a valid time."),
        ({"review_duration_minutes": "0"}, "greater than or equal to 15"),
    ],
)
def test_bad_schedule_input_is_explained_and_nothing_is_saved(client, cast, changes, message):
    p = cast.partnership
    client.force_login(cast.vendor_admin)
    response = client.post(section(p, "schedule"), schedule(p, **changes))
    # The form comes back with the error: 400 from the form's checks, 422 when the service refused it.
    assert response.status_code in (400, 422)
    assert message in response.content.decode()
    p.refresh_from_db()
    assert (p.version, p.review_cadence) == (1, "quarterly")


def test_economic_model_must_be_a_percentage(client, cast):
    p = cast.partnership
    client.force_login(cast.vendor_admin)
    data = {"version": 1, "margin_percent": "150", "referral_fee_percent": "", "economic_notes": "x"}
    response = client.post(section(p, "economics"), data)
    assert response.status_code == 400
    assert "less than or equal to 100" in response.content.decode()
    assert client.post(section(p, "economics"), data | {"margin_percent": "22.5"}).status_code == 302
    p.refresh_from_db()
    assert (str(p.margin_percent), p.referral_fee_percent, p.economic_notes) == ("22.50", None, "x")


def test_a_save_against_an_older_version_shows_both_and_loses_nothing(client, cast):
    p = cast.partnership
    client.force_login(cast.vendor_admin)
    assert client.post(section(p, "general"), general(p, name="Theirs")).status_code == 302
    response = client.post(section(p, "general"), general(p, name="Mine", version=1))
    assert response.status_code == 409
    html = response.content.decode()
    assert "saved a change while you were editing" in html
    assert "<td data-theirs>Theirs</td>" in html and "<td data-mine>Mine</td>" in html
    assert 'value="Mine"' in html and 'name="version" value="2"' in html  # keep mine saves over version 2
    p.refresh_from_db()
    assert p.name == "Theirs"


def test_each_side_keeps_its_own_drivers(client, cast):
    p = cast.partnership
    client.force_login(cast.vendor_admin)
    data = {
        "version": 1,
        "vendor_drivers": "licence revenue\n  active users \n\nnet retention\n",
        "partner_drivers": "hijacked",
    }
    assert client.post(section(p, "drivers"), data).status_code == 302
    p.refresh_from_db()
    assert p.vendor_drivers == ["licence revenue", "active users", "net retention"]
    assert p.partner_drivers == ["services revenue", "utilisation"]

    client.force_login(partner_admin(cast))
    html = client.get(page(p)).content.decode()
    assert "Business drivers of the partner side" in html
    assert client.post(section(p, "drivers"), {"version": 2, "partner_drivers": "billable rate"}).status_code == 302
    p.refresh_from_db()
    assert (p.vendor_drivers[-1], p.partner_drivers) == ("net retention", ["billable rate"])


def test_user_text_is_escaped(client, cast):
    p = cast.partnership
    Partnership.objects.filter(pk=p.pk).update(name="<script>alert(1)</script>", partner_drivers=["<b>x</b>"])
    f.make_user("evil@vendor.test", full_name="<img src=x onerror=alert(2)>")
    client.force_login(cast.vendor_viewer)
    html = client.get(page(p)).content.decode()
    assert "<script>alert(1)" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;x&lt;/b&gt;" in html


# --- people and roles ------------------------------------------------------------------------------


def test_admin_changes_a_role_on_their_own_side(client, cast):
    p = cast.partnership
    member = PartnershipMember.objects.get(partnership=p, user=cast.vendor_editor)
    client.force_login(cast.vendor_admin)
    response = client.post(reverse("partnership_member_role", args=[p.pk, member.pk]), {"role": "approver"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == Role.APPROVER
    assert "Ed Editor is now approver." in client.get(page(p)).content.decode()


def test_admin_cannot_touch_the_other_sides_people(client, cast):
    p = cast.partnership
    theirs = PartnershipMember.objects.get(partnership=p, user=cast.partner_approver)
    client.force_login(cast.vendor_admin)
    role_url = reverse("partnership_member_role", args=[p.pk, theirs.pk])
    assert client.post(role_url, {"role": "viewer"}).status_code == 403
    assert client.post(reverse("partnership_member_remove", args=[p.pk, theirs.pk])).status_code == 403
    theirs.refresh_from_db()
    assert theirs.role == Role.APPROVER


def test_a_bad_role_is_a_400_and_an_unknown_member_a_404(client, cast):
    p = cast.partnership
    member = PartnershipMember.objects.get(partnership=p, user=cast.vendor_editor)
    client.force_login(cast.vendor_admin)
    assert client.post(reverse("partnership_member_role", args=[p.pk, member.pk]), {"role": "owner"}).status_code == 400
    other = PartnershipMember.objects.get(partnership=cast.outsider_partnership)
    assert client.post(reverse("partnership_member_remove", args=[p.pk, other.pk])).status_code == 404
    assert PartnershipMember.objects.filter(pk=other.pk).exists()


def test_admin_removes_someone_of_their_side(client, cast):
    p = cast.partnership
    member = PartnershipMember.objects.get(partnership=p, user=cast.vendor_viewer)
    client.force_login(cast.vendor_admin)
    assert client.post(reverse("partnership_member_remove", args=[p.pk, member.pk])).status_code == 302
    assert not PartnershipMember.objects.filter(pk=member.pk).exists()
    client.force_login(cast.vendor_viewer)
    assert client.get(page(p)).status_code == 404


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx)


def test_query_count_does_not_grow_with_the_number_of_people(client, cast):
    p = cast.partnership
    client.force_login(cast.vendor_admin)
    _queries(client, page(p))
    small = _queries(client, page(p))
    for i in range(8):
        f.add_member(p, f.make_user(), Side.VENDOR if i % 2 else Side.PARTNER, Role.EDITOR)
    assert _queries(client, page(p)) == small


def test_a_stale_drivers_save_shows_both_lists(client, cast):
    p = cast.partnership
    client.force_login(cast.vendor_admin)
    assert client.post(section(p, "general"), general(p, name="Moved on")).status_code == 302
    response = client.post(section(p, "drivers"), {"version": 1, "vendor_drivers": "net retention"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "Business drivers of the vendor side" in html and "net retention" in html
    assert "Save mine over theirs" in html
    p.refresh_from_db()
    assert p.vendor_drivers == ["licence revenue", "active users"]
