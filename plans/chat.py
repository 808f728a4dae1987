"""Chat notifications: a partnership's Slack and Microsoft Teams channels (incoming webhooks) hear
the workflow events their side chose, as short messages with a link to the page.

A channel belongs to a partnership and to one side of it. The side's approvers and its
organisation's admins add, change and delete channels; the side's other people see them (the URL
masked); the other side and outsiders get 404. Whoever added a channel is its owner, told by e-mail
when it is turned off.

Event kinds (``EVENT_KINDS``): a goal (or an amendment) proposed, a side's approval, changes
requested, a figure disputed (two-key actuals), and an alignment review coming up. The first four
are derived from the change log the way ``plans.webhooks`` derives its workflow events (goal
updates, approvals and check-in updates that dispute a figure), by a sweep that
keeps a high-water mark per channel in the feed's order; the last by a beat task that finds the
reviews due within the partnership's longest reminder lead time (or ``DEFAULT_LEAD``). Both
insert one ``ChatDelivery`` per (channel, event) under a unique constraint, so a sweep that runs
twice, or two at once, send each event once. Messages carry only what both sides of a partnership
see on the plan page (the partnership, the goal's title, who did what, the review's date, and for a
disputed figure both numbers, which both sides see on the goal); drafts and comments of one side
are never sent.

Sending reuses the webhooks' machinery: the SSRF-safe request (``plans.webhook_http.post``), the
retry schedule with jitter and ``Retry-After`` (``plans.webhook_delivery.retry_delay``, the
``WEBHOOK_RETRY_*`` settings) and the rule that turns a channel off after
``WEBHOOK_DISABLE_AFTER_FAILURES`` failed attempts in a row (or ``WEBHOOK_DISABLE_AFTER_DAYS`` of
failures), with one e-mail to its owner through the outbox.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import uuid
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from accounts.models import OrganisationMembership, User
from alignment.access import Access, access_for, resolve
from alignment.changes import FEED_BOUNDS, feed_queryset
from alignment.economics import side_visible
from alignment.models import AlignmentReview, ChangeEvent, Partnership, PartnershipMember, Side
from core import outbox
from core.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from core.models import MailKind
from core.taskbase import TransactionAwareTask
from core.writes import text
from goals.models import Goal

from .models import ChatAttempt, ChatChannel, ChatDelivery
from .webhook_delivery import CLAIM, Outlet, settle
from .webhook_http import Outcome, allowed_networks, post, resolve_target
from .webhooks import _goal_step

log = logging.getLogger(__name__)

Status = ChatDelivery.Status
EVENT_KINDS = {
    "goal.proposed": gettext_lazy("A goal (or an amendment to one) was proposed"),
    "goal.approved": gettext_lazy("A side approved a goal"),
    "goal.changes_requested": gettext_lazy("A side asked for changes to a proposed goal"),
    "figure.disputed": gettext_lazy("A side disputed a figure the other side entered"),
    "review.upcoming": gettext_lazy("An alignment review is coming up"),
}
CHANGE_KINDS = ("goal.proposed", "goal.approved", "goal.changes_requested", "figure.disputed")
# The change log's object types the workflow events come from.
CHANGE_TYPES = ["goal", "approval", "checkin"]
MAX_CHANNELS = 10  # per side of a partnership
DEFAULT_LEAD = dt.timedelta(days=2)
MAX_LEAD = dt.timedelta(days=60)
SWEEP_BATCH = 200
DUE_BATCH = 500
LOG_SIZE = 50
USER_AGENT = "Partnerplan-Chat/1"
# Where each kind's incoming webhooks live (the host, and how its path starts).
SLACK_HOSTS = ("hooks.slack.com",)
TEAMS_HOST_SUFFIXES = (".webhook.office.com", ".logic.azure.com", ".environment.api.powerplatform.com")


# --- Access -------------------------------------------------------------------------------------


def can_manage(access: Access) -> bool:
    """Add, change and delete the side's channels: its approvers and its organisation's admins."""
    return access.is_org_admin or access.can_approve


def require_manage(access: Access) -> None:
    if not can_manage(access):
        raise NotAllowed(
            f"Only approvers and admins add or change chat channels; your role on the {access.side} side "
            f"is {access.role}."
        )


def channels_of(access: Access) -> QuerySet[ChatChannel]:
    """The channels of the person's side of the partnership (never the other side's)."""
    return ChatChannel.objects.filter(partnership=access.partnership, side=access.side).order_by("created_at")


def channel_of(access: Access, channel_id: Any) -> ChatChannel:
    """One of the side's channels, or ``NotFound`` (another partnership's or side's included)."""
    try:
        pk = uuid.UUID(str(channel_id))
    except ValueError as exc:
        raise NotFound("No such chat channel.") from exc
    found = channels_of(access).select_related("owner").filter(pk=pk).first()
    if found is None:
        raise NotFound("No such chat channel.")
    return found


