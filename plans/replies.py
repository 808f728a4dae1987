"""Replies by e-mail: an answer to a goal, negotiation or review e-mail becomes the person's comment
on that goal or review.

Every such e-mail carries ``Reply-To: reply+<token>@REPLY_DOMAIN``, the token binding the recipient
to the object (``accounts.reply_address``). Both ways mail comes in, a hosted provider's inbound
webhook (django-anymail, ``plans.reply_inbound``) and the SMTP listener of ``manage.py
receive_replies`` (``plans.reply_smtp``), hand each message to ``receive``, which:

1. ignores mail not sent to a reply address, and every automatic message (Auto-Submitted other than
   "no", Precedence bulk/junk/list, a null or MAILER-DAEMON sender): answering an out-of-office
   notice or a bounce could start a loop;
2. takes each message once: its Message-ID (hashed) is stored with a unique constraint in the same
   transaction as the comment, so a provider retrying its webhook, or the same mail arriving twice,
   posts one comment;
3. posts only when the token is genuine, the From address is the bound person's (any case) and the
   person may still see the plan; otherwise nothing is posted and the sender gets a short notice
   (``REPLY_REFUSED``, at most one per address and hour: the outbox's unique key is the hour);
4. keeps only the new text: quoted text and signatures are cut by mail-parser-reply (English,
   German, French and Spanish reply headers and sign-offs), the plain text part preferred, else the
   HTML turned into text. Nothing left, nothing posted;
5. posts through the same services as the pages and the API (``goals.comments.comment_create``,
   ``alignment.review_comments.review_comment_create``) with the person's access: the comment is
   theirs, in the change feed and the history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from mailparser_reply import EmailReplyParser

from accounts.models import User
from accounts.reply_address import ReplyTarget, read_token, token_of
from alignment.access import Access, resolve
from alignment.models import AlignmentReview
from alignment.review_comments import review_comment_create
from core import outbox
from core.errors import DomainError
from core.models import MailKind
from goals.comments import comment_create
from goals.models import Goal

from .models import InboundReply

log = logging.getLogger(__name__)

LANGUAGES = ["en", "de", "fr", "es"]
MAX_BODY = 10000  # a comment's length (goals.models.Comment.body, alignment.models.ReviewComment.body)


class Refusal:
    """Why a reply was not posted (the reason the notice to its sender gives)."""

    UNKNOWN = "unknown"  # not a token of this installation, or the goal or review is gone
    SENDER = "sender"  # From is not the address the reply address was made for
    ACCESS = "access"  # the person may no longer see the plan


@dataclass(frozen=True)
class Received:
    """What became of one message: ``outcome`` is ``InboundReply.Outcome`` or ``not_for_us``,
    ``automatic`` or ``duplicate``."""

    outcome: str
    comment: Any = None
    refusal: str = ""


# --- Reading a message ------------------------------------------------------------------------


def address_of(value: str | None) -> str:
    """The bare address of a From header or an envelope sender, lower case ("" if none)."""
    return parseaddr(value or "")[1].strip().lower()


def is_automatic(message: Message, sender: str | None) -> bool:
    """Auto-replies, bounces and list mail (RFC 3834): never answered, never posted. ``sender`` is
    the envelope sender: "" for the null sender of a bounce, None when the transport does not say."""
    auto = str(message.get("Auto-Submitted", "") or "").strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return True
    if str(message.get("Precedence", "") or "").strip().lower() in {"bulk", "junk", "list"}:
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    if sender is not None and not address_of(sender):  # the null sender ("<>") of a bounce
        return True
    for who in (address_of(sender) if sender else "", address_of(str(message.get("From", "") or ""))):
        if who.split("@")[0] in {"mailer-daemon", "postmaster"}:
            return True
    return not address_of(str(message.get("From", "") or ""))


def message_key(message: Message) -> str:
    """What makes two copies of one message the same: its Message-ID, else its whole content."""
    message_id = str(message.get("Message-ID", "") or "").strip()
    raw = message_id.encode() if message_id else message.as_bytes()
    return hashlib.sha256(raw).hexdigest()


class _HtmlText(HTMLParser):
    """HTML to plain text for a reply: paragraphs and line breaks kept, quoted parts (blockquote,
    Gmail's and Outlook's quote containers), scripts and styles left out."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"})
    SKIP = frozenset({"script", "style", "head", "title", "blockquote"})
    QUOTE_CLASSES = ("gmail_quote", "moz-cite-prefix", "yahoo_quoted")
    VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "wbr", "area", "base", "col", "source"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []  # open tags inside a skipped element

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = " ".join(v or "" for k, v in attrs if k == "class")
        ident = " ".join(v or "" for k, v in attrs if k == "id")
        if self.skipping:
            if tag not in self.VOID:
                self.skipping.append(tag)
            return
        if tag in self.SKIP or any(c in classes for c in self.QUOTE_CLASSES) or ident == "divRplyFwdMsg":
            if tag not in self.VOID:
                self.skipping.append(tag)
            return
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag in self.skipping:
                while self.skipping and self.skipping.pop() != tag:
                    pass
            return
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [re.sub(r"[ \t\xa0]+", " ", line).strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _part_text(message: Message, subtype: str) -> str | None:
    if not isinstance(message, EmailMessage):
        return None
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, KeyError):
        return None
    return content if isinstance(content, str) else None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _without_quotes(lines: list[str]) -> list[str]:
    """Drop quoted lines the parser kept (a reply quoting without a header it knows), and the
    attribution line just above them ("El lun, 1 mar 2027, Ed <ed@…> escribió:")."""
    kept: list[str] = []
    for line in lines:
        if line.lstrip().startswith(">"):
            while kept and not kept[-1].strip():
                kept.pop()
            if kept and kept[-1].rstrip().endswith(":") and re.search(r"@|\d", kept[-1]):
                kept.pop()
            continue
        kept.append(line.rstrip())
    return kept


