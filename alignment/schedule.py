"""Review occurrences from a partnership's cadence, computed in its time zone, stored in UTC.

Policy for local times that do not exist or exist twice on DST changes:
- a time inside a spring-forward gap moves forward by the gap (02:30 that does not exist → 03:30);
- a time that occurs twice in autumn takes the first occurrence (``fold=0``).
Either way each occurrence of the cadence maps to exactly one instant.

Working days: unless a partnership turns it off (``reviews_on_working_days``), a review whose
occurrence falls on a Saturday or Sunday in the partnership's zone is held on the nearest working
day instead (Saturday → Friday, Sunday → Monday) at the same local time, under the same DST
policy. A custom RRULE that names weekend days in its BYDAY asked for them and is kept as written.
The review still stands for the cadence's own occurrence (``AlignmentReview.occurrence``, its
identity, unique per partnership); only its time (``scheduled_for``) moves, so an occurrence on a
working day keeps the identity and the reminder keys it always had. When a move lands on a day
that has an occurrence of its own (a daily cadence), that day's occurrence keeps it and the
weekend one has no review.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterator
from typing import NamedTuple

from dateutil import rrule
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from core.errors import InvalidInput

from .changes import record_change
from .models import AlignmentReview, ChangeEvent, Partnership

CADENCE_RULES = {
    "monthly": "FREQ=MONTHLY;INTERVAL=1",
    "quarterly": "FREQ=MONTHLY;INTERVAL=3",
    "half_yearly": "FREQ=MONTHLY;INTERVAL=6",
    "yearly": "FREQ=YEARLY;INTERVAL=1",
}
MAX_RRULE_LENGTH = 500
UNTIL_UTC = re.compile(r"UNTIL=(\d{8}(?:T\d{6})?)Z", re.IGNORECASE)
BYDAY = re.compile(r"(?:^|[;:\s])BYDAY\s*=([^;]*)", re.IGNORECASE)
WEEKEND_DAY = re.compile(r"(SA|SU)\s*$", re.IGNORECASE)
SATURDAY, SUNDAY = 5, 6
# How far (in local days) a review can move from its occurrence, plus a day for DST shifts.
SEARCH_MARGIN = dt.timedelta(days=2)
MAX_STEPS = 1000


class Slot(NamedTuple):
    """One occurrence of the cadence and when its review is held (both UTC)."""

    occurrence: dt.datetime  # the cadence's own instant: the review's identity
    scheduled_for: dt.datetime  # the same, moved to a working day when the partnership asks


def parse_rrule(text: str, dtstart: dt.datetime | None = None) -> rrule.rrule:
    text = (text or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or len(text) > MAX_RRULE_LENGTH:
        raise InvalidInput(
            "Give an RFC 5545 RRULE, e.g. FREQ=MONTHLY;INTERVAL=2;BYDAY=1TU.",
            fields={"review_rrule": ["Enter a recurrence rule."]},
        )
    # Occurrences are computed on local wall-clock times, so a UTC UNTIL (RFC 5545 asks for one
    # when DTSTART has a zone) is read as local too: it can move the rule's end by the zone offset.
    text = UNTIL_UTC.sub(r"UNTIL=\1", text)
    try:
        # A naive local wall-clock start: the zone is applied per occurrence by ``localize``.
        rule = rrule.rrulestr(text, dtstart=dtstart or dt.datetime(2000, 1, 1), forceset=False)  # noqa: DTZ001
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise InvalidInput(f"Not a valid RRULE: {exc}", fields={"review_rrule": [f"Not a valid RRULE: {exc}"]}) from exc
    if not isinstance(rule, rrule.rrule):
        raise InvalidInput("Give a single RRULE.", fields={"review_rrule": ["Give a single RRULE."]})
    if rule._freq in (rrule.SECONDLY, rrule.MINUTELY, rrule.HOURLY):
        raise InvalidInput("Reviews recur at most daily.", fields={"review_rrule": ["Use DAILY or slower."]})
    return rule


def localize(naive: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """Attach ``zone`` to a local wall-clock time, following the module's DST policy; returns UTC.

    ``fold=0`` means the offset in force before a transition: for a time in a spring-forward gap
    that lands the gap's length later (02:30 → 03:30), for a repeated autumn time the first one.
    """
    return naive.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)


def cadence_rule(p: Partnership) -> rrule.rrule:
    zone = zoneinfo.ZoneInfo(p.timezone)
    anchor_day = p.created_at.astimezone(zone).date()
    dtstart = dt.datetime.combine(anchor_day.replace(day=min(anchor_day.day, 28)), p.review_time)
    if p.review_cadence == "custom":
        return parse_rrule(p.review_rrule, dtstart)
    return rrule.rrulestr(CADENCE_RULES[p.review_cadence], dtstart=dtstart)


def names_weekend_days(rule_text: str) -> bool:
    """Does a custom RRULE ask for Saturdays or Sundays by name (BYDAY=SA, BYDAY=-1SU, ...)?"""
    return any(
        WEEKEND_DAY.search(day) for part in BYDAY.findall(rule_text.strip()) for day in part.split(",") if day.strip()
    )


def moves_off_weekends(p: Partnership) -> bool:
    """Are this partnership's weekend reviews moved to the nearest working day?"""
    if not p.reviews_on_working_days:
        return False
    return not (p.review_cadence == Partnership.Cadence.CUSTOM and names_weekend_days(p.review_rrule))