def attempts_of(channel: ChatChannel, limit: int = LOG_SIZE) -> list[ChatAttempt]:
    """The delivery log: the most recent attempts, each with its delivery (one query)."""
    return list(
        ChatAttempt.objects.filter(channel=channel).select_related("delivery").order_by("-started_at", "-id")[:limit]
    )


def masked_url(url: str) -> str:
    """What pages show of an incoming-webhook URL: its host and its last four characters."""
    host = urlsplit(url).hostname or ""
    return f"{host}/…{url[-4:]}"


# --- Validation ---------------------------------------------------------------------------------


def _refused(message: str) -> InvalidInput:
    return InvalidInput(message, fields={"url": [message]})


def _matches_kind(kind: str, scheme: str, host: str, path: str) -> bool:
    if scheme != "https":
        return False
    if kind == ChatChannel.Kind.SLACK:
        return host in SLACK_HOSTS and path.startswith("/services/")
    return any(host.endswith(suffix) and len(host) > len(suffix) for suffix in TEAMS_HOST_SUFFIXES)


def _allowed_internal(url: str) -> bool:
    """Whether the URL reaches a network the operator allowed (``WEBHOOK_ALLOW_PRIVATE_TARGETS``):
    such an internal receiver need not look like Slack's or Teams' (it may be a relay or a test)."""
    networks = allowed_networks()
    if not networks:
        return False
    target = resolve_target(url)
    return any(ipaddress.ip_address(target.address) in network for network in networks)