def reply_text(message: Message) -> str:
    """The new text of a reply: quoted text and signatures cut, plain text preferred to HTML."""
    text = _part_text(message, "plain")
    if text is None or not text.strip():
        html = _part_text(message, "html")
        text = html_to_text(html) if html else ""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    replies = EmailReplyParser(languages=LANGUAGES).read(text).replies
    body = replies[0].body if replies else ""
    body = "\n".join(_without_quotes(body.splitlines())).strip()
    if len(body) > MAX_BODY:
        body = body[: MAX_BODY - 1].rstrip() + "…"
    return body


# --- Receiving --------------------------------------------------------------------------------


def _reply_token(recipients: Iterable[str]) -> str | None:
    for recipient in recipients:
        for _name, address in getaddresses([recipient]):
            token = token_of(address)
            if token:
                return token
    return None


def _partnership_of(target: ReplyTarget) -> Any:
    model = Goal if target.kind == "goal" else AlignmentReview
    return model.objects.filter(pk=target.object_id).values_list("partnership_id", flat=True).first()


def _access(target: ReplyTarget | None, from_address: str) -> tuple[Access, ReplyTarget] | str:
    """The bound person's access to the object's plan now, or why the reply is refused."""
    if target is None:
        return Refusal.UNKNOWN
    partnership_id = _partnership_of(target)
    person = User.objects.filter(pk=target.user_id).first()
    if partnership_id is None or person is None:
        return Refusal.UNKNOWN
    if person.email.strip().lower() != from_address:
        return Refusal.SENDER
    try:
        return resolve(person, partnership_id), target
    except DomainError:
        return Refusal.ACCESS


def _post(access: Access, target: ReplyTarget, body: str) -> Any:
    if target.kind == "goal":
        return comment_create(access=access, goal_id=target.object_id, body=body)
    return review_comment_create(access=access, review_id=target.object_id, body=body)


def queue_refusal(address: str, reason: str, now: dt.datetime | None = None) -> None:
    """A short notice to whoever sent a reply that was not posted: at most one per address and
    hour (the hour is the outbox row's occurrence, so the unique key drops the rest)."""
    now = now or timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    outbox.queue(
        [
            outbox.Message(
                MailKind.REPLY_REFUSED,
                "address",
                hashlib.sha256(address.encode()).hexdigest(),
                hour,
                to_email=address,
                context={"reason": reason},
            )
        ],
        now=now,
    )


def receive(*, recipients: Iterable[str], sender: str | None, message: Message) -> Received:
    """Turn one inbound message into a comment, or refuse it (see the module's docstring).

    ``recipients``: the envelope recipients (or the To and Cc addresses when the transport does not
    give the envelope); ``sender``: the envelope sender ("" for the null sender, None if unknown)."""
    token = _reply_token(recipients)
    if token is None:
        return Received("not_for_us")
    if is_automatic(message, sender):
        log.info("reply by e-mail ignored: an automatic message")
        return Received("automatic")
    from_address = address_of(str(message.get("From", "") or ""))
    with transaction.atomic():
        record = InboundReply(message_key=message_key(message), outcome=InboundReply.Outcome.REFUSED)
        try:
            with transaction.atomic():
                record.save(force_insert=True)
        except IntegrityError:
            return Received("duplicate")
        found = _access(read_token(token), from_address)
        if isinstance(found, str):
            return _refuse(record, from_address, found)
        access, target = found
        body = reply_text(message)
        if not body:
            record.outcome = InboundReply.Outcome.EMPTY
            record.save(update_fields=["outcome"])
            return Received(record.outcome)
        try:
            comment = _post(access, target, body)
        except DomainError as exc:  # the goal or review went away meanwhile
            log.info("reply by e-mail refused: %s", exc)
            return _refuse(record, from_address, Refusal.UNKNOWN)
        record.outcome, record.kind, record.comment_id = InboundReply.Outcome.POSTED, target.kind, comment.pk
        record.save(update_fields=["outcome", "kind", "comment_id"])
        return Received(record.outcome, comment=comment)


def _refuse(record: InboundReply, from_address: str, reason: str) -> Received:
    log.info("reply by e-mail refused (%s)", reason)
    queue_refusal(from_address, reason)
    return Received(record.outcome, refusal=reason)


# How long a received message is remembered to take it once: providers retry a webhook for hours,
# SMTP servers a message for days; the same Message-ID a month later is a new mistake, not a retry.
KEEP_RECEIVED = dt.timedelta(days=30)


def prune_received(now: dt.datetime | None = None) -> int:
    """Forget the messages received longer ago than ``KEEP_RECEIVED``; returns how many."""
    now = now or timezone.now()
    deleted, _ = InboundReply.objects.filter(received_at__lt=now - KEEP_RECEIVED).delete()
    return deleted


@shared_task(name="plans.prune_inbound_replies")  # type: ignore[untyped-decorator]
def prune_inbound_replies() -> int:
    return prune_received()


def max_bytes() -> int:
    """Inbound mails larger than this are refused by both transports."""
    return int(getattr(settings, "REPLY_MAX_BYTES", 5 * 1024 * 1024))
