"""Signed one-click unsubscribe links (and the RFC 8058 headers that carry them).

A link names a person and one reminder kind, signed with ``django.core.signing``: nobody can mute
someone else's reminders or another kind by editing it. Following it mutes that kind only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

from .models import ReminderKind

if TYPE_CHECKING:
    from accounts.models import User

SALT = "partnerplan.reminders.unsubscribe"


def make_token(user: User, kind: str) -> str:
    return signing.dumps({"u": str(user.public_id), "k": kind}, salt=SALT)


def read_token(token: str) -> tuple[User, str]:
    """The person and kind a token names; ``signing.BadSignature`` for anything tampered or stale."""
    from accounts.models import User

    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise
    except Exception as exc:  # a token that verifies but does not decode is just as bad
        raise signing.BadSignature("Malformed unsubscribe token.") from exc
    if not isinstance(data, dict) or data.get("k") not in ReminderKind.values:
        raise signing.BadSignature("Unknown reminder kind.")
    user = User.objects.filter(public_id=data.get("u"), is_active=True).first()
    if user is None:
        raise signing.BadSignature("Unknown person.")
    return user, data["k"]


def unsubscribe_url(user: User, kind: str) -> str:
    return settings.SITE_URL + reverse("reviews:unsubscribe", args=[make_token(user, kind)])


def list_unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 / RFC 8058: mail clients show an unsubscribe button that POSTs to ``url``."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


@transaction.atomic
def mute(user: User, kinds: list[str] | set[str], *, muted: bool = True) -> list[str]:
    """Mute (or unmute) reminder kinds for a person; returns the muted kinds after the change."""
    from accounts.models import User

    locked = User.objects.select_for_update().get(pk=user.pk)
    current = {k for k in (locked.muted_reminder_kinds or []) if isinstance(k, str)}
    wanted = {k for k in kinds if k in ReminderKind.values}
    result = sorted(current | wanted) if muted else sorted(current - wanted)
    if result != sorted(locked.muted_reminder_kinds or []):
        locked.muted_reminder_kinds = result
        locked.save(update_fields=["muted_reminder_kinds"])
    user.muted_reminder_kinds = result
    return result


@transaction.atomic
def set_muted(user: User, kinds: list[str] | set[str]) -> list[str]:
    """Replace a person's muted kinds (the preferences form)."""
    from accounts.models import User

    locked = User.objects.select_for_update().get(pk=user.pk)
    # Kinds muted elsewhere (e.g. ``goals.notifications``' own kind) are not this form's to clear.
    others = {k for k in (locked.muted_reminder_kinds or []) if isinstance(k, str) and k not in ReminderKind.values}
    result = sorted({k for k in kinds if k in ReminderKind.values} | others)
    locked.muted_reminder_kinds = result
    locked.save(update_fields=["muted_reminder_kinds"])
    user.muted_reminder_kinds = result
    return result