def clean_url(kind: str, value: Any) -> str:
    """An incoming-webhook URL of the kind: Slack's ``https://hooks.slack.com/services/…``, Teams'
    ``https://<tenant>.webhook.office.com/…`` or a Power Automate workflow's
    ``https://….logic.azure.com/…``; and, like every webhook, one that reaches a public address."""
    url = text(value, "url")
    if not url:
        raise _refused("Enter the channel's incoming-webhook URL.")
    if len(url) > 2000:
        raise _refused("The URL is too long (at most 2000 characters).")
    if any(c.isspace() for c in url):
        raise _refused("The URL may not contain spaces.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise _refused("This is not a valid URL.") from exc
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        raise _refused("Enter the https URL of the channel's incoming webhook.")
    if not _matches_kind(kind, scheme, host, parts.path) and not _allowed_internal(url):
        if kind == ChatChannel.Kind.SLACK:
            raise _refused("A Slack incoming webhook's URL starts with https://hooks.slack.com/services/.")
        raise _refused(
            "A Teams incoming webhook's URL is https://<tenant>.webhook.office.com/… or a Power Automate "
            "workflow's https://….logic.azure.com/…."
        )
    resolve_target(url)  # SSRF: refused unless it reaches a public address (or an allowed network)
    return f"{scheme}:{url.split(':', 1)[1]}"


def clean_kinds(values: Any) -> list[str]:
    chosen = [str(v) for v in (values or [])]
    unknown = [v for v in chosen if v not in EVENT_KINDS]
    if unknown:
        raise InvalidInput(
            f"Unknown event kind: {', '.join(unknown[:5])}.", fields={"event_kinds": ["Choose from the list."]}
        )
    if not chosen:
        raise InvalidInput("Choose at least one event.", fields={"event_kinds": ["Choose at least one event."]})
    return sorted(set(chosen))


def _name(value: Any) -> str:
    name = text(value, "name")
    if not name:
        raise InvalidInput("Name the channel.", fields={"name": ["A name is required, e.g. #partner-acme."]})
    if len(name) > 100:
        raise InvalidInput("The name is too long.", fields={"name": ["At most 100 characters."]})
    return name


# --- Channels -----------------------------------------------------------------------------------


def _bounds() -> tuple[int, int | None] | None:
    """The feed's horizon and the reader's own transaction id, read once (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(FEED_BOUNDS)
        horizon, own = cursor.fetchone()
    return int(horizon), (None if own is None else int(own))


def feed_end(bounds: tuple[int, int | None] | None = None) -> tuple[int, int]:
    last = feed_queryset(bounds=bounds).order_by("-txid", "-seq").values_list("txid", "seq").first()
    return (int(last[0]), int(last[1])) if last else (0, 0)


@transaction.atomic
def channel_create(*, user: User, partnership_id: Any, kind: Any, name: Any, url: Any, event_kinds: Any) -> ChatChannel:
    """Add a channel to the person's side; it hears events from now on."""
    access = resolve(user, partnership_id, for_update=True)  # the lock keeps the count honest
    require_manage(access)
    if kind not in ChatChannel.Kind.values:
        raise InvalidInput("Choose Slack or Microsoft Teams.", fields={"kind": ["Choose Slack or Microsoft Teams."]})
    if channels_of(access).count() >= MAX_CHANNELS:
        raise RuleViolation(
            f"A side has at most {MAX_CHANNELS} chat channels per partnership: delete one you no longer use.",
            code="chat.too_many",
        )
    txid, seq = feed_end()
    return ChatChannel.objects.create(
        partnership=access.partnership,
        side=access.side,
        kind=kind,
        name=_name(name),
        url=clean_url(str(kind), url),
        event_kinds=clean_kinds(event_kinds),
        after_txid=txid,
        after_seq=seq,
        owner=user,
    )


@transaction.atomic
def channel_update(
    *,
    user: User,
    partnership_id: Any,
    channel_id: Any,
    name: Any,
    event_kinds: Any,
    is_active: bool = True,
    url: Any = "",
) -> ChatChannel:
    """Change a channel; a blank URL keeps the stored one. Turning it back on clears its failures
    and starts from now: what happened while it was off is not sent."""
    access = resolve(user, partnership_id)
    require_manage(access)
    channel = ChatChannel.objects.select_for_update().get(pk=channel_of(access, channel_id).pk)
    channel.name = _name(name)
    channel.event_kinds = clean_kinds(event_kinds)
    if text(url, "url"):
        channel.url = clean_url(channel.kind, url)
    if is_active and not channel.is_active:
        channel.consecutive_failures = 0
        channel.failing_since = None
        channel.disabled_at = None
        channel.disabled_reason = ""
        channel.after_txid, channel.after_seq = feed_end()
    channel.is_active = bool(is_active)
    channel.updated_at = timezone.now()
    channel.save()
    return channel


@transaction.atomic
def channel_delete(*, user: User, partnership_id: Any, channel_id: Any) -> None:
    access = resolve(user, partnership_id)
    require_manage(access)
    channel_of(access, channel_id).delete()


@transaction.atomic
def delivery_redeliver(*, user: User, partnership_id: Any, channel_id: Any, delivery_id: Any) -> ChatDelivery:
    """Send a delivery again, with the same message, as soon as this commits."""
    access = resolve(user, partnership_id)
    require_manage(access)
    channel = channel_of(access, channel_id)
    try:
        pk = uuid.UUID(str(delivery_id))
    except ValueError as exc:
        raise NotFound("No such delivery.") from exc
    delivery = ChatDelivery.objects.select_for_update().filter(channel=channel, pk=pk).first()
    if delivery is None:
        raise NotFound("No such delivery.")
    if not channel.is_active:
        raise RuleViolation("This channel is off: turn it on to send messages again.", code="chat.inactive")
    ChatDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.PENDING, attempts=0, next_attempt_at=timezone.now(), manual=True
    )
    enqueue([delivery.pk])
    return delivery


