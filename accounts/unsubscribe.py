"""Signed one-click unsubscribe links (and the RFC 8058 headers that carry them).

A link names a person and one kind of e-mail, signed with ``django.core.signing``: nobody can mute
someone else's e-mail or another kind by editing it. Following it mutes that kind only
(``accounts.services.mute``).
"""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.core import signing
from django.urls import reverse

from .models import ReminderKind, User

SALT = "partnerplan.reminders.unsubscribe"


def make_token(user: User, kind: str) -> str:
    return signing.dumps({"u": str(user.public_id), "k": kind}, salt=SALT)


def read_token(token: str) -> tuple[User, str]:
    """The person and kind a token names; ``signing.BadSignature`` for anything tampered or stale."""
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
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
