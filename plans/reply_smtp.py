"""The SMTP listener for replies by e-mail, for installations without a hosted mail provider: the MX
of ``REPLY_DOMAIN`` points at it (``manage.py receive_replies``). Each accepted message goes to the
same service as the providers' webhooks, ``plans.replies.receive``.

It accepts RCPT TO only at ``REPLY_DOMAIN`` (550 otherwise: it relays nothing), refuses mail larger
than ``REPLY_MAX_BYTES`` (552, by aiosmtpd's ``data_size_limit``), and answers 451 when the service
fails for a reason that may pass (the database is down), so the sending server tries again later.
"""

from __future__ import annotations

import logging
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from asgiref.sync import sync_to_async
from django.db import close_old_connections

from accounts.reply_address import is_reply_domain

from .replies import max_bytes, receive

log = logging.getLogger(__name__)


def _receive(recipients: list[str], sender: str, content: bytes) -> str:
    """Parse and hand over one message (in a worker thread: the ORM is synchronous)."""
    close_old_connections()
    try:
        message: Message = BytesParser(policy=policy.default).parsebytes(content)
        return receive(recipients=recipients, sender=sender, message=message).outcome
    finally:
        close_old_connections()


class ReplyHandler:
    """aiosmtpd's handler: the envelope's checks, then the message to ``plans.replies``."""

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not is_reply_domain(address):
            return "550 5.1.1 Not a reply address of this Partnerplan"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        try:
            outcome = await sync_to_async(_receive, thread_sensitive=False)(
                list(envelope.rcpt_tos), envelope.mail_from or "", content
            )
        except Exception:  # the sending server keeps the message and tries again
            log.exception("reply by e-mail: could not be received now")
            return "451 4.3.0 Could not take the message now; try again later"
        log.info("reply by e-mail received: %s", outcome)
        return "250 2.0.0 Message accepted"


def controller(host: str, port: int, **smtp: Any) -> Controller:
    """An SMTP server (in its own thread once started) that feeds ``ReplyHandler``."""
    return Controller(
        ReplyHandler(),
        hostname=host,
        port=port,
        data_size_limit=max_bytes(),
        ident="Partnerplan replies",
        **smtp,
    )