# --- Messages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """What a message says: the partnership, one sentence, and the page it links to."""

    kind: str
    partnership: str
    summary: str
    link: str


def _slack_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(notice: Notice) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (the notification's words) and Block Kit blocks."""
    plain = f"{notice.partnership}: {notice.summary}"
    return {
        "text": plain,
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{_slack_escape(notice.partnership)}*\n{_slack_escape(notice.summary)}",
                },
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{notice.link}|Open in Partnerplan>"}],
            },
        ],
    }


def teams_payload(notice: Notice) -> dict[str, Any]:
    """A Teams incoming-webhook (or Power Automate workflow) message: one Adaptive Card."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": notice.partnership,
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": True,
                        },
                        {"type": "TextBlock", "text": notice.summary, "wrap": True},
                    ],
                    "actions": [{"type": "Action.OpenUrl", "title": "Open in Partnerplan", "url": notice.link}],
                },
            }
        ],
    }


def payload_text(channel: ChatChannel, notice: Notice) -> str:
    body = slack_payload(notice) if channel.kind == ChatChannel.Kind.SLACK else teams_payload(notice)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _side_label(partnership: Partnership, side: str) -> str:
    return f"{partnership.organisation_for(side).name} ({Side(side).label.lower()} side)"


def _sides_of_actors(partnership: Partnership, user_ids: Iterable[Any]) -> dict[Any, str]:
    """The side each person acts for in the partnership (members, then organisation admins)."""
    ids = {pk for pk in user_ids if pk is not None}
    if not ids:
        return {}
    sides = dict(
        PartnershipMember.objects.filter(partnership=partnership, user_id__in=ids).values_list("user_id", "side")
    )
    for user_id, org_id in OrganisationMembership.objects.filter(
        user_id__in=ids - set(sides),
        role=OrganisationMembership.Role.ADMIN,
        organisation_id__in=[partnership.vendor_id, partnership.partner_id],
    ).values_list("user_id", "organisation_id"):
        sides[user_id] = Side.VENDOR if org_id == partnership.vendor_id else Side.PARTNER
    return sides


def _change_kind(event: ChangeEvent) -> str | None:
    if event.object_type == "approval" and event.action == ChangeEvent.Action.CREATE:
        return "goal.approved"
    if event.object_type == "checkin" and event.action == ChangeEvent.Action.UPDATE:
        disputed = (event.after or {}).get("review") == "disputed"
        return "figure.disputed" if disputed and (event.before or {}).get("review") != "disputed" else None
    if event.object_type == "goal" and event.action == ChangeEvent.Action.UPDATE:
        step = _goal_step(event.after or {}, event.before or {})
        return step if step in ("goal.proposed", "goal.changes_requested") else None
    return None


def _goal_of(event: ChangeEvent) -> Any:
    """The goal an event is about: a goal's own id, or the goal of an approval or a check-in."""
    return (event.after or {}).get("goal") if event.object_type in ("approval", "checkin") else event.object_id


def _figure(value: Any, unit: str) -> str:
    """A recorded number as a message says it: "120 k€" (no trailing zeros)."""
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    return f"{number.normalize():f} {unit}".strip()


