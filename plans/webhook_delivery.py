"""Sending webhook deliveries: signing, retries with backoff, the delivery log, redelivery and
turning a failing webhook off.

Each ``WebhookDelivery`` is one event for one subscription, with the exact body it sends and one
``webhook-id`` (its id) on every attempt, so a receiver de-duplicates by it. ``deliver`` claims
the row with one conditional UPDATE (pending, due, subscription on → due again only after
``CLAIM``), sends only if it won the row, and records the attempt. A duplicate task, a retry sweep
that overlaps, or a worker that picks up a redelivered message finds the row claimed and does
nothing; a worker killed mid-request leaves the claim to lapse and the retry sweep sends it again.

Retries (Standard Webhooks): any answer but a 2xx, a timeout or a connection error is a failed
attempt. The next try waits ``WEBHOOK_RETRY_SCHEDULE[n]`` seconds after the n-th failure (1 min,
5 min, 30 min, 2 h, 5 h, 10 h, 10 h by default), spread by ``WEBHOOK_RETRY_JITTER`` either way so
that a receiver coming back up is not hit by every delivery in the same second. A ``Retry-After``
on a 429 or 503 answer is honoured within the schedule: the wait is the longer of the two, but
never longer than the schedule's longest step. After the last step the delivery has failed; an
admin may redeliver it from the delivery log.

Turning off: every failed attempt counts against the subscription, every success clears the
count. At ``WEBHOOK_DISABLE_AFTER_FAILURES`` failures in a row, or after
``WEBHOOK_DISABLE_AFTER_DAYS`` days of failures without a success, the subscription is turned
off (one conditional UPDATE decides it, so it happens once) and each admin of its organisation
gets one e-mail through the outbox.

Retries are due rows, not countdown tasks: the beat task ``plans.webhooks_retry_due`` enqueues
the due ones (a broker's visibility timeout would redeliver a task hours in the future anyway).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from standardwebhooks import Webhook

from accounts.models import OrganisationMembership
from core import outbox
from core.models import MailKind
from core.taskbase import TransactionAwareTask

from .models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from .webhook_http import Outcome, excerpt, post

log = logging.getLogger(__name__)

Status = WebhookDelivery.Status
# How long a claimed delivery is left to its worker before the retry sweep may take it again: far
# longer than one request may last (WEBHOOK_TIMEOUT).
CLAIM = dt.timedelta(minutes=2)
USER_AGENT = "Partnerplan-Webhooks/1"
RETRY_AFTER_STATUSES = (429, 503)
DUE_BATCH = 500


# --- Signing ----------------------------------------------------------------------------------


def signing_secrets(subscription: WebhookSubscription, now: dt.datetime) -> list[str]:
    """The secrets that sign now: the current one, and during a rotation window the previous one."""
    found = [subscription.secret]
    until = subscription.previous_secret_until
    if subscription.previous_secret and until is not None and until > now:
        found.append(subscription.previous_secret)
    return found


def signed_headers(subscription: WebhookSubscription, msg_id: str, body: str, now: dt.datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: ``webhook-signature`` holds one ``v1,<base64>``
    per signing secret, separated by spaces (a receiver accepts the message if any one verifies)."""
    stamp = dt.datetime.fromtimestamp(int(now.timestamp()), tz=dt.UTC)
    signatures = [Webhook(secret).sign(msg_id, stamp, body) for secret in signing_secrets(subscription, now)]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": " ".join(signatures),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


# --- The retry schedule ------------------------------------------------------------------------


def _retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - now).total_seconds(), 0.0)


def retry_delay(
    failures: int,
    *,
    status: int | None = None,
    retry_after: str | None = None,
    now: dt.datetime | None = None,
    rand: Callable[[], float] = random.random,
) -> dt.timedelta | None:
    """How long to wait after the ``failures``-th failed attempt of a delivery, or None when the
    schedule is spent (the delivery has failed)."""
    schedule = list(settings.WEBHOOK_RETRY_SCHEDULE)
    if failures < 1 or failures > len(schedule):
        return None
    base = float(schedule[failures - 1])
    jitter = float(settings.WEBHOOK_RETRY_JITTER)
    seconds = base * (1 + jitter * (2 * rand() - 1))
    if status in RETRY_AFTER_STATUSES:
        asked = _retry_after_seconds(retry_after, now or timezone.now())
        if asked is not None:
            seconds = min(max(seconds, asked), float(max(schedule)))
    return dt.timedelta(seconds=max(seconds, 1.0))


