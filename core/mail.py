"""Sending e-mail from templates: ``emails/<name>-subject.txt``, ``-body.txt`` and ``-body.html``.

One small function per e-mail calls ``send_templated``; Celery tasks call those functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def render_email(name: str, context: dict[str, Any]) -> tuple[str, str, str]:
    ctx = {"site_url": settings.SITE_URL} | context
    subject = " ".join(render_to_string(f"emails/{name}-subject.txt", ctx).split())
    text = render_to_string(f"emails/{name}-body.txt", ctx)
    html = render_to_string(f"emails/{name}-body.html", ctx)
    return subject, text, html


def send_templated(
    name: str,
    to: Iterable[str],
    context: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    attachments: Iterable[tuple[str, bytes | str, str]] = (),
    connection: Any = None,
) -> EmailMultiAlternatives:
    """Render and send one e-mail (raises on SMTP errors so the calling task can retry)."""
    subject, text, html = render_email(name, context)
    message = EmailMultiAlternatives(
        subject, text, settings.DEFAULT_FROM_EMAIL, list(to), headers=headers or {}, connection=connection
    )
    message.attach_alternative(html, "text/html")
    for filename, content, mimetype in attachments:
        message.attach(filename, content, mimetype)
    message.send()
    return message