def change_notices(partnership: Partnership, events: list[ChangeEvent]) -> dict[int, Notice]:
    """The notices of the workflow events among ``events`` (by the event's ``seq``), in a fixed
    number of queries."""
    kinds = {event.seq: kind for event in events if (kind := _change_kind(event)) is not None}
    if not kinds:
        return {}
    chosen = [event for event in events if event.seq in kinds]
    goal_ids = {str(_goal_of(e)) for e in chosen}
    goals = {str(g.pk): g for g in Goal.objects.filter(partnership=partnership, pk__in=goal_ids)}
    actor_sides = _sides_of_actors(partnership, [e.actor_id for e in chosen])
    notices = {}
    for event in chosen:
        after = event.after or {}
        kind = kinds[event.seq]
        goal_id = str(_goal_of(event))
        goal = goals.get(goal_id)
        title = goal.title if goal is not None else str(after.get("title") or "a goal")
        who = event.actor_label or "someone"
        if kind == "goal.approved":
            side = str(after.get("side") or actor_sides.get(event.actor_id, ""))
            summary = f"{_side_label(partnership, side)} approved the goal “{title}” ({who})."
        elif kind == "figure.disputed":
            side = actor_sides.get(event.actor_id) or Side.other(str(after.get("side") or Side.VENDOR))
            unit = goal.metric_unit if goal is not None else ""
            entered = _figure(after.get("value"), unit)
            other = _figure(after.get("disputed_value"), unit)
            summary = (
                f"{_side_label(partnership, side)} disputed the figure {entered} of the goal “{title}” "
                f"with {other} ({who})."
            )
        elif kind == "goal.proposed":
            side = str(after.get("proposed_by_side") or actor_sides.get(event.actor_id, ""))
            what = "an amendment to the goal" if after.get("amendment") else "the goal"
            summary = f"{_side_label(partnership, side)} proposed {what} “{title}” ({who})."
        else:
            side = actor_sides.get(event.actor_id) or Side.other(str(after.get("proposed_by_side") or Side.VENDOR))
            summary = f"{_side_label(partnership, side)} asked for changes to the goal “{title}” ({who})."
        link = (
            settings.SITE_URL + reverse("goal_detail", args=[partnership.pk, goal.pk])
            if goal is not None
            else settings.SITE_URL + reverse("plan", args=[partnership.pk])
        )
        notices[event.seq] = Notice(kind, partnership.name, summary, link)
    return notices


def review_notice(partnership: Partnership, review: AlignmentReview) -> Notice:
    """The review's date and time in the partnership's time zone (named unless it is UTC)."""
    try:
        zone = zoneinfo.ZoneInfo(partnership.timezone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    local = review.scheduled_for.astimezone(zone)
    when = f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} ({zone.key})"
    title = review.title or "The alignment review"
    summary = f"{title} is coming up on {when}."
    link = settings.SITE_URL + reverse("reviews:detail", args=[partnership.pk, review.pk])
    return Notice("review.upcoming", partnership.name, summary, link)


# --- The sweeps ---------------------------------------------------------------------------------


def chat_sweep(*, batch: int = SWEEP_BATCH, send: bool = True) -> int:
    """Turn new workflow events into deliveries for every active channel; the number made."""
    made = 0
    # Which kinds a channel wants is read here, not in SQL: a JSON "contains" lookup does not exist
    # on SQLite (the embedded default), and the active channels are few.
    wanted = set(CHANGE_KINDS)
    active = [
        pk
        for pk, kinds in ChatChannel.objects.filter(is_active=True).values_list("pk", "event_kinds")
        if wanted & set(kinds or [])
    ]
    for pk in active:
        while True:
            count, more = _sweep_one(pk, batch=batch, send=send)
            made += count
            if not more:
                break
    return made


@transaction.atomic
def _sweep_one(channel_id: Any, *, batch: int, send: bool) -> tuple[int, bool]:
    """One batch of one channel, claimed so no other sweep works on it meanwhile; whether more
    events may follow."""
    channel = (
        ChatChannel.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("partnership__vendor", "partnership__partner")
        .filter(pk=channel_id, is_active=True)
        .first()
    )
    if channel is None:
        return 0, False
    bounds = _bounds()
    events = list(
        feed_queryset(after=channel.position, bounds=bounds)
        .filter(partnership_id=channel.partnership_id, object_type__in=CHANGE_TYPES)
        .filter(side_visible(channel.side))  # a channel is one side's: never the other's private changes
        .only("seq", "txid", "object_type", "object_id", "action", "actor_id", "actor_label", "before", "after")[:batch]
    )
    last = channel.position
    if events:
        last = max(last, (int(events[-1].txid), int(events[-1].seq)))
    more = len(events) == batch
    if not more:
        last = max(last, feed_end(bounds))
    wanted = set(channel.event_kinds or [])
    notices = change_notices(channel.partnership, events)
    now = timezone.now()
    rows = [
        ChatDelivery(
            channel=channel,
            event_key=f"change:{seq}",
            event_kind=notice.kind,
            payload=payload_text(channel, notice),
            next_attempt_at=now,
        )
        for seq, notice in notices.items()
        if notice.kind in wanted
    ]
    inserted = _insert(channel, rows)
    if last > channel.position:
        ChatChannel.objects.filter(pk=channel.pk).update(after_txid=last[0], after_seq=last[1])
    if send:
        enqueue(inserted)
    return len(inserted), more


