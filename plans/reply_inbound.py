"""Replies by e-mail from hosted mail providers, through django-anymail's inbound webhooks.

Each provider's view checks the provider's proof before anything is read (Mailgun: the HMAC of
timestamp and token with the webhook signing key; Postmark and SendGrid: the basic-auth secret in
the webhook URL) and sends anymail's ``inbound`` signal, which ``inbound_received`` turns into a
call of the same service as the SMTP listener, ``plans.replies.receive``.

A provider is mounted only when its secret is set (``settings.ANYMAIL``) and replies are on
(``REPLY_DOMAIN``); otherwise its URL answers 404. A body larger than ``REPLY_MAX_BYTES`` is refused
with 413 before it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anymail.webhooks.mailgun import MailgunInboundWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from anymail.webhooks.sendgrid import SendGridInboundWebhookView
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt

from accounts.reply_address import domain

from .replies import max_bytes, receive

# The provider, its anymail view, and the setting that holds the secret its requests are checked with.
PROVIDERS: dict[str, tuple[Any, str]] = {
    "mailgun": (MailgunInboundWebhookView, "MAILGUN_WEBHOOK_SIGNING_KEY"),
    "postmark": (PostmarkInboundWebhookView, "WEBHOOK_SECRET"),
    "sendgrid": (SendGridInboundWebhookView, "WEBHOOK_SECRET"),
}


def configured(provider: str) -> bool:
    secret = PROVIDERS[provider][1]
    return bool(domain()) and bool((getattr(settings, "ANYMAIL", None) or {}).get(secret))


def inbound_received(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """anymail's ``inbound`` signal: one message, already authenticated, to ``plans.replies``."""
    message = event.message
    if message.envelope_recipient:
        recipients = [str(message.envelope_recipient)]
    else:
        recipients = [a.addr_spec for a in [*message.to, *message.cc]]
    receive(recipients=recipients, sender=message.envelope_sender, message=message)


def _inbound_view(provider: str) -> Callable[..., HttpResponse]:
    view = PROVIDERS[provider][0].as_view()

    @csrf_exempt
    def inbound(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not configured(provider):
            raise Http404("Replies by e-mail through this provider are not set up.")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > max_bytes():
            return HttpResponse(
                f"The message is larger than {max_bytes()} bytes.", status=413, content_type="text/plain"
            )
        response: HttpResponse = view(request, *args, **kwargs)
        return response

    return inbound


urlpatterns: list[URLPattern] = [
    path("mailgun/inbound/", _inbound_view("mailgun"), name="inbound_mailgun"),
    path("mailgun/inbound_mime/", _inbound_view("mailgun"), name="inbound_mailgun_mime"),
    path("postmark/inbound/", _inbound_view("postmark"), name="inbound_postmark"),
    path("sendgrid/inbound/", _inbound_view("sendgrid"), name="inbound_sendgrid"),
]
