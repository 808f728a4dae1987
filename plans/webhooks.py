"""Outbound webhooks: an organisation's admins subscribe a URL to the events of the partnerships
the organisation is a side of, sent per the Standard Webhooks specification
(``plans.webhook_delivery`` signs, sends and retries them; docs/api.md "Webhooks").

Events are the change log's (``alignment.models.ChangeEvent``): each one becomes, for every
subscription that wants it, one delivery whose body is the change feed's event (the same
``type``, ``id``, ``action``, ``data`` … an integration reads from ``GET /api/v1/changes``) plus
``event``, its webhook event type. Types are ``<feed type>.created|updated|deleted`` and, for
the steps of the workflow, ``goal.proposed``, ``goal.approved``, ``goal.agreed``,
``goal.changes_requested``, ``goal.withdrawn``, ``goal.closed`` and ``vision.endorsed``; a
subscription to ``goal.updated`` also receives the workflow steps that update a goal.

Scope: a subscription sees exactly the partnerships whose vendor or partner is its organisation,
as a service token of that organisation does in the feed, and only what the feed shows.

The sweep (``webhooks_sweep``, on beat every 10 seconds) never skips an event: each subscription
keeps a high-water mark in the feed's order ``(txid, seq)`` and reads after it through
``alignment.changes.feed_queryset``, which serves only transactions that can no longer commit
behind the mark (a plain ``seq`` read skips events that commit out of order). A subscription is
claimed with ``select_for_update(skip_locked=True)``, so two sweeps never work on the same one;
a delivery is unique per (subscription, event), so a sweep that runs twice inserts each once. The
mark moves in the same transaction as the deliveries it made; once a subscription has caught up it
moves to the feed's end (read under the same bounds), so a quiet organisation's next read starts
near the end of the log instead of scanning everyone else's events since its last one.

It also runs right after a change commits, when that is cheap (``sweep_wanted``: a webhook is on
and no other change asked in the last second), through ``alignment.changes.commit_listeners``.

The feed's representation lives in the API layer above this one, so the sweep is handed the
loader (``api.webhook_feed.load_events``) by its task in ``api.tasks``.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, OrganisationMembership, User
from alignment.changes import feed_queryset
from core.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from core.writes import text
from goals.models import GoalStatus, RevisionState, negotiation_state_of

from . import webhook_delivery
from .models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from .webhook_http import resolve_target

MAX_SUBSCRIPTIONS = 20
# In the shared cache: whether any webhook is on (renewed by every periodic sweep), and the
# one-second window in which a committed change has already asked for a sweep.
ACTIVE_KEY = "webhooks:any-active"
NUDGE_KEY = "webhooks:nudged"
SWEEP_BATCH = 200
LOG_SIZE = 50
SECRET_PREFIX = "whsec_"

# The change feed's types (``api.representation.TYPE_NAMES``; tests/test_webhooks.py holds them equal).
FEED_TYPES = (
    "partnership",
    "vision",
    "endorsement",
    "member",
    "objective",
    "goal",
    "agreed-revision",
    "approval",
    "commitment",
    "check-in",
    "comment",
    "review",
    "review-comment",
    "invitation",
    "driver",
    "driver-figure",
    "pulse-answer",
)
ACTIONS = {"create": "created", "update": "updated", "delete": "deleted"}
WORKFLOW_EVENTS = {
    "goal.proposed": _("A goal (or an amendment) was proposed"),
    "goal.approved": _("A side approved a goal's revision"),
    "goal.agreed": _("Both sides agreed a goal (or an amendment)"),
    "goal.changes_requested": _("Changes to a proposed goal were requested"),
    "goal.withdrawn": _("A goal was withdrawn"),
    "goal.closed": _("A goal was closed as achieved, missed or dropped"),
    "vision.endorsed": _("A side endorsed the vision"),
}
# The labels name the choices of the settings form; the change events are shown by their code.
EVENT_TYPES: dict[str, Any] = WORKFLOW_EVENTS | {
    f"{t}.{past}": f"{t.replace('-', ' ').capitalize()} {past}" for t in FEED_TYPES for past in ACTIONS.values()
}
CLOSED = (GoalStatus.ACHIEVED, GoalStatus.MISSED, GoalStatus.DROPPED)


@dataclass(frozen=True)
class FeedEvent:
    """One change event as the feed shows it (``document``), where it stands in the feed's order,
    and the goal facts before the change that tell a workflow step from an edit."""

    position: tuple[int, int]
    document: dict[str, Any]
    before: dict[str, Any]

    @property
    def seq(self) -> int:
        return self.position[1]


# Loads up to ``limit`` events after a position of the partnerships of an organisation, and when
# those are all, the feed's end position up to which the organisation has no other event.
EventLoader = Callable[..., tuple[list[FeedEvent], tuple[int, int] | None]]


def event_names(event: FeedEvent) -> list[str]:
    """The webhook event types of a feed event, most specific first (a workflow step, then
    ``<type>.<action>``)."""
    doc = event.document
    kind, action = str(doc.get("type")), ACTIONS.get(str(doc.get("action")), str(doc.get("action")))
    generic = f"{kind}.{action}"
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    assert isinstance(data, dict)
    step = None
    if kind == "approval" and action == "created":
        step = "goal.approved"
    elif kind == "endorsement" and action == "created":
        step = "vision.endorsed"
    elif kind == "goal" and action == "updated":
        step = _goal_step(data, event.before)
    return [step, generic] if step else [generic]


def _goal_step(data: dict[str, Any], before: dict[str, Any]) -> str | None:
    status, before_status = data.get("status"), before.get("status")
    state = negotiation_state_of(str(status or ""), str(data.get("amendment") or ""))
    before_state = negotiation_state_of(str(before_status or ""), str(before.get("amendment") or ""))
    if status == GoalStatus.AGREED and str(data.get("agreed_revision")) != str(before.get("agreed_revision")):
        return "goal.agreed"
    if state == RevisionState.PROPOSED and before_state != RevisionState.PROPOSED:
        return "goal.proposed"
    if state == RevisionState.CHANGES_REQUESTED and before_state != RevisionState.CHANGES_REQUESTED:
        return "goal.changes_requested"
    if status == GoalStatus.WITHDRAWN and before_status != GoalStatus.WITHDRAWN:
        return "goal.withdrawn"
    if status in CLOSED and before_status not in CLOSED:
        return "goal.closed"
    return None


def wants(subscription: WebhookSubscription, names: Iterable[str]) -> bool:
    chosen = subscription.event_types or []
    return not chosen or any(name in chosen for name in names)


# --- Access -------------------------------------------------------------------------------------


def administered(user: User, organisation_id: Any) -> Organisation:
    """The organisation whose webhooks ``user`` manages: an outsider gets ``NotFound``, a member
    who is no admin ``NotAllowed`` (as for the organisation's sign-in rule)."""
    try:
        pk = uuid.UUID(str(organisation_id))
    except ValueError as exc:
        raise NotFound("No such organisation.") from exc
    membership = (
        OrganisationMembership.objects.select_related("organisation").filter(user=user, organisation_id=pk).first()
    )
    if membership is None or not user.is_active:
        raise NotFound("No such organisation.")
    if membership.role != OrganisationMembership.Role.ADMIN:
        raise NotAllowed(f"Only admins of {membership.organisation.name} manage its webhooks.")
    return membership.organisation


def subscriptions_of(organisation: Organisation) -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.filter(organisation=organisation).order_by("created_at")


def subscription_of(organisation: Organisation, subscription_id: Any) -> WebhookSubscription:
    """One of the organisation's subscriptions, or ``NotFound`` (another organisation's included)."""
    try:
        pk = uuid.UUID(str(subscription_id))
    except ValueError as exc:
        raise NotFound("No such webhook.") from exc
    found = WebhookSubscription.objects.filter(organisation=organisation, pk=pk).first()
    if found is None:
        raise NotFound("No such webhook.")
    return found


def attempts_of(subscription: WebhookSubscription, limit: int = LOG_SIZE) -> list[WebhookAttempt]:
    """The delivery log: the most recent attempts, each with its delivery (one query)."""
    return list(
        WebhookAttempt.objects.filter(subscription=subscription)
        .select_related("delivery")
        .order_by("-started_at", "-id")[:limit]
    )


def pending_count(subscription: WebhookSubscription) -> int:
    return WebhookDelivery.objects.filter(subscription=subscription, status=WebhookDelivery.Status.PENDING).count()


# --- Subscriptions ------------------------------------------------------------------------------


def new_secret() -> str:
    """A signing secret as the Standard Webhooks libraries read it: ``whsec_`` + 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _url(value: Any) -> str:
    url = text(value, "url")
    if not url:
        raise InvalidInput("Enter the URL that receives the webhook.", fields={"url": ["A URL is required."]})
    if len(url) > 2000:
        raise InvalidInput("The URL is too long.", fields={"url": ["At most 2000 characters."]})
    if any(c.isspace() for c in url):
        raise InvalidInput("The URL may not contain spaces.", fields={"url": ["Encode spaces as %20."]})
    resolve_target(url)  # SSRF: refused unless it reaches a public address (or an allowed network)
    scheme, rest = url.split(":", 1)
    return f"{scheme.lower()}:{rest}"


def _event_types(values: Any) -> list[str]:
    chosen = list(values or [])
    unknown = [str(v) for v in chosen if v not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(
            f"Unknown event type: {', '.join(unknown[:5])}.", fields={"event_types": ["Choose from the list."]}
        )
    return sorted(set(chosen))


def _description(value: Any) -> str:
    description = text(value, "description")
    if len(description) > 200:
        raise InvalidInput("The description is too long.", fields={"description": ["At most 200 characters."]})
    return description


def feed_end() -> tuple[int, int]:
    """The newest position the feed serves now: a new subscription starts after it."""
    last = feed_queryset().order_by("-txid", "-seq").values_list("txid", "seq").first()
    return (int(last[0]), int(last[1])) if last else (0, 0)


@transaction.atomic
def webhook_create(
    *, user: User, organisation_id: Any, url: Any, description: Any = "", event_types: Any = ()
) -> tuple[WebhookSubscription, str]:
    """Subscribe a URL to the organisation's events from now on; the secret is returned this once."""
    organisation = administered(user, organisation_id)
    Organisation.objects.select_for_update().filter(pk=organisation.pk).first()  # one count at a time
    if subscriptions_of(organisation).count() >= MAX_SUBSCRIPTIONS:
        raise RuleViolation(
            f"An organisation has at most {MAX_SUBSCRIPTIONS} webhooks: delete one you no longer use.",
            code="webhook.too_many",
        )
    secret = new_secret()
    txid, seq = feed_end()
    subscription = WebhookSubscription.objects.create(
        organisation=organisation,
        url=_url(url),
        description=_description(description),
        event_types=_event_types(event_types),
        secret=secret,
        after_txid=txid,
        after_seq=seq,
        created_by=user,
    )
    return subscription, secret


@transaction.atomic
def webhook_update(
    *,
    user: User,
    organisation_id: Any,
    subscription_id: Any,
    url: Any,
    description: Any = "",
    event_types: Any = (),
    is_active: bool = True,
) -> WebhookSubscription:
    """Change a webhook. Turning it back on clears its failures; it resumes where it stopped."""
    organisation = administered(user, organisation_id)
    subscription = subscription_of(organisation, subscription_id)
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    subscription.url = _url(url)
    subscription.description = _description(description)
    subscription.event_types = _event_types(event_types)
    if is_active and not subscription.is_active:
        subscription.consecutive_failures = 0
        subscription.failing_since = None
        subscription.disabled_at = None
        subscription.disabled_reason = ""
    subscription.is_active = bool(is_active)
    subscription.updated_at = timezone.now()
    subscription.save()
    return subscription


@transaction.atomic
def webhook_rotate_secret(*, user: User, organisation_id: Any, subscription_id: Any) -> tuple[WebhookSubscription, str]:
    """A new secret, returned this once; the previous one keeps signing beside it for
    ``WEBHOOK_SECRET_ROTATION_HOURS`` so receivers can switch without missing a message."""
    organisation = administered(user, organisation_id)
    subscription = WebhookSubscription.objects.select_for_update().get(
        pk=subscription_of(organisation, subscription_id).pk
    )
    now = timezone.now()
    secret = new_secret()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_until = now + dt.timedelta(hours=int(settings.WEBHOOK_SECRET_ROTATION_HOURS))
    subscription.secret = secret
    subscription.updated_at = now
    subscription.save()
    return subscription, secret


@transaction.atomic
def webhook_delete(*, user: User, organisation_id: Any, subscription_id: Any) -> None:
    """Delete a webhook with its deliveries and their log."""
    organisation = administered(user, organisation_id)
    subscription_of(organisation, subscription_id).delete()


@transaction.atomic
def delivery_redeliver(*, user: User, organisation_id: Any, subscription_id: Any, delivery_id: Any) -> WebhookDelivery:
    """Send a delivery again, with the same ``webhook-id`` and body, as soon as this commits."""
    organisation = administered(user, organisation_id)
    subscription = subscription_of(organisation, subscription_id)
    try:
        pk = uuid.UUID(str(delivery_id))
    except ValueError as exc:
        raise NotFound("No such delivery.") from exc
    delivery = WebhookDelivery.objects.select_for_update().filter(subscription=subscription, pk=pk).first()
    if delivery is None:
        raise NotFound("No such delivery.")
    if not subscription.is_active:
        raise RuleViolation("This webhook is off: turn it on to send deliveries again.", code="webhook.inactive")
    webhook_delivery.redeliver(delivery)
    return delivery


# --- The sweep ----------------------------------------------------------------------------------


def sweep_wanted() -> bool:
    """After a change commits: whether to ask for a sweep now (some webhook is on, and no other
    change asked in the last second). Two cache operations, no query: when the cache was emptied
    it says no, and the periodic sweep, which renews the flag, delivers the change a little later."""
    return bool(cache.get(ACTIVE_KEY)) and cache.add(NUDGE_KEY, 1, timeout=1)


def webhooks_sweep(*, load: EventLoader, batch: int = SWEEP_BATCH, send: bool = True) -> int:
    """Turn new change events into deliveries for every active subscription; the number made.
    ``send``: enqueue them once made (demo data records answers of its own instead)."""
    made = 0
    active = list(WebhookSubscription.objects.filter(is_active=True).values_list("pk", flat=True))
    cache.set(ACTIVE_KEY, bool(active), None)
    for pk in active:
        while True:
            count, more = _sweep_one(pk, load=load, batch=batch, send=send)
            made += count
            if not more:
                break
    return made


@transaction.atomic
def _sweep_one(subscription_id: Any, *, load: EventLoader, batch: int, send: bool) -> tuple[int, bool]:
    """One batch of one subscription, claimed so no other sweep works on it meanwhile; whether
    more events may follow."""
    subscription = (
        WebhookSubscription.objects.select_for_update(skip_locked=True)
        .filter(pk=subscription_id, is_active=True)
        .first()
    )
    if subscription is None:
        return 0, False
    events, end = load(organisation_id=subscription.organisation_id, after=subscription.position, limit=batch)
    last = max([subscription.position, *([events[-1].position] if events else []), *([end] if end else [])])
    if not events:
        if last > subscription.position:
            WebhookSubscription.objects.filter(pk=subscription.pk).update(after_txid=last[0], after_seq=last[1])
        return 0, False
    rows = []
    for event in events:
        names = event_names(event)
        if wants(subscription, names):
            body = event.document | {"event": names[0]}
            rows.append(
                WebhookDelivery(
                    subscription=subscription,
                    event_seq=event.seq,
                    event_type=names[0],
                    payload=webhook_delivery.payload_text(body),
                    next_attempt_at=timezone.now(),
                )
            )
    created = WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    # ``ignore_conflicts`` returns every object given: the ones really inserted are found again.
    inserted = list(
        WebhookDelivery.objects.filter(pk__in=[row.pk for row in created], subscription=subscription).values_list(
            "pk", flat=True
        )
    )
    WebhookSubscription.objects.filter(pk=subscription.pk).update(after_txid=last[0], after_seq=last[1])
    if send:
        webhook_delivery.enqueue(inserted)
    return len(inserted), end is None