def _insert(channel: ChatChannel, rows: list[ChatDelivery]) -> list[Any]:
    """Insert deliveries, skipping events the channel already has; the ids really inserted."""
    if not rows:
        return []
    created = ChatDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    # ``ignore_conflicts`` returns every object given: the ones really inserted are found again.
    return list(
        ChatDelivery.objects.filter(pk__in=[row.pk for row in created], channel=channel).values_list("pk", flat=True)
    )


def lead_time(partnership: Partnership) -> dt.timedelta:
    """How long before a review its channels hear of it: the longest reminder lead, or two days."""
    offsets = [int(d) for d in (partnership.reminder_offsets_days or []) if str(d).lstrip("-").isdigit()]
    days = max([d for d in offsets if d > 0], default=0)
    return min(dt.timedelta(days=days), MAX_LEAD) if days else DEFAULT_LEAD


def chat_reviews_upcoming(*, now: dt.datetime | None = None, send: bool = True) -> int:
    """Beat: one message per channel and review occurrence once the review is within its
    partnership's lead time; the number made."""
    now = now or timezone.now()
    channels = [
        c
        for c in ChatChannel.objects.filter(is_active=True).select_related("partnership")
        if "review.upcoming" in (c.event_kinds or [])  # not in SQL: SQLite has no JSON "contains"
    ]
    if not channels:
        return 0
    partnerships = {c.partnership_id: c.partnership for c in channels}
    reviews = list(
        AlignmentReview.objects.filter(
            partnership_id__in=list(partnerships),
            status=AlignmentReview.Status.SCHEDULED,
            scheduled_for__gt=now,
            scheduled_for__lte=now + MAX_LEAD,
        ).order_by("scheduled_for")
    )
    made = 0
    for channel in channels:
        partnership = partnerships[channel.partnership_id]
        horizon = now + lead_time(partnership)
        rows = []
        for review in reviews:
            if review.partnership_id != channel.partnership_id or review.scheduled_for > horizon:
                continue
            occurrence = review.occurrence or review.scheduled_for
            rows.append(
                ChatDelivery(
                    channel=channel,
                    event_key=f"review:{review.pk}:{occurrence.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}",
                    event_kind="review.upcoming",
                    payload=payload_text(channel, review_notice(partnership, review)),
                    next_attempt_at=now,
                )
            )
        with transaction.atomic():
            inserted = _insert(channel, rows)
            if send:
                enqueue(inserted)
        made += len(inserted)
    return made


# --- Delivering ---------------------------------------------------------------------------------


def claim(delivery_id: Any, now: dt.datetime) -> bool:
    """Take a due delivery for one attempt (one conditional UPDATE: only one worker wins it)."""
    return (
        ChatDelivery.objects.filter(
            pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now, channel__is_active=True
        ).update(next_attempt_at=now + CLAIM)
        == 1
    )


def deliver(delivery_id: Any, *, now: dt.datetime | None = None) -> Outcome | None:
    """Make one attempt of a due delivery; None if it was not due (or someone else took it)."""
    now = now or timezone.now()
    if not claim(delivery_id, now):
        return None
    delivery = ChatDelivery.objects.select_related("channel").get(pk=delivery_id)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    outcome = post(delivery.channel.url, delivery.payload.encode(), headers)
    record_outcome(delivery, outcome, now=now)
    return outcome


def record_outcome(delivery: ChatDelivery, outcome: Outcome, *, now: dt.datetime) -> ChatAttempt | None:
    """``webhook_delivery.settle`` a chat delivery's attempt: the same log, retries and turning off."""
    return cast(ChatAttempt | None, settle(CHANNELS, delivery, outcome, now=now))