# --- Delivering --------------------------------------------------------------------------------


def claim(delivery_id: Any, now: dt.datetime) -> bool:
    """Take a due delivery for one attempt (one conditional UPDATE: only one worker wins it)."""
    return (
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now, subscription__is_active=True
        ).update(next_attempt_at=now + CLAIM)
        == 1
    )


def deliver(delivery_id: Any, *, now: dt.datetime | None = None) -> Outcome | None:
    """Make one attempt of a due delivery; None if it was not due (or someone else took it)."""
    now = now or timezone.now()
    if not claim(delivery_id, now):
        return None
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    headers = signed_headers(subscription, str(delivery.pk), delivery.payload, now)
    outcome = post(subscription.url, delivery.payload.encode(), headers)
    record_outcome(delivery, outcome, now=now)
    return outcome


@dataclass(frozen=True)
class Outlet:
    """Where deliveries go, for the code both kinds share (a webhook subscription here, a chat
    channel in ``plans.chat``): its models, the delivery's and attempt's field naming it, the words
    of its failures, and how it is turned off."""

    delivery: Any  # the model of one event's delivery (status, attempts, next_attempt_at, ...)
    target: Any  # the model deliveries go to (consecutive_failures, failing_since, is_active)
    attempt: Any  # the model of one attempt's log line
    field: str  # the delivery's and the attempt's foreign key to the target
    answered: str  # "... answered {status}."
    in_a_row: str  # "{failures} ... in a row ..."
    for_days: str  # "... for {days} days ..."
    disable: Callable[..., bool]


@transaction.atomic
def settle(outlet: Outlet, delivery: Any, outcome: Outcome, *, now: dt.datetime) -> Any:
    """Log the attempt, schedule the next one or settle the delivery, and count it against (or for)
    its target, turning the target off when it has failed too long. Nothing if the target was
    deleted while the request was under way."""
    if not outlet.delivery.objects.select_for_update().filter(pk=delivery.pk).exists():
        return None
    target = getattr(delivery, outlet.field)
    number = delivery.attempts + 1
    next_at = None
    if outcome.succeeded:
        outlet.delivery.objects.filter(pk=delivery.pk).update(
            status=Status.DELIVERED,
            attempts=number,
            next_attempt_at=None,
            delivered_at=now,
            last_status_code=outcome.status,
            last_error="",
            manual=False,
        )
        outlet.target.objects.filter(pk=target.pk).exclude(consecutive_failures=0).update(
            consecutive_failures=0, failing_since=None
        )
    else:
        delay = retry_delay(number, status=outcome.status, retry_after=outcome.retry_after, now=now)
        next_at = now + delay if delay is not None else None
        error = outcome.error or outlet.answered.format(status=outcome.status)
        outlet.delivery.objects.filter(pk=delivery.pk).update(
            status=Status.PENDING if next_at else Status.FAILED,
            attempts=number,
            next_attempt_at=next_at,
            last_status_code=outcome.status,
            last_error=error[:300],
            manual=False,
        )
        outlet.target.objects.filter(pk=target.pk).update(
            consecutive_failures=F("consecutive_failures") + 1, failing_since=Coalesce("failing_since", now)
        )
        _disable_if_failing(outlet, target.pk, now)
    return outlet.attempt.objects.create(
        delivery=delivery,
        number=number,
        redelivery=delivery.manual,
        started_at=now,
        duration_ms=outcome.duration_ms,
        status_code=outcome.status,
        succeeded=outcome.succeeded,
        error=outcome.error[:300],
        request_excerpt=excerpt(delivery.payload),
        response_excerpt=outcome.body,
        next_attempt_at=next_at,
        **{outlet.field: target},
    )


def _disable_if_failing(outlet: Outlet, target_id: Any, now: dt.datetime) -> None:
    counts = (
        outlet.target.objects.filter(pk=target_id, is_active=True)
        .values_list("consecutive_failures", "failing_since")
        .first()
    )
    if counts is None:
        return
    failures, since = counts
    limit = int(settings.WEBHOOK_DISABLE_AFTER_FAILURES)
    days = int(settings.WEBHOOK_DISABLE_AFTER_DAYS)
    if failures >= limit:
        reason = outlet.in_a_row.format(failures=failures)
    elif since is not None and since <= now - dt.timedelta(days=days):
        reason = outlet.for_days.format(days=days)
    else:
        return
    outlet.disable(target_id, reason=reason, now=now)


