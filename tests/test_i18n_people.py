"""The pages around the plan (sign-in and sign-up, the dashboard, settings, invitations, reminders,
action links, chat channels, webhooks, refusals) and every e-mail speak the reader's language: every
word of their templates is marked for translation, an e-mail says which language it is written in,
and the sentences Partnerplan writes in Python name sides in the active language.

A word is "translated" here through a German catalogue entry added for the test (the ``german``
fixture of ``tests.test_i18n_plan_pages``), so the tests do not depend on the shipped catalogues.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.utils import timezone, translation

from alignment.invitation_sides import SideMismatch
from core.mail import render_email
from tests.test_i18n_plan_pages import CatalogueEntries, german, unmarked_words

__all__ = ["german"]  # the fixture, used by name below

TEMPLATES = Path(settings.BASE_DIR) / "templates"
AREAS = ("dashboard", "registration", "settings", "invitations", "reminders", "actions", "chat", "webhooks", "errors")
PEOPLE_TEMPLATES = sorted(
    [path for area in AREAS for path in (TEMPLATES / area).iterdir() if path.suffix in (".html", ".txt")]
    + list((TEMPLATES / "emails").iterdir())
)


@pytest.mark.parametrize("path", PEOPLE_TEMPLATES, ids=[str(p.relative_to(TEMPLATES)) for p in PEOPLE_TEMPLATES])
def test_every_word_of_the_pages_and_emails_around_the_plan_is_marked_for_translation(path: Path) -> None:
    assert unmarked_words(path.read_text()) == []


def signup_existing() -> tuple[str, str, str]:
    person = SimpleNamespace(display_name="Ada Lovelace", email="ada@vendor.test")
    return render_email("signup-existing", {"user": person, "login_url": "/login/", "reset_url": "/reset/"})


def test_an_email_is_written_and_labelled_in_the_active_language(german: CatalogueEntries) -> None:
    german["Someone tried to sign up for Partnerplan with your address"] = (
        "Jemand wollte sich mit Ihrer Adresse bei Partnerplan registrieren"
    )
    german["Hello %(name)s,"] = "Hallo %(name)s,"
    subject, text, html = signup_existing()
    assert subject == "Jemand wollte sich mit Ihrer Adresse bei Partnerplan registrieren"
    assert text.startswith("Hallo Ada Lovelace,\n")
    assert '<html lang="de">' in html and "<p>Hallo Ada Lovelace,</p>" in html


def test_the_english_email_stays_as_it_was() -> None:
    with translation.override("en"):
        subject, text, html = signup_existing()
    assert subject == "Someone tried to sign up for Partnerplan with your address"
    assert text.startswith("Hello Ada Lovelace,\n\nsomeone tried to sign up for Partnerplan with your address, ")
    assert '<html lang="en">' in html


def test_a_reminder_built_on_the_shared_layout_says_its_language(german: CatalogueEntries) -> None:
    german["Alignment review not recorded"] = "Abstimmungstermin nicht erfasst"
    context = {
        "user": SimpleNamespace(display_name="Ada"),
        "partnership": SimpleNamespace(name="Acme × Beta"),
        "local_time": timezone.now(),
        "partnership_zone": "Europe/Berlin",
        "review_url": "/r/",
        "kind_label": "An alignment review was not recorded",
        "unsubscribe_url": "/u/",
        "preferences_url": "/p/",
    }
    _subject, _text, html = render_email("review-overdue", context)
    assert '<html lang="de">' in html
    assert "<title>Abstimmungstermin nicht erfasst</title>" in html


def test_a_side_mismatch_is_explained_in_the_active_language_with_its_side_words(german: CatalogueEntries) -> None:
    german["side, in a sentence\x04vendor"] = "Anbieter"
    german["side, in a sentence\x04partner"] = "Partner"
    german[
        "%(email)s looks like an address of %(organisation)s, the %(side)s: %(why)s. Invite them to the "
        "%(side)s side, or confirm that they join %(chosen)s, the %(chosen_side)s side, anyway."
    ] = "%(email)s gehört wohl zu %(organisation)s (%(side)s): %(why)s. Trotzdem zu %(chosen)s (%(chosen_side)s)?"
    partnership = SimpleNamespace(organisation_for=lambda side: SimpleNamespace(name="Beta GmbH"))
    mismatch = SideMismatch(SimpleNamespace(name="Acme Cloud"), "vendor", "ihre Leute nutzen acme.test")  # type: ignore[arg-type]
    message = mismatch.message("kim@acme.test", "partner", partnership)  # type: ignore[arg-type]
    assert message == (
        "kim@acme.test gehört wohl zu Acme Cloud (Anbieter): ihre Leute nutzen acme.test. "
        "Trotzdem zu Beta GmbH (Partner)?"
    )
