"""E-mail to a person: every message the outbox sends to someone with an account carries a signed
one-click link that mutes its kind (RFC 8058 headers included) and a link to their preferences."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from core import outbox
from core.models import OutboxMessage

from .models import ReminderKind
from .unsubscribe import list_unsubscribe_headers, unsubscribe_url


def send_to_person(
    name: str,
    row: OutboxMessage,
    context: dict[str, Any],
    *,
    attachments: tuple[tuple[str, bytes | str, str], ...] = (),
) -> bool:
    """Send the outbox row ``row`` (to a person) from the templates ``emails/<name>-…``."""
    user = row.recipient
    if user is None:
        raise ValueError("send_to_person needs a row with a recipient")
    mute_kind = outbox.SENDERS[row.kind].mute_kind
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {
        "user": user,
        "recipient": user,
        "preferences_url": settings.SITE_URL + reverse("reviews:preferences"),
    }
    if mute_kind is not None:
        link = unsubscribe_url(user, mute_kind)
        headers = list_unsubscribe_headers(link)
        extra |= {"unsubscribe_url": link, "kind_label": ReminderKind(mute_kind).label}
    return outbox.send_row(name, row, extra | context, headers=headers, attachments=attachments)