def record_outcome(delivery: WebhookDelivery, outcome: Outcome, *, now: dt.datetime) -> WebhookAttempt | None:
    """``settle`` a webhook delivery's attempt."""
    return cast(WebhookAttempt | None, settle(WEBHOOKS, delivery, outcome, now=now))


def disable(subscription_id: Any, *, reason: str, now: dt.datetime) -> bool:
    """Turn a failing subscription off and tell its organisation's admins, once (the conditional
    UPDATE decides who does it; the outbox row is unique per admin and turning-off)."""
    won = WebhookSubscription.objects.filter(pk=subscription_id, is_active=True).update(
        is_active=False, disabled_at=now, disabled_reason=reason[:300], updated_at=now
    )
    if not won:
        return False
    queue_disabled_email(subscription_id)
    log.warning("webhook %s turned off: %s", subscription_id, reason)
    return True


WEBHOOKS = Outlet(
    delivery=WebhookDelivery,
    target=WebhookSubscription,
    attempt=WebhookAttempt,
    field="subscription",
    answered="The receiver answered {status}.",
    in_a_row="{failures} deliveries in a row failed.",
    for_days="Deliveries have failed for {days} days without a success.",
    disable=disable,
)


def queue_disabled_email(subscription_id: Any) -> None:
    """One e-mail to each admin of the organisation per turning-off (its time is the occurrence)."""
    subscription = WebhookSubscription.objects.filter(pk=subscription_id, is_active=False).first()
    if subscription is None or subscription.disabled_at is None:
        return
    organisation_id, disabled_at = subscription.organisation_id, subscription.disabled_at
    admins = OrganisationMembership.objects.filter(
        organisation_id=organisation_id, role=OrganisationMembership.Role.ADMIN
    ).values_list("user_id", flat=True)
    outbox.queue(
        [
            outbox.Message(MailKind.WEBHOOK_DISABLED, "webhook", str(subscription_id), disabled_at, recipient_id=admin)
            for admin in admins
        ]
    )


def redeliver(delivery: WebhookDelivery, *, now: dt.datetime | None = None) -> None:
    """Send a delivery again now, with the same ``webhook-id`` and body (the admin's one click);
    its retry schedule starts over."""
    now = now or timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.PENDING, attempts=0, next_attempt_at=now, manual=True
    )
    enqueue([delivery.pk])


def enqueue(delivery_ids: list[Any]) -> None:
    """Send these deliveries once the transaction that made them due commits."""
    if delivery_ids:
        deliver_webhook.enqueue_on_commit(delivery_ids)


def due_ids(now: dt.datetime | None = None, limit: int = DUE_BATCH) -> list[Any]:
    return list(
        WebhookDelivery.objects.filter(
            status=Status.PENDING, next_attempt_at__lte=now or timezone.now(), subscription__is_active=True
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def payload_text(document: dict[str, Any]) -> str:
    """A delivery's body: compact JSON, the same bytes on every attempt."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def webhook_deliveries_prune(*, now: dt.datetime | None = None) -> int:
    """Forget settled deliveries (delivered or failed) and their log after
    ``WEBHOOK_LOG_RETENTION_DAYS``; deliveries still waiting for a retry stay."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=int(settings.WEBHOOK_LOG_RETENTION_DAYS))
    deleted, _ = WebhookDelivery.objects.filter(
        status__in=[Status.DELIVERED, Status.FAILED], created_at__lt=cutoff
    ).delete()
    return deleted


# --- Tasks --------------------------------------------------------------------------------------


@shared_task(
    name="plans.deliver_webhook", base=TransactionAwareTask, acks_late=True, time_limit=120, soft_time_limit=100
)  # type: ignore[untyped-decorator]
def deliver_webhook(delivery_id: str) -> bool:
    return deliver(delivery_id) is not None


@shared_task(name="plans.webhooks_retry_due")  # type: ignore[untyped-decorator]
def webhooks_retry_due() -> int:
    """Beat: enqueue every delivery whose next attempt is due (the claim makes overlaps harmless)."""
    ids = due_ids()
    for pk in ids:
        deliver_webhook.apply_async(args=[str(pk)])
    return len(ids)


@shared_task(name="plans.prune_webhook_deliveries")  # type: ignore[untyped-decorator]
def prune_webhook_deliveries() -> int:
    return webhook_deliveries_prune()
