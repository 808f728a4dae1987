"""Which language Partnerplan speaks: a signed-in person's own (``User.language``), else the
browser's (``Accept-Language``), always English in the REST API; e-mails in the recipient's
(an invitation in the inviting person's); and choosing one's language on the settings page.

The German, French and Spanish words asserted here are in the committed catalogues
(``locale/``) or Django's own (month names)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext

from accounts import signup as signups
from accounts.models import CalendarFeed, User
from alignment import invitations as inv
from alignment import services as plan
from alignment.models import Role, Side
from plans.history import translated_summary
from tests import factories as f

pytestmark = pytest.mark.django_db

LANGUAGE_MIDDLEWARE = "accounts.middleware.UserLanguageMiddleware"


def nav_dashboard(response) -> str:  # type: ignore[no-untyped-def]
    """The navigation's first link, in whatever language the page speaks."""
    text = response.content.decode()
    start = text.index('<nav class="nav"')
    link = text.index("<a ", start)
    return text[text.index(">", link) + 1 : text.index("</a>", link)]


# --- Pages ------------------------------------------------------------------------------------


def test_a_person_who_chose_german_reads_german_pages(client, cast):
    User.objects.filter(pk=cast.vendor_admin.pk).update(language="de")
    client.force_login(cast.vendor_admin)
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="fr")  # their choice wins over the browser's
    assert response.status_code == 200
    assert nav_dashboard(response) == "Übersicht"
    assert '<html lang="de">' in response.content.decode()
    assert response["Content-Language"] == "de"


