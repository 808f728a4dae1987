"""Signed one-click unsubscribe links (and the RFC 8058 headers that carry them).

A link names a person and one kind of e-mail, signed with ``django.core.signing``: nobody can mute
someone else's e-mail or another kind by editing it. Following it mutes that kind only
(``accounts.services.mute``).

A link lives long (``UNSUBSCRIBE_LINK_MAX_AGE_DAYS``, 180 days by default: an old reminder found in
an archive still works) but not for ever: a link that leaked once does not mute someone's e-mail
years later. An expired link says so and leads to the preferences page (``read_token`` raises
``signing.SignatureExpired``, a ``BadSignature`` of its own).
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from django.conf import settings
from django.core import signing
from django.urls import reverse

from .models import ReminderKind, User

SALT = "partnerplan.reminders.unsubscribe"


def max_age() -> dt.timedelta:
    return dt.timedelta(days=int(getattr(settings, "UNSUBSCRIBE_LINK_MAX_AGE_DAYS", 180)))


def make_token(user: User, kind: str) -> str:
    return signing.dumps({"u": str(user.public_id), "k": kind}, salt=SALT)


def read_token(token: str) -> tuple[User, str]:
    """The person and kind a token names; ``signing.SignatureExpired`` for a link older than
    ``max_age()``, ``signing.BadSignature`` for anything else tampered or stale."""
    try:
        data = signing.loads(token, salt=SALT, max_age=max_age())
    except signing.BadSignature:  # SignatureExpired included
        raise
    except Exception as exc:  # a token that verifies but does not decode is just as bad
        raise signing.BadSignature("Malformed unsubscribe token.") from exc
    if not isinstance(data, dict) or data.get("k") not in ReminderKind.values:
        raise signing.BadSignature("Unknown reminder kind.")
    # Signed, so made by ``make_token``: "u" is the text of a public id.
    user = User.objects.filter(public_id=cast(str, data.get("u")), is_active=True).first()
    if user is None:
        raise signing.BadSignature("Unknown person.")
    return user, data["k"]


def unsubscribe_url(user: User, kind: str) -> str:
    return cast(str, settings.SITE_URL) + reverse("reviews:unsubscribe", args=[make_token(user, kind)])


def list_unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 / RFC 8058: mail clients show an unsubscribe button that POSTs to ``url``."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
