"""The e-mails of the joint-plan layer: a webhook turned off after failing deliveries
(``plans.webhook_delivery.disable``), to each admin of its organisation; a chat channel turned
off (``plans.chat.disable``), to its owner; and the notice that a reply by e-mail was not posted
(``plans.replies``), to the address it came from."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from accounts.emails import send_to_person
from core import outbox
from core.models import MailKind, OutboxMessage

from .models import ChatChannel, WebhookSubscription


@outbox.sender(MailKind.WEBHOOK_DISABLED)
def webhook_disabled_email(row: OutboxMessage) -> bool:
    """Tell an admin which webhook was turned off and why; nothing if it is on again or gone."""
    subscription = (
        WebhookSubscription.objects.select_related("organisation").filter(pk=row.subject_id, is_active=False).first()
    )
    if subscription is None or row.recipient is None:
        return False
    url = settings.SITE_URL + reverse("webhook_detail", args=[subscription.organisation_id, subscription.pk])
    return send_to_person(
        "webhook-disabled",
        row,
        {"subscription": subscription, "organisation": subscription.organisation, "url": url},
    )


@outbox.sender(MailKind.CHAT_CHANNEL_DISABLED)
def chat_channel_disabled_email(row: OutboxMessage) -> bool:
    """Tell a chat channel's owner it was turned off and why; nothing if it is on again or gone."""
    channel = ChatChannel.objects.select_related("partnership").filter(pk=row.subject_id, is_active=False).first()
    if channel is None or row.recipient is None:
        return False
    url = settings.SITE_URL + reverse("chat_channel", args=[channel.partnership_id, channel.pk])
    return send_to_person(
        "chat-channel-disabled",
        row,
        {"channel": channel, "partnership": channel.partnership, "url": url},
    )


@outbox.sender(MailKind.REPLY_REFUSED)
def reply_refused_email(row: OutboxMessage) -> bool:
    """Tell the sender of a reply by e-mail that it was not posted, and why, in one line. Marked as
    an automatic answer, so their mail system does not answer it in turn."""
    return outbox.send_row(
        "reply-refused",
        row,
        {"reason": row.context.get("reason", ""), "site_url": settings.SITE_URL},
        headers={"Auto-Submitted": "auto-replied"},
    )
