"""The digest in each person's language: English, German, French and Spanish, words, dates and
subject (the translations come from the catalogues that tests/test_translations.py keeps complete)."""

from __future__ import annotations

import pytest
from django.utils import translation
from django.utils.translation import gettext

from accounts.models import User
from tests.test_digest_local_time import digest_to, send, utc, week  # noqa: F401  (fixtures)

HEADINGS = ("Waiting for your side:", "What changed:", "Due this week:", "Open the plan:")
JUNE = {"en": "June", "de": "Juni", "fr": "juin", "es": "junio"}


@pytest.mark.parametrize("language", ["en", "de", "fr", "es"])
def test_the_digest_speaks_the_persons_language(cast, week, send, language):
    User.objects.filter(pk=cast.partner_approver.pk).update(language=language)
    send(utc(2027, 7, 4, 22, 5))  # Monday 5 July, 08:05 in Sydney
    message = digest_to(cast.partner_approver)
    with translation.override(language):
        subject = gettext("Your week in Partnerplan")
        headings = [gettext(h) for h in HEADINGS]
    assert message.subject == subject
    for heading in headings:
        assert heading in message.body
    html = message.alternatives[0][0]
    assert f'lang="{language}"' in html and headings[0] in html
    # Dates in the person's language: the changes are counted since Monday 28 June.
    assert JUNE[language] in message.body
    if language != "en":
        assert subject != "Your week in Partnerplan"
        for english in HEADINGS:
            assert english not in message.body
