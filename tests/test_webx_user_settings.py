"""A person's own settings: profile, reminder preferences and API tokens (shown once, revocable)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, ReminderKind
from tests import factories as f

pytestmark = pytest.mark.django_db

PAGE = "/settings/"


@pytest.fixture
def person(db):
    return f.make_user("dana@vendor.test", full_name="Dana Developer")


@pytest.fixture
def signed_in(client, person):
    client.force_login(person)
    return client


def test_anonymous_people_are_sent_to_sign_in(client):
    for url, method in [(PAGE, "get"), (reverse("api_token_create"), "post"), (reverse("user_profile_save"), "post")]:
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "login" in response["Location"]


def test_every_form_needs_the_csrf_token(person):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(person)
    assert browser.post(reverse("api_token_create"), {"name": "Forged"}).status_code == 403
    assert browser.post(reverse("user_profile_save"), {"full_name": "X", "timezone": "UTC"}).status_code == 403
    assert browser.post(reverse("user_notifications_save"), {}).status_code == 403
    assert not ApiToken.objects.exists()


# --- profile ------------------------------------------------------------------------------------


def test_profile_saves_name_and_time_zone(signed_in, person):
    response = signed_in.post(reverse("user_profile_save"), {"full_name": " Dana D. ", "timezone": "Asia/Kolkata"})
    assert response.status_code == 302 and response["Location"] == "/settings/#profile"
    person.refresh_from_db()
    assert (person.full_name, person.timezone) == ("Dana D.", "Asia/Kolkata")


@pytest.mark.parametrize(
    "data",
    [
        {"full_name": "Dana", "timezone": "Mars/Olympus"},
        {"full_name": "x" * 151, "timezone": "UTC"},
        {"full_name": "Da\x00na", "timezone": "UTC"},
    ],
)
def test_bad_profile_input_is_a_400_and_nothing_changes(signed_in, person, data):
    assert signed_in.post(reverse("user_profile_save"), data).status_code == 400
    person.refresh_from_db()
    assert (person.full_name, person.timezone) == ("Dana Developer", "UTC")


def test_names_are_escaped(signed_in, person):
    person.full_name = "<script>alert(1)</script>"
    person.save()
    ApiToken.issue(user=person, name="<img src=x onerror=alert(2)>")
    html = signed_in.get(PAGE).content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


# --- notifications ---------------------------------------------------------------------------------


def test_every_reminder_kind_is_a_checkbox_ticked_unless_muted(signed_in, person):
    person.muted_reminder_kinds = ["weekly_digest"]
    person.save()
    html = signed_in.get(PAGE).content.decode()
    for value, label in ReminderKind.choices:
        assert label.replace("'", "&#x27;") in html
        box = re.search(rf'<input type="checkbox" name="{value}"[^>]*>', html).group(0)
        assert ("checked" in box) == (value != "weekly_digest")


def test_unticked_kinds_are_muted(signed_in, person):
    response = signed_in.post(reverse("user_notifications_save"), {"review_upcoming": "on", "review_overdue": "on"})
    assert response.status_code == 302
    person.refresh_from_db()
    ticked = {"review_upcoming", "review_overdue"}
    assert sorted(person.muted_reminder_kinds) == sorted(set(ReminderKind.values) - ticked)
    assert {"approval_waiting", "checkin_missing", "weekly_digest"} <= set(person.muted_reminder_kinds)
    signed_in.post(reverse("user_notifications_save"), dict.fromkeys(ReminderKind.values, "on"))
    person.refresh_from_db()
    assert person.muted_reminder_kinds == []


# --- API tokens ------------------------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_then_only_its_hint(signed_in, person):
    response = signed_in.post(reverse("api_token_create"), {"name": "CRM sync"})
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    raw = re.search(r'id="new-token"[^>]*value="(pp_[^"]+)"', html).group(1)
    token = ApiToken.objects.get(user=person)
    assert ApiToken.find_active(raw) == token
    assert "shown this once" in html
    later = signed_in.get(PAGE).content.decode()
    assert raw not in later
    assert f"<code>{token.hint}…</code>" in later and "CRM sync" in later and "never" in later


def test_last_use_is_listed(signed_in, person):
    token, _ = ApiToken.issue(user=person, name="Report script")
    ApiToken.objects.filter(pk=token.pk).update(
        last_used_at=timezone.now().replace(year=2026, month=11, day=20, hour=8, minute=5)
    )
    assert "20 Nov 2026, 08:05" in signed_in.get(PAGE).content.decode()


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_token_needs_a_sensible_name(signed_in, name):
    assert signed_in.post(reverse("api_token_create"), {"name": name}).status_code == 400
    assert not ApiToken.objects.exists()


def test_too_many_active_tokens_are_refused(signed_in, person):
    from accounts import views

    for i in range(views.MAX_ACTIVE_TOKENS):
        ApiToken.issue(user=person, name=f"t{i}")
    response = signed_in.post(reverse("api_token_create"), {"name": "one more"})
    assert response.status_code == 409 and "Revoke one you no longer use first" in response.content.decode()
    assert ApiToken.objects.count() == views.MAX_ACTIVE_TOKENS


def test_revoking_stops_the_token(signed_in, person):
    token, raw = ApiToken.issue(user=person, name="Old laptop")
    response = signed_in.post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 302 and response["Location"] == "/settings/#tokens"
    assert ApiToken.find_active(raw) is None
    assert "revoked" in signed_in.get(PAGE).content.decode()
    # Revoking again changes nothing and is not an error.
    first = ApiToken.objects.get(pk=token.pk).revoked_at
    assert signed_in.post(reverse("api_token_revoke", args=[token.pk])).status_code == 302
    assert ApiToken.objects.get(pk=token.pk).revoked_at == first


def test_nobody_revokes_someone_elses_token(signed_in):
    other = f.make_user()
    token, raw = ApiToken.issue(user=other, name="Theirs")
    assert signed_in.post(reverse("api_token_revoke", args=[token.pk])).status_code == 404
    assert ApiToken.find_active(raw) == token
    assert "Theirs" not in signed_in.get(PAGE).content.decode()


def test_revoke_needs_post(signed_in, person):
    token, _ = ApiToken.issue(user=person, name="Kept")
    assert signed_in.get(reverse("api_token_revoke", args=[token.pk])).status_code == 405
    assert ApiToken.objects.get(pk=token.pk).is_active


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(PAGE).status_code == 200
    return len(ctx)


def test_query_count_does_not_grow_with_tokens(signed_in, person):
    ApiToken.issue(user=person, name="first")
    _queries(signed_in)
    small = _queries(signed_in)
    for i in range(10):
        ApiToken.issue(user=person, name=f"token {i}")
    assert _queries(signed_in) == small
