"""A person's calendar subscription: their alignment reviews and goal period ends as one iCalendar
feed (RFC 5545), fetched by calendar clients from the secret link of ``accounts.models.CalendarFeed``.

What the feed holds, for every partnership the person may see (``alignment.access.visible_partnerships``;
leaving a partnership takes its events out of the feed):

- Alignment reviews scheduled up to ``PAST_DAYS`` ago and every later one, at their time in UTC and
  for the partnership's review length. A held review stays as a past event.
- A skipped review stays ``CANCELLED_DAYS`` after its date with ``STATUS:CANCELLED`` (clients strike it
  through or remove it), then leaves the feed. A review that no longer exists is simply absent:
  clients delete the events a subscribed feed no longer carries.
- The period end of every proposed or agreed goal (ending up to ``PAST_DAYS`` ago) as an all-day,
  free ("transparent") event. A goal that is closed, withdrawn or sent back leaves the feed.

UIDs are stable (``review-<id>@partnerplan``, the UID of the review invitations sent by e-mail, and
``goal-end-<id>@partnerplan``); SEQUENCE is the object's version, DTSTAMP and LAST-MODIFIED its last
change, so a moved review updates in place. The feed is built in a fixed number of queries.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from icalendar import Calendar, Event, vDuration, vText

from accounts.models import User
from alignment.access import visible_partnerships
from alignment.models import AlignmentReview
from goals.models import Goal, GoalStatus

PAST_DAYS = 365
CANCELLED_DAYS = 30
REFRESH = dt.timedelta(hours=1)
UID_HOST = "partnerplan"
GOAL_STATUSES = (GoalStatus.PROPOSED, GoalStatus.AGREED)


def review_uid(review_id: object) -> str:
    """The UID of a review's event: the same in the feed and in the e-mailed invitation."""
    return f"review-{review_id}@{UID_HOST}"


def goal_end_uid(goal_id: object) -> str:
    return f"goal-end-{goal_id}@{UID_HOST}"


def _url(name: str, *args: object) -> str:
    return cast(str, settings.SITE_URL) + reverse(name, args=args)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def _stamp(event: Event, uid: str, version: int, created: dt.datetime, updated: dt.datetime) -> None:
    event.add("uid", uid)
    event.add("sequence", version)
    event.add("dtstamp", _utc(updated))
    event.add("last-modified", _utc(updated))
    event.add("created", _utc(created))


def review_event(review: AlignmentReview) -> Event:
    p = review.partnership
    start = _utc(review.scheduled_for)
    url = _url("reviews:detail", p.pk, review.pk)
    event = Event()
    _stamp(event, review_uid(review.pk), review.version, review.created_at, review.updated_at)
    title = review.title or gettext("Alignment review")
    event.add("summary", gettext("%(review)s: %(partnership)s") % {"review": title, "partnership": p.name})
    event.add("dtstart", start)
    event.add("dtend", start + dt.timedelta(minutes=p.review_duration_minutes))
    if review.status == AlignmentReview.Status.SKIPPED:
        event.add("status", "CANCELLED")
        state = gettext("This review was skipped.")
    else:
        event.add("status", "CONFIRMED")
        held = review.status == AlignmentReview.Status.HELD
        state = gettext("Held on %(day)s.") % {"day": f"{review.held_on:%Y-%m-%d}"} if held else ""
    event.add("transp", "OPAQUE")
    event.add("url", url)
    about = gettext("Alignment review of %(partnership)s.") % {"partnership": p.name}
    agenda = gettext("Agenda: %(url)s") % {"url": url}
    event.add("description", " ".join(filter(None, [about, state, agenda])))
    return event


def goal_end_event(goal: Goal) -> Event:
    p = goal.partnership
    url = _url("goal_detail", p.pk, goal.pk)
    event = Event()
    _stamp(event, goal_end_uid(goal.pk), goal.version, goal.created_at, goal.updated_at)
    event.add("summary", gettext("Goal period ends: %(title)s") % {"title": goal.title})
    event.add("dtstart", goal.period_end)
    event.add("dtend", goal.period_end + dt.timedelta(days=1))
    event.add("status", "CONFIRMED" if goal.status == GoalStatus.AGREED else "TENTATIVE")
    event.add("transp", "TRANSPARENT")
    event.add("url", url)
    if goal.status == GoalStatus.AGREED:
        text = gettext("The period of the goal “%(title)s” (agreed) of %(partnership)s ends on %(day)s.")
    else:
        text = gettext(
            "The period of the goal “%(title)s” (proposed, not agreed yet) of %(partnership)s ends on %(day)s."
        )
    day = f"{goal.period_end:%Y-%m-%d}"
    event.add("description", f"{text % {'title': goal.title, 'partnership': p.name, 'day': day}} {url}")
    return event


def feed_reviews(user: User, now: dt.datetime) -> list[AlignmentReview]:
    recent = AlignmentReview.objects.filter(
        status__in=[AlignmentReview.Status.SCHEDULED, AlignmentReview.Status.HELD],
        scheduled_for__gte=now - dt.timedelta(days=PAST_DAYS),
    ) | AlignmentReview.objects.filter(
        status=AlignmentReview.Status.SKIPPED, scheduled_for__gte=now - dt.timedelta(days=CANCELLED_DAYS)
    )
    return list(
        recent.filter(partnership__in=visible_partnerships(user))
        .select_related("partnership")
        .order_by("scheduled_for", "pk")
    )


def feed_goals(user: User, now: dt.datetime) -> list[Goal]:
    return list(
        Goal.objects.filter(
            partnership__in=visible_partnerships(user),
            status__in=GOAL_STATUSES,
            period_end__gte=(now - dt.timedelta(days=PAST_DAYS)).date(),
        )
        .select_related("partnership")
        .order_by("period_end", "pk")
    )


def calendar_name(user: User) -> str:
    return f"Partnerplan — {user.display_name}"


def build_feed(user: User, now: dt.datetime | None = None) -> bytes:
    """The person's feed as iCalendar bytes (two queries, whatever the number of partnerships), in
    their language (a calendar client fetching it says none of its own)."""
    with translation.override(user.language or translation.get_language()):
        return _build_feed(user, now or timezone.now())


def _build_feed(user: User, now: dt.datetime) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Partnerplan//Calendar feed//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", calendar_name(user))
    cal.add("name", calendar_name(user))  # RFC 7986
    cal.add("x-wr-caldesc", vText(gettext("Alignment reviews and goal period ends of your partnerships")))
    cal.add("refresh-interval", vDuration(REFRESH), parameters={"VALUE": "DURATION"})  # RFC 7986
    cal.add("x-published-ttl", vDuration(REFRESH))
    for review in feed_reviews(user, now):
        cal.add_component(review_event(review))
    for goal in feed_goals(user, now):
        cal.add_component(goal_end_event(goal))
    ics: bytes = cal.to_ical()
    return ics