def test_a_person_without_a_language_reads_their_browsers(client, cast):
    client.force_login(cast.vendor_admin)
    assert nav_dashboard(client.get("/", HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9")) == "Panel"
    english = client.get("/", HTTP_ACCEPT_LANGUAGE="ja")  # not offered: English
    assert nav_dashboard(english) == "Dashboard" and english["Content-Language"] == "en"


def test_an_anonymous_page_follows_accept_language_and_says_it_varies_by_it(client):
    german = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    assert german.status_code == 200
    assert german["Content-Language"] == "de"
    assert "Accept-Language" in german["Vary"]
    assert '<html lang="de">' in german.content.decode()
    english = client.get(reverse("login"))
    assert english["Content-Language"] == "en" and '<html lang="en">' in english.content.decode()
    assert "Accept-Language" in english["Vary"]


def test_english_dates_stay_british():
    """As before pages had a language ("en-gb" was the only one): not Django's American "en"."""
    with translation.override("en"):
        assert date_format(dt.date(2026, 3, 3)) == "3 Mar 2026"
        assert date_format(dt.date(2026, 3, 3), "SHORT_DATE_FORMAT") == "03/03/2026"
    with translation.override("de"):
        assert date_format(dt.date(2026, 3, 3)) == "3. März 2026"


def test_the_api_answers_in_english_whatever_the_browser_or_person_says(client, cast):
    User.objects.filter(pk=cast.vendor_admin.pk).update(language="de")
    client.force_login(cast.vendor_admin)
    response = client.get("/api/v1/partnerships/", HTTP_ACCEPT_LANGUAGE="de")
    assert response["Content-Language"] == "en"


def test_the_language_does_not_outlive_the_request(client, cast):
    User.objects.filter(pk=cast.vendor_admin.pk).update(language="fr")
    client.force_login(cast.vendor_admin)
    client.get("/")
    assert translation.get_language() == settings.LANGUAGE_CODE


def test_the_dashboard_runs_the_same_queries_with_the_language_middleware(client, cast):
    User.objects.filter(pk=cast.vendor_admin.pk).update(language="de")
    client.force_login(cast.vendor_admin)
    client.get("/")  # warm the caches the dashboard keeps

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/").status_code == 200
        return len(ctx.captured_queries)

    with_language = count()
    without = [m for m in settings.MIDDLEWARE if m != LANGUAGE_MIDDLEWARE]
    with override_settings(MIDDLEWARE=without):
        client.get("/")  # the English page's caches (the inbox is kept per language)
        assert count() == with_language


def test_the_scripts_read_their_words_from_the_page(client, cast):
    """live.js and htmx-errors.js carry no words: the page hands them its own, translated like the rest."""
    client.force_login(cast.vendor_editor)
    page = client.get(f"/p/{cast.partnership.pk}/").content.decode()
    assert 'data-words-editing="{name} ({side}) is editing {item}"' in page
    assert 'data-words-viewing="{name} ({side}) is viewing the plan"' in page
    assert 'data-words-vendor="vendor"' in page
    assert 'data-words-refused="That did not work ({status}). Reload the page and try again."' in page


def test_a_calendar_feed_is_written_in_its_persons_language(client, cast):
    when = (timezone.now() + dt.timedelta(days=10)).replace(second=0, microsecond=0)
    plan.review_schedule(access=cast.access("vendor_admin"), scheduled_for=when)
    User.objects.filter(pk=cast.vendor_admin.pk).update(language="fr")
    cast.vendor_admin.refresh_from_db()
    _, raw = CalendarFeed.issue(cast.vendor_admin)
    body = client.get(reverse("calendar_feed", args=[raw])).content.decode()  # a calendar app says no language
    unfolded = body.replace("\r\n ", "").replace("\r\n\t", "")  # RFC 5545 folds lines at 75 octets
    with translation.override("fr"):
        agenda = gettext("Agenda: %(url)s").split("%(url)s")[0].strip()
    assert agenda != "Agenda:" and agenda in unfolded and "Agenda:" not in unfolded


def test_the_history_reads_stored_summaries_in_the_readers_language():
    """Summaries are stored in English; the usual ones read in the reader's language, old ones too."""
    stored = "withdrew “Pipeline Q4”"
    assert translated_summary(stored) == stored
    with translation.override("de"):
        assert translated_summary(stored) == "hat “Pipeline Q4” zurückgezogen"
        assert translated_summary("a summary nobody knows") == "a summary nobody knows"


# --- Choosing one's language ------------------------------------------------------------------


def test_the_settings_page_offers_each_language_in_itself(client, cast):
    client.force_login(cast.vendor_admin)
    page = client.get(reverse("user_settings")).content.decode()
    for name in ("Use my browser&#x27;s language", "English", "Deutsch", "Français", "Español"):
        assert name in page


def test_choosing_a_language_saves_it_and_the_next_page_speaks_it(client, cast):
    client.force_login(cast.vendor_admin)
    profile = {"full_name": "Vera Vendor", "timezone": "UTC"}
    response = client.post(reverse("user_profile_save"), profile | {"language": "de"})
    assert response.status_code == 302
    cast.vendor_admin.refresh_from_db()
    assert cast.vendor_admin.language == "de"
    assert nav_dashboard(client.get("/")) == "Übersicht"
    client.post(reverse("user_profile_save"), profile | {"language": ""})  # back to the browser's
    cast.vendor_admin.refresh_from_db()
    assert cast.vendor_admin.language == ""


def test_a_language_not_offered_is_refused_with_a_message_and_nothing_changes(client, cast):
    client.force_login(cast.vendor_admin)
    data = {"full_name": "Someone Else", "timezone": "Europe/Berlin", "language": "klingon"}
    response = client.post(reverse("user_profile_save"), data)
    assert response.status_code == 400
    assert "Select a valid choice. klingon is not one of the available choices." in response.content.decode()
    cast.vendor_admin.refresh_from_db()
    assert (cast.vendor_admin.full_name, cast.vendor_admin.language) == ("Vera Vendor", "")


def test_signing_up_keeps_the_language_the_pages_were_read_in(django_capture_on_commit_callbacks):
    browser = Client(HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.8")
    form = {"organisation": "Acme", "full_name": "Ada", "email": "ada@acme.test", "password": f.PASSWORD}
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post("/accounts/signup/", form).status_code == 302
    assert mail.outbox[-1].body.startswith("Bonjour Ada,")  # the link goes out in the page's language
    link = mail.outbox[-1].body.split("http://testserver", 1)[1].split()[0]
    assert browser.post(link).status_code == 302
    assert User.objects.get(email="ada@acme.test").language == "fr"


def test_accepting_an_invitation_keeps_the_language_unless_one_was_chosen(client, cast):
    _, raw = inv.invitation_create(
        access=cast.access("vendor_admin"), email="newbie@partner.test", side=Side.PARTNER, role=Role.EDITOR
    )
    new_person = {"full_name": "Nina", "password": f.PASSWORD, "password_again": f.PASSWORD}
    url = reverse("invitation-accept", args=[raw])
    assert client.post(url, new_person, HTTP_ACCEPT_LANGUAGE="es").status_code == 302
    assert User.objects.get(email="newbie@partner.test").language == "es"

    chosen = f.make_user("chosen@partner.test", language="de")
    _, raw = inv.invitation_create(
        access=cast.access("vendor_admin"), email=chosen.email, side=Side.PARTNER, role=Role.VIEWER
    )
    client.force_login(chosen)
    assert client.post(reverse("invitation-accept", args=[raw]), HTTP_ACCEPT_LANGUAGE="fr").status_code == 302
    chosen.refresh_from_db()
    assert chosen.language == "de"


# --- E-mails ----------------------------------------------------------------------------------


def test_an_e_mail_to_a_french_person_is_written_in_french(django_capture_on_commit_callbacks):
    f.make_user("claire@acme.test", full_name="Claire", language="fr")
    with django_capture_on_commit_callbacks(execute=True):
        signups.signup_request(organisation="Acme", email="claire@acme.test", password=f.PASSWORD)
    message = mail.outbox[-1]
    html = message.alternatives[0][0]
    assert message.body.startswith("Bonjour Claire,") and "Bonjour Claire," in html
    assert translation.get_language() == settings.LANGUAGE_CODE  # the override ended with the e-mail


def test_an_e_mail_to_a_person_without_a_language_is_english(django_capture_on_commit_callbacks):
    f.make_user("eve@acme.test", full_name="Eve")
    with translation.override("de"), django_capture_on_commit_callbacks(execute=True):
        signups.signup_request(organisation="Acme", email="eve@acme.test", password=f.PASSWORD)
    assert mail.outbox[-1].body.startswith("Hello Eve,")


def test_an_invitation_is_written_in_the_inviting_persons_language(cast, django_capture_on_commit_callbacks):
    """The invited address has no account, so no language of its own: the inviter's it is."""
    User.objects.filter(pk=cast.vendor_admin.pk).update(language="de")
    cast.vendor_admin.refresh_from_db()
    day = dt.datetime(2026, 2, 20, 9, tzinfo=dt.UTC)  # the link expires in March: "März"
    with time_machine.travel(day, tick=False), django_capture_on_commit_callbacks(execute=True):
        invitation, _ = inv.invitation_create(
            access=cast.access("vendor_admin"), email="newbie@partner.test", side=Side.PARTNER, role=Role.EDITOR
        )
    body = mail.outbox[-1].body
    assert body.startswith("Hallo,")
    with translation.override("de"):
        until = date_format(invitation.expires_at, "j F Y")
    assert until.split()[1] == "März" and until in body