def nearest_working_day(local: dt.datetime) -> dt.datetime:
    """A local wall-clock time on Saturday moves to Friday, on Sunday to Monday, at the same time."""
    if local.weekday() == SATURDAY:
        return local - dt.timedelta(days=1)
    if local.weekday() == SUNDAY:
        return local + dt.timedelta(days=1)
    return local


def _walk(p: Partnership, start: dt.datetime) -> Iterator[Slot]:
    """The cadence's slots in order, from a little before ``start`` (aware) on.

    The walk begins ``SEARCH_MARGIN`` early in local time, so every occurrence that a move or a
    DST shift could bring after ``start`` is seen, and so is any occurrence a move collides with.
    A move that lands on a day that has its own occurrence (a daily cadence) gives way to it: one
    review per day, and an occurrence that is not moved keeps its identity.
    """
    zone = zoneinfo.ZoneInfo(p.timezone)
    rule = cadence_rule(p)
    move = moves_off_weekends(p)
    cursor = start.astimezone(zone).replace(tzinfo=None) - SEARCH_MARGIN
    pending: tuple[dt.datetime, dt.datetime] | None = None  # (occurrence, held), both local
    for _ in range(MAX_STEPS):
        local = rule.after(cursor, inc=False)
        if local is None:
            break
        cursor = local
        held = nearest_working_day(local) if move else local
        if pending is not None and held <= pending[1]:
            if held == pending[1] and held == local:
                pending = (local, held)  # the day's own occurrence takes the day from a moved one
            continue
        if pending is not None:
            yield Slot(localize(pending[0], zone), localize(pending[1], zone))
        pending = (local, held)
    if pending is not None:
        yield Slot(localize(pending[0], zone), localize(pending[1], zone))


def slots(p: Partnership, after: dt.datetime, count: int = 1, *, past: dt.datetime | None = None) -> list[Slot]:
    """The next ``count`` slots whose review is held strictly after ``after`` (aware).

    ``past`` is the last occurrence already on the calendar: only later occurrences count, so an
    occurrence moved past it (Sunday → Monday) is not scheduled twice. Without it, ``after``
    bounds the occurrences too.
    """
    past = after if past is None else past
    found: list[Slot] = []
    # A review held after ``after`` stands for an occurrence at most a day earlier.
    for slot in _walk(p, max(past, after - SEARCH_MARGIN)):
        if slot.scheduled_for > after and slot.occurrence > past:
            found.append(slot)
            if len(found) == count:
                break
    return found


def next_slot(p: Partnership, *, now: dt.datetime, last: dt.datetime | None) -> Slot:
    """The slot to schedule next: the first occurrence after ``last`` (the latest occurrence
    already scheduled, held or skipped, or None) whose review is still ahead of ``now``."""
    found = slots(p, now, 1, past=last if last is not None else now - SEARCH_MARGIN)
    if not found:
        raise InvalidInput(
            "The review cadence has no further occurrence.", fields={"review_rrule": ["The rule has ended."]}
        )
    return found[0]


def occurrences(p: Partnership, after: dt.datetime, count: int = 1) -> list[dt.datetime]:
    """When the next ``count`` reviews after ``after`` (aware) are held, as UTC datetimes."""
    return [slot.scheduled_for for slot in slots(p, after, count)]


def next_occurrence(p: Partnership, after: dt.datetime) -> dt.datetime:
    """When the next review after ``after`` is held (UTC)."""
    return next_slot(p, now=after, last=after).scheduled_for


def upcoming(p: Partnership, count: int = 4, after: dt.datetime | None = None) -> list[dt.datetime]:
    """When the next ``count`` reviews of the cadence are held (UTC), for showing the rhythm ahead."""
    try:
        return occurrences(p, after or timezone.now(), count)
    except InvalidInput:
        return []


def keep_next_review_scheduled(now: dt.datetime | None = None) -> list[AlignmentReview]:
    """Schedule the cadence's next occurrence for every active partnership that has no scheduled
    review (a new partnership, or one whose last review was skipped). Safe to run concurrently:
    the ``review_occurrence_unique`` constraint lets only one sweep insert an occurrence.

    Holding a review schedules the next one in ``review_hold``; this sweep is the safety net.
    """
    now = now or timezone.now()
    scheduled = AlignmentReview.objects.filter(status=AlignmentReview.Status.SCHEDULED).values("partnership_id")
    due = list(Partnership.objects.filter(status=Partnership.Status.ACTIVE).exclude(id__in=scheduled))
    last = dict(
        AlignmentReview.objects.filter(partnership__in=[p.pk for p in due], occurrence__isnull=False)
        .values("partnership_id")
        .annotate(last=Max("occurrence"))
        .values_list("partnership_id", "last")
    )
    created: list[AlignmentReview] = []
    for p in due:
        try:
            slot = next_slot(p, now=now, last=last.get(p.pk))
        except InvalidInput:
            continue  # a custom rule that has ended: nothing left to schedule
        review = AlignmentReview(
            partnership=p, scheduled_for=slot.scheduled_for, occurrence=slot.occurrence, title="Alignment review"
        )
        try:
            with transaction.atomic():
                review.save(force_insert=True)
                record_change(
                    actor=None,
                    partnership=p,
                    obj=review,
                    action=ChangeEvent.Action.CREATE,
                    summary=f"scheduled a review for {slot.scheduled_for:%Y-%m-%d %H:%M} UTC",
                )
        except IntegrityError:
            continue  # another sweep scheduled it a moment ago
        created.append(review)
    return created
