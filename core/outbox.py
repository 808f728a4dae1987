"""The one way Partnerplan sends e-mail: an outbox row per message, claimed before it is sent.

1. Whoever decides that a message is due (a service in the same transaction as its change, or a
   periodic sweep) calls ``queue`` with ``Message`` values. It inserts one ``OutboxMessage`` per
   (kind, subject, occurrence, recipient) with ``ignore_conflicts``: the unique constraint makes a
   caller that runs twice, or two running at once, insert each message once between them. Muted
   kinds and inactive people get no row.
2. Only the rows really inserted are enqueued, by id, after the transaction commits (a rolled-back
   change enqueues nothing; a broker that is down fails nobody: the rows stay pending), one task
   message per row, ``ENQUEUE_BATCH`` of them per round trip to Redis (``core.taskbase``).
3. ``deliver`` claims the row with one conditional UPDATE (pending → sending, or a ``sending``
   claim older than ``CLAIM_TIMEOUT``) and sends only if it won the row. A second copy of the task,
   a retried sweep or a redelivered message finds the row claimed or sent and does nothing. No
   cache is involved, so flushing the cache cannot let a message out twice.
4. The row carries ids, never a secret: each kind's sender (registered with ``sender``) loads what
   it needs, checks the message is still due, and renders the e-mail, links included.
5. Every sender runs in the recipient's language (``language_of``): the person's ``language``, or
   for an address without an account the language its ``Message`` named (an invitation: the
   inviting person's), else English. Subject, text, HTML, dates and numbers all follow it.

Why a worker killed mid-send does not send twice: tasks run with ``acks_late`` and
``reject_on_worker_lost``, so the broker hands the message to another worker when one dies. That
copy finds the row ``sending`` with a fresh claim and stops. Only when the claim is older than
``CLAIM_TIMEOUT`` (the first worker is certainly gone: the SMTP conversation has a 30 second
timeout and the task a 3 minute hard limit) does ``requeue_stuck`` re-enqueue the row and a worker
reclaim it. The one window left open is a worker that dies after the SMTP server accepted the
message but before the row is marked sent; the resend then carries the same ``Message-ID`` so
mail clients show it once.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation

from .mail import send_templated
from .models import MailKind, OutboxMessage
from .taskbase import TransactionAwareTask

log = logging.getLogger(__name__)

Status = OutboxMessage.Status
CLAIM_TIMEOUT = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 6
SMTP_TIMEOUT_SECONDS = 30


def backoff(attempts: int) -> int:
    """Seconds before the next try after ``attempts`` tries: 1, 2, 4 … minutes, at most an hour."""
    return int(min(60 * 2 ** max(attempts - 1, 0), 3600))


# --- Senders ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    """How one kind of e-mail is sent. ``send`` returns False, sending nothing, when the message is
    no longer due (a review held meanwhile, a link replaced); it raises on SMTP errors.
    ``mute_kind`` is the preference (``accounts.models.ReminderKind``) that silences it, if any."""

    send: Callable[[OutboxMessage], bool]
    mute_kind: str | None


SENDERS: dict[str, Sender] = {}


def sender(kind: str, *, mute_kind: str | None = None) -> Callable[[Callable[[OutboxMessage], bool]], Any]:
    """Register the function that sends ``kind`` (each app registers its e-mails when it is ready)."""
    if kind not in MailKind.values:
        raise ValueError(f"Unknown kind of e-mail {kind!r}: add it to core.models.MailKind")

    def register(send: Callable[[OutboxMessage], bool]) -> Callable[[OutboxMessage], bool]:
        SENDERS[kind] = Sender(send, mute_kind)
        return send

    return register


def message_id(row: OutboxMessage) -> str:
    """The same ``Message-ID`` on every attempt: a resend after a crash is one message to the client."""
    return f"<reminder-{row.pk}@{urlparse(settings.SITE_URL).hostname or 'partnerplan'}>"


def send_row(
    name: str,
    row: OutboxMessage,
    context: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    attachments: tuple[tuple[str, bytes | str, str], ...] = (),
) -> bool:
    """Render the templates ``emails/<name>-…`` and send them to the row's recipient, with the
    row's ``Message-ID``, over an SMTP conversation bounded in time (a send never outlives the
    row's claim). Raises on SMTP errors, which ``deliver`` records and retries."""
    to = row.recipient.email if row.recipient is not None else row.to_email
    headers = {"Message-ID": message_id(row), "Auto-Submitted": "auto-generated"} | (headers or {})
    connection = get_connection(timeout=SMTP_TIMEOUT_SECONDS)
    send_templated(name, [to], context, headers=headers, attachments=attachments, connection=connection)
    return True