def disable(channel_id: Any, *, reason: str, now: dt.datetime) -> bool:
    """Turn a failing channel off and tell its owner, once (the conditional UPDATE decides who
    does it; the outbox row is unique per recipient and turning-off)."""
    won = ChatChannel.objects.filter(pk=channel_id, is_active=True).update(
        is_active=False, disabled_at=now, disabled_reason=reason[:300], updated_at=now
    )
    if not won:
        return False
    queue_disabled_email(channel_id)
    log.warning("chat channel %s turned off: %s", channel_id, reason)
    return True


CHANNELS = Outlet(
    delivery=ChatDelivery,
    target=ChatChannel,
    attempt=ChatAttempt,
    field="channel",
    answered="The chat service answered {status}.",
    in_a_row="{failures} messages in a row could not be delivered.",
    for_days="Messages have failed for {days} days without a success.",
    disable=disable,
)


def queue_disabled_email(channel_id: Any) -> None:
    """One e-mail per turning-off (its time is the occurrence) to the channel's owner, or, where the
    owner has left the channel's side, to that side organisation's admins."""
    channel = ChatChannel.objects.select_related("partnership", "owner").filter(pk=channel_id, is_active=False).first()
    if channel is None or channel.disabled_at is None:
        return
    now = channel.disabled_at
    owner = channel.owner
    still_there = owner is not None and (
        (access := access_for(owner, channel.partnership)) is not None and access.side == channel.side
    )
    recipients: list[Any] = [channel.owner_id] if still_there else []
    if not recipients:  # the owner left the side (or is gone): its organisation's admins hear instead
        recipients = list(
            OrganisationMembership.objects.filter(
                organisation_id=channel.partnership.organisation_for(channel.side).pk,
                role=OrganisationMembership.Role.ADMIN,
            ).values_list("user_id", flat=True)
        )
    outbox.queue(
        [
            outbox.Message(MailKind.CHAT_CHANNEL_DISABLED, "chat-channel", str(channel_id), now, recipient_id=user_id)
            for user_id in recipients
        ]
    )


def enqueue(delivery_ids: list[Any]) -> None:
    """Send these deliveries once the transaction that made them due commits."""
    if delivery_ids:
        deliver_chat.enqueue_on_commit(delivery_ids)


def due_ids(now: dt.datetime | None = None, limit: int = DUE_BATCH) -> list[Any]:
    return list(
        ChatDelivery.objects.filter(
            status=Status.PENDING, next_attempt_at__lte=now or timezone.now(), channel__is_active=True
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def chat_deliveries_prune(*, now: dt.datetime | None = None) -> int:
    """Forget settled deliveries and their log after ``WEBHOOK_LOG_RETENTION_DAYS``."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=int(settings.WEBHOOK_LOG_RETENTION_DAYS))
    deleted, _ = ChatDelivery.objects.filter(
        status__in=[Status.DELIVERED, Status.FAILED], created_at__lt=cutoff
    ).delete()
    return deleted


# --- Tasks --------------------------------------------------------------------------------------


@shared_task(name="plans.deliver_chat", base=TransactionAwareTask, acks_late=True, time_limit=120, soft_time_limit=100)  # type: ignore[untyped-decorator]
def deliver_chat(delivery_id: str) -> bool:
    return deliver(delivery_id) is not None


@shared_task(name="plans.chat_sweep")  # type: ignore[untyped-decorator]
def chat_sweep_task() -> int:
    return chat_sweep()


@shared_task(name="plans.chat_reviews_upcoming")  # type: ignore[untyped-decorator]
def chat_reviews_upcoming_task() -> int:
    return chat_reviews_upcoming()


@shared_task(name="plans.chat_retry_due")  # type: ignore[untyped-decorator]
def chat_retry_due() -> int:
    """Beat: enqueue every delivery whose next attempt is due (the claim makes overlaps harmless)."""
    ids = due_ids()
    for pk in ids:
        deliver_chat.apply_async(args=[str(pk)])
    return len(ids)


@shared_task(name="plans.prune_chat_deliveries")  # type: ignore[untyped-decorator]
def prune_chat_deliveries() -> int:
    return chat_deliveries_prune()
