"""Review occurrences from a partnership's cadence, computed in its time zone, stored in UTC.

Policy for local times that do not exist or exist twice on DST changes:
- a time inside a spring-forward gap moves forward by the gap (02:30 that does not exist → 03:30);
- a time that occurs twice in autumn takes the first occurrence (``fold=0``).
Either way each occurrence of the cadence maps to exactly one instant.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING

from dateutil import rrule

from .errors import InvalidInput

if TYPE_CHECKING:
    from .models import Partnership

CADENCE_RULES = {
    "monthly": "FREQ=MONTHLY;INTERVAL=1",
    "quarterly": "FREQ=MONTHLY;INTERVAL=3",
    "half_yearly": "FREQ=MONTHLY;INTERVAL=6",
    "yearly": "FREQ=YEARLY;INTERVAL=1",
}
MAX_RRULE_LENGTH = 500


def parse_rrule(text: str, dtstart: dt.datetime | None = None) -> rrule.rrule:
    text = (text or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or len(text) > MAX_RRULE_LENGTH:
        raise InvalidInput("Give an RFC 5545 RRULE, e.g. FREQ=MONTHLY;INTERVAL=2;BYDAY=1TU.",
                           fields={"review_rrule": ["Enter a recurrence rule."]})
    try:
        rule = rrule.rrulestr(text, dtstart=dtstart or dt.datetime(2000, 1, 1), forceset=False)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise InvalidInput(f"Not a valid RRULE: {exc}", fields={"review_rrule": [f"Not a valid RRULE: {exc}"]}) from exc
    if not isinstance(rule, rrule.rrule):
        raise InvalidInput("Give a single RRULE.", fields={"review_rrule": ["Give a single RRULE."]})
    if rule._freq in (rrule.SECONDLY, rrule.MINUTELY, rrule.HOURLY):  # noqa: SLF001
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
    return rrule.rrulestr(CADENCE_RULES[p.review_cadence], dtstart=dtstart)  # type: ignore[return-value]


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
        raise InvalidInput("The review cadence has no further occurrence.",
                           fields={"review_rrule": ["The rule has ended."]})
    return found[0]