# --- Queueing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One e-mail that should exist in the outbox: to a person (``recipient_id``) or, for someone
    without an account, to an address (``to_email``), then in ``language`` (a person is written to
    in their own)."""

    kind: str
    subject_type: str
    subject_id: str
    occurrence: dt.datetime
    recipient_id: int | None = None
    to_email: str = ""
    partnership_id: Any = None
    context: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    language: str = field(default="", compare=False, hash=False)

    @property
    def row_context(self) -> dict[str, Any]:
        return self.context | ({LANGUAGE_KEY: self.language} if self.language else {})

    @property
    def recipient_key(self) -> str:
        return OutboxMessage.key_for(recipient_id=self.recipient_id, email=self.to_email)

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.subject_type, self.subject_id, self.occurrence, self.recipient_key)


def _wanted(messages: list[Message]) -> list[Message]:
    """Leave out messages to inactive people and kinds they muted."""
    ids = {m.recipient_id for m in messages if m.recipient_id is not None}
    people = {
        pk: (active, set(muted or []))
        for pk, active, muted in get_user_model()
        .objects.filter(pk__in=ids)
        .values_list("pk", "is_active", "muted_reminder_kinds")
    }
    wanted = []
    for m in messages:
        if m.recipient_id is None:
            wanted.append(m)
            continue
        active, muted = people.get(m.recipient_id, (False, set()))
        mute_kind = SENDERS[m.kind].mute_kind if m.kind in SENDERS else None
        if active and (mute_kind is None or mute_kind not in muted):
            wanted.append(m)
    return wanted


def queue(messages: Iterable[Message], now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Insert the outbox rows that do not exist yet and enqueue those after the transaction commits.

    Returns the ids of the rows inserted here."""
    now = now or timezone.now()
    unique = list({m.key: m for m in messages}.values())
    rows = [
        OutboxMessage(
            id=uuid.uuid4(),
            kind=m.kind,
            subject_type=m.subject_type,
            subject_id=m.subject_id,
            occurrence=m.occurrence,
            recipient_id=m.recipient_id,
            to_email=m.to_email,
            recipient_key=m.recipient_key,
            partnership_id=m.partnership_id,
            context=m.row_context,
            created_at=now,
            next_attempt_at=now,
        )
        for m in _wanted(unique)
    ]
    if not rows:
        return []
    with transaction.atomic():
        OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        # A row whose key existed already was not inserted, so its fresh id is not in the table.
        found = set(OutboxMessage.objects.filter(id__in=[r.id for r in rows]).values_list("id", flat=True))
        inserted = [r.id for r in rows if r.id in found]  # in the order given: e-mails go out in that order
        send_outbox_message.enqueue_on_commit(inserted)
    return inserted


