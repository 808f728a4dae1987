"""Issue 15, item 7: small truths found while trying the API as a client.

- ``review_time`` is described as what it is: a local time without an offset.
- Names and titles refuse C0 control characters (but tab and line feed), with a clear error, in
  the services (API and browser alike) and on the forms; multi-line text keeps its line breaks.
- Unsubscribe links live long but not for ever; an expired one says so and leads to the preferences.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import ReminderKind
from accounts.unsubscribe import make_token
from alignment import services
from alignment.models import Objective
from core.errors import InvalidInput
from core.writes import control_character, text
from tests import factories as f
from tests.api_support import ApiClient


def test_review_time_is_described_as_a_local_time_without_an_offset(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    found = [
        (name, props["review_time"])
        for name, component in schema["components"]["schemas"].items()
        for props in [component.get("properties", {})]
        if "review_time" in props
    ]
    assert found, "some component describes review_time"
    for name, prop in found:
        assert prop.get("format") != "time", name  # RFC 3339's time needs an offset; ours has none
        assert prop["type"] == "string" and prop["pattern"].startswith("^"), name
        assert "timezone" in prop["description"], name


def test_review_time_is_sent_as_the_pattern_says(cast, client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    pattern = next(
        c["properties"]["review_time"]["pattern"]
        for c in schema["components"]["schemas"].values()
        if "review_time" in c.get("properties", {})
    )
    body = ApiClient(cast.vendor_admin).get(f"partnerships/{cast.partnership.pk}").json()
    assert re.fullmatch(pattern, body["review_time"]) and body["review_time"] == "10:00:00"


@pytest.mark.parametrize("bad", ["\u0001", "\u001b[31m", "\r", "\x08", "\u000b", "\u001f"])
def test_single_line_text_refuses_c0_controls(bad):
    with pytest.raises(InvalidInput) as refused:
        text(f"Acme{bad}Corp", "name")
    assert "control character" in refused.value.message and refused.value.fields == {
        "name": ["Contains a control character (such as U+0001 or U+001B); remove it."]
    }


@pytest.mark.parametrize("fine", ["Tab\tseparated", "Two\nlines", "Ünïcödé — fine", "emoji 🎯"])
def test_tab_line_feed_and_ordinary_text_pass(fine):
    assert text(fine, "name") == fine.strip()


def test_multi_line_text_keeps_carriage_returns_of_line_breaks():
    assert control_character("one\r\ntwo", multiline=True) is None
    assert control_character("one\r\ntwo") == "U+000D"
    assert control_character("bell\a", multiline=True) == "U+0007"


def test_titles_and_names_refuse_controls_through_the_services(cast):
    editor = cast.access("vendor_editor")
    with pytest.raises(InvalidInput, match="title"):
        services.objective_create(access=editor, title="Grow\u0001", vendor_gain="x", partner_gain="y")
    with pytest.raises(InvalidInput, match=r"U\+001B"):
        services.partnership_create(
            actor=cast.vendor_admin,
            vendor=cast.partnership.vendor,
            partner_name="Evil\u001b[2J Corp",
            partner_type="consulting",
        )
    objective = services.objective_create(
        access=editor, title="Grow", description="First line\r\nsecond line\n\tindented", vendor_gain="x"
    )
    assert Objective.objects.get(pk=objective.pk).description.startswith("First line\r\n")


def test_the_api_answers_a_control_character_with_a_clear_field_error(cast):
    response = ApiClient(cast.vendor_editor).post(
        "objectives",
        {"partnership": str(cast.partnership.pk), "title": "Grow\u0001", "vendor_gain": "a", "partner_gain": "b"},
    )
    assert response.status_code == 400
    assert "control character" in str(response.json()).lower()


def test_profile_names_refuse_controls_on_the_form(client, cast):
    client.force_login(cast.vendor_editor)
    response = client.post("/settings/profile/", {"full_name": "Ed\u0007", "timezone": "UTC"})
    assert response.status_code == 400 and "control character" in response.content.decode()


# --- Unsubscribe links --------------------------------------------------------------------------


def test_unsubscribe_links_work_for_their_life_and_then_lead_to_the_preferences(cast, settings):
    settings.UNSUBSCRIBE_LINK_MAX_AGE_DAYS = 180
    person = cast.partner_viewer
    token = make_token(person, ReminderKind.WEEKLY_DIGEST)
    client = Client()
    with time_machine.travel(timezone.now() + dt.timedelta(days=179)):
        assert client.get(f"/reminders/unsubscribe/{token}/").status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(days=181)):
        page = client.get(f"/reminders/unsubscribe/{token}/")
        assert page.status_code == 410
        body = page.content.decode()
        assert "expired" in body and "/settings/reminders/" in body and "180 days" in body
        assert client.post(f"/reminders/unsubscribe/{token}/").status_code == 410
    person.refresh_from_db()
    assert ReminderKind.WEEKLY_DIGEST not in person.muted_reminder_kinds


def test_the_life_of_unsubscribe_links_is_configurable(cast, settings):
    settings.UNSUBSCRIBE_LINK_MAX_AGE_DAYS = 7
    token = make_token(cast.partner_viewer, ReminderKind.WEEKLY_DIGEST)
    with time_machine.travel(timezone.now() + dt.timedelta(days=8)):
        assert Client().get(f"/reminders/unsubscribe/{token}/").status_code == 410


def test_a_tampered_unsubscribe_link_is_still_invalid_not_expired(cast):
    token = make_token(cast.partner_viewer, ReminderKind.WEEKLY_DIGEST)
    assert Client().get(f"/reminders/unsubscribe/{token[:-3]}abc/").status_code == 400


def test_factories_still_make_people(db):
    assert f.make_user("x@y.test").email == "x@y.test"
