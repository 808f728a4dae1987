"""Review occurrences from a partnership's cadence, computed in its time zone, stored in UTC.

Policy for local times that do not exist or exist twice on DST changes:
- a time inside a spring-forward gap moves forward by the gap (02:30 that does not exist → 03:30);
- a time that occurs twice in autumn takes the first occurrence (``fold=0``).
Either way each occurrence of the cadence maps to exactly one instant.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

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


def occurrences(p: Partnership, after: dt.datetime, count: int = 1) -> list[dt.datetime]:
    """The next ``count`` occurrences strictly after ``after`` (aware), as UTC datetimes."""
    zone = zoneinfo.ZoneInfo(p.timezone)
    rule = cadence_rule(p)
    # Step through local wall-clock times; start a day early so a DST shift cannot skip one.
    cursor = after.astimezone(zone).replace(tzinfo=None) - dt.timedelta(days=1)
    found: list[dt.datetime] = []
    guard = 0
    while len(found) < count and guard < 1000:
        guard += 1
        nxt = rule.after(cursor, inc=False)
        if nxt is None:
            break
        cursor = nxt
        instant = localize(nxt, zone)
        if instant > after:
            found.append(instant)
    return found


def next_occurrence(p: Partnership, after: dt.datetime) -> dt.datetime:
    found = occurrences(p, after, 1)
    if not found:
        raise InvalidInput(
            "The review cadence has no further occurrence.", fields={"review_rrule": ["The rule has ended."]}
        )
    return found[0]


def upcoming(p: Partnership, count: int = 4, after: dt.datetime | None = None) -> list[dt.datetime]:
    """The next ``count`` occurrences of the cadence (UTC), for showing the rhythm ahead."""
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
        after = max(now, last[p.pk]) if p.pk in last else now
        try:
            occurrence = next_occurrence(p, after)
        except InvalidInput:
            continue  # a custom rule that has ended: nothing left to schedule
        review = AlignmentReview(
            partnership=p, scheduled_for=occurrence, occurrence=occurrence, title="Alignment review"
        )
        try:
            with transaction.atomic():
                review.save(force_insert=True)
                record_change(
                    actor=None,
                    partnership=p,
                    obj=review,
                    action=ChangeEvent.Action.CREATE,
                    summary=f"scheduled a review for {occurrence:%Y-%m-%d %H:%M} UTC",
                )
        except IntegrityError:
            continue  # another sweep scheduled it a moment ago
        created.append(review)
    return created