def requeue_stuck(now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Re-enqueue rows whose task was lost (broker restart) or whose worker died mid-send."""
    now = now or timezone.now()
    stuck = OutboxMessage.objects.filter(
        Q(status=Status.PENDING, next_attempt_at__lte=now - dt.timedelta(minutes=5))
        | Q(status=Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
    )
    with transaction.atomic():
        ids = list(stuck.values_list("id", flat=True)[:1000])
        OutboxMessage.objects.filter(id__in=ids, status=Status.PENDING).update(
            next_attempt_at=now + dt.timedelta(minutes=10)
        )
        send_outbox_message.enqueue_on_commit(ids)
    return ids


# --- Sending ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str
    retry_in: int | None = None  # seconds, when a transient failure should be retried


def claim(row_id: Any, now: dt.datetime | None = None) -> bool:
    """Take the row for sending; True only for the one caller that won it."""
    now = now or timezone.now()
    won = (
        OutboxMessage.objects.filter(pk=row_id)
        .filter(Q(status=Status.PENDING) | Q(status=Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT))
        .update(status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )
    return won == 1


def is_transient(exc: BaseException) -> bool:
    """SMTP 4xx replies, a dropped connection or a network error are worth retrying; 5xx is final."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _msg in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError | TimeoutError)


def _finish(row_id: Any, status: str, error: str = "", **fields: Any) -> None:
    OutboxMessage.objects.filter(pk=row_id, status=Status.SENDING).update(
        status=status, last_error=error[:500], **fields
    )


def _muted(row: OutboxMessage) -> bool:
    if row.recipient is None:
        return False
    mute_kind = SENDERS[row.kind].mute_kind
    muted = set(getattr(row.recipient, "muted_reminder_kinds", None) or [])
    return not row.recipient.is_active or (mute_kind is not None and mute_kind in muted)


ENGLISH = "en"
# Where a row to an address without an account keeps the language it is written in.
LANGUAGE_KEY = "language"


def language_of(row: OutboxMessage) -> str:
    """The language to write the row in: its recipient's own, else the one it was queued with,
    else English (a code no longer offered counts as none)."""
    offered = dict(settings.LANGUAGES)
    chosen = str(getattr(row.recipient, "language", "") or "") if row.recipient is not None else ""
    if chosen in offered:
        return chosen
    queued = str((row.context or {}).get(LANGUAGE_KEY) or "") if row.recipient is None else ""
    return queued if queued in offered else ENGLISH


def deliver(row_id: Any) -> Outcome:
    """Send one outbox row if this caller wins it. Safe to call any number of times."""
    if not claim(row_id):
        return Outcome("not_claimed")
    row = OutboxMessage.objects.select_related("recipient").get(pk=row_id)
    if row.kind not in SENDERS:
        _finish(row.pk, Status.FAILED, f"No sender is registered for {row.kind!r}.")
        return Outcome(Status.FAILED)
    if _muted(row):
        _finish(row.pk, Status.SKIPPED, "The recipient muted this kind of e-mail.")
        return Outcome(Status.SKIPPED)
    try:
        with translation.override(language_of(row)):
            sent = SENDERS[row.kind].send(row)
    except Exception as exc:  # every failure is recorded on the row
        reason = f"{type(exc).__name__}: {exc}"
        if is_transient(exc) and row.attempts < MAX_ATTEMPTS:
            wait = backoff(row.attempts)
            _finish(row.pk, Status.PENDING, reason, next_attempt_at=timezone.now() + dt.timedelta(seconds=wait))
            log.warning("outbox %s (%s): transient failure, retry in %ss: %s", row.pk, row.kind, wait, reason)
            return Outcome(Status.PENDING, retry_in=wait)
        _finish(row.pk, Status.FAILED, reason)
        log.error("outbox %s (%s) failed: %s", row.pk, row.kind, reason)
        return Outcome(Status.FAILED)
    if not sent:
        _finish(row.pk, Status.SKIPPED, "No longer due when it was sent (already done, moved or replaced).")
        return Outcome(Status.SKIPPED)
    _finish(row.pk, Status.SENT, "", sent_at=timezone.now())
    return Outcome(Status.SENT)


# --- Tasks (listed in CELERY_IMPORTS) -----------------------------------------------------------


# Named as it was when only reminders used the outbox: messages already in the broker still run.
@shared_task(  # type: ignore[untyped-decorator]
    name="alignment.send_reminder",
    bind=True,
    base=TransactionAwareTask,
    max_retries=MAX_ATTEMPTS,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=120,
    time_limit=180,
)
def send_outbox_message(self: Any, row_id: str) -> str:
    """Deliver one outbox row; transient SMTP failures come back here with a growing countdown."""
    outcome = deliver(row_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status
