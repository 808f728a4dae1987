"""The digest: at 08:00 in each person's own time zone, weekly on Mondays or daily on working days
(``User.digest_frequency``), what waits for them, what changed and what is due in each of their
active partnerships.

When. A period is named by the local calendar day it starts on (``DigestPeriod.key``: that date at
00:00, tagged UTC), never by a UTC instant: every sweep of that local day computes the same key
whatever the DST offset, so the outbox's unique key (kind, person, occurrence) lets exactly one
digest out per person and period. A weekly Monday and a daily Monday share their key, and a
calendar date is the same date in every zone, so changing frequency or time zone on the day a
digest went out never sends a second one for it. The digest is due from the local hour
(``REMINDER_DIGEST_HOUR_LOCAL``, 8) until the end of that local day: a sweep that was down at 08:00
still sends it later that day, never on the next.

The sweep reads the distinct time zones of the people concerned (one query), works out in Python
which (zone, frequency) pairs are in their window now, and selects only the people of those pairs
who have no digest for their period yet (one query): its cost follows the number of zones, not of
people.

What. ``digest_rows`` loads everything in a fixed number of queries whatever the number of
partnerships, goals and changes: the rules are those of every screen (``goals.rules``,
``alignment.reviews``); what changed comes from the change log (``alignment.changes``), classified
and counted in the database.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.db import connection
from django.db.models import Case, CharField, Count, Exists, F, Max, OuterRef, Q, TextField, Value, When, Window
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, RowNumber
from django.templatetags.tz import do_timezone
from django.urls import reverse
from django.utils import timezone

from accounts.models import DigestFrequency, ReminderKind, User
from alignment.access import resolve_many
from alignment.models import ChangeEvent, Partnership, PartnershipMember, Role
from alignment.reviews import next_reviews
from alignment.schedule import localize
from core.models import MailKind, OutboxMessage
from core.outbox import Message, queue
from goals import actions as goal_actions
from goals.models import CheckIn, CheckInReview, Comment, Commitment, Goal, GoalStatus, RevisionState
from goals.rules import (
    NEGOTIATING,
    approved_sides_of,
    check_in_due_on,
    commitment_overdue,
    committed_sides,
    overdue_filter,
    waits_for,
)

RECENT_CHANGES = 3  # the most recent changes named per partnership, beside the counts


def digest_hour() -> int:
    """The local hour the digest goes out at (``REMINDER_DIGEST_HOUR_LOCAL``)."""
    return int(getattr(settings, "REMINDER_DIGEST_HOUR_LOCAL", 8))


def zone_of(name: str) -> zoneinfo.ZoneInfo:
    """A person's zone; UTC for a name that is not (or no longer) an IANA zone."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def local_time(moment: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """``moment`` in ``zone``, marked so the template ``date`` filter does not convert it back."""
    return cast(dt.datetime, do_timezone(moment, zone))


# --- When --------------------------------------------------------------------------------------


def is_digest_day(day: dt.date, frequency: str) -> bool:
    """Mondays for a weekly digest, Monday to Friday for a daily one."""
    return day.weekday() == 0 if frequency == DigestFrequency.WEEKLY else day.weekday() < 5


def _step(day: dt.date, frequency: str, direction: int) -> dt.date:
    """The digest day before (-1) or after (+1) ``day``."""
    day += dt.timedelta(days=direction)
    while not is_digest_day(day, frequency):
        day += dt.timedelta(days=direction)
    return day


@dataclass(frozen=True)
class DigestPeriod:
    """One person's digest period: it starts at the digest hour of ``day`` (local) in ``zone``."""

    frequency: str
    day: dt.date
    zone: zoneinfo.ZoneInfo

    @property
    def key(self) -> dt.datetime:
        """The outbox occurrence: the local date at 00:00, tagged UTC (the same on every run)."""
        return dt.datetime.combine(self.day, dt.time(0), tzinfo=dt.UTC)

    def starts_at(self, day: dt.date | None = None) -> dt.datetime:
        return localize(dt.datetime.combine(day or self.day, dt.time(digest_hour())), self.zone)

    @property
    def previous_start(self) -> dt.datetime:
        """When the previous period began: what changed is counted from here."""
        return self.starts_at(_step(self.day, self.frequency, -1))

    @property
    def due_until(self) -> dt.date:
        """The last local day of this period: what falls due up to here is "coming up"."""
        return _step(self.day, self.frequency, +1) - dt.timedelta(days=1)

    @property
    def weekly(self) -> bool:
        return self.frequency == DigestFrequency.WEEKLY


def due_period(now: dt.datetime, zone: zoneinfo.ZoneInfo, frequency: str) -> DigestPeriod | None:
    """The period whose digest is due at ``now`` for people in ``zone`` with ``frequency``: from
    the digest hour to the end of a digest day, local time; None outside that window."""
    day = now.astimezone(zone).date()
    if not is_digest_day(day, frequency):
        return None
    period = DigestPeriod(frequency, day, zone)
    return period if now >= period.starts_at() else None


def period_of(occurrence: dt.datetime, user: User) -> DigestPeriod:
    """The period an outbox row names, for its person (a row keyed on a weekday that is not a
    Monday is a daily digest, whatever the person chose since)."""
    day = occurrence.date()
    weekly = user.digest_frequency == DigestFrequency.WEEKLY and day.weekday() == 0
    return DigestPeriod(DigestFrequency.WEEKLY if weekly else DigestFrequency.DAILY, day, zone_of(user.timezone))


def current_period(user: User, now: dt.datetime) -> DigestPeriod:
    """The period ``now`` falls in for ``user`` (its digest day on or before today, local)."""
    zone, frequency = zone_of(user.timezone), user.digest_frequency
    day = now.astimezone(zone).date()
    if not is_digest_day(day, frequency) or now < DigestPeriod(frequency, day, zone).starts_at():
        day = _step(day, frequency, -1)
    return DigestPeriod(frequency, day, zone)


def sweep_digest(now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Queue the digest of everyone whose period started (08:00 local on their digest day) and
    who has none for it yet (``REMINDER_WEEKLY_DIGEST = False`` turns digests off for everyone;
    each person can mute them). A fixed number of queries, whatever the number of people."""
    now = now or timezone.now()
    if not getattr(settings, "REMINDER_WEEKLY_DIGEST", True):
        return []
    people = User.objects.filter(
        is_active=True,
        pk__in=PartnershipMember.objects.filter(partnership__status=Partnership.Status.ACTIVE).values("user_id"),
    )
    if connection.vendor == "postgresql":  # JSON containment; elsewhere ``queue`` leaves them out
        people = people.exclude(muted_reminder_kinds__contains=[ReminderKind.WEEKLY_DIGEST])
    keys: dict[tuple[str, str], dt.datetime] = {}
    due = Q(pk__in=[])
    for name in people.order_by().values_list("timezone", flat=True).distinct():
        for frequency in DigestFrequency.values:
            period = due_period(now, zone_of(name), frequency)
            if period is None:
                continue
            keys[(name, frequency)] = period.key
            sent = OutboxMessage.objects.filter(
                kind=MailKind.WEEKLY_DIGEST,
                subject_type="user",
                subject_id=Cast(OuterRef("pk"), CharField()),
                occurrence=period.key,
            )
            due |= Q(~Exists(sent), timezone=name, digest_frequency=frequency)
    if not keys:
        return []
    return queue(
        [
            Message(ReminderKind.WEEKLY_DIGEST, "user", str(pk), keys[(name, frequency)], recipient_id=pk)
            for pk, name, frequency in people.filter(due).values_list("pk", "timezone", "digest_frequency")
        ],
        now,
    )


# --- What changed ------------------------------------------------------------------------------

# Each kind of change the digest reports, as a filter on change events. A goal is proposed when
# its ``proposed_at`` moves and agreed when its ``agreed_at`` does (discarding an amendment changes
# neither); ISO timestamps compare in time order.
_GOAL_UPDATE = Q(object_type="goal", action=ChangeEvent.Action.UPDATE)
_WAS_PROPOSED = Q(before__status=GoalStatus.PROPOSED) | Q(
    before__status=GoalStatus.AGREED, before__amendment=RevisionState.PROPOSED
)
_SENT_BACK = Q(after__status=GoalStatus.CHANGES_REQUESTED) | Q(
    after__status=GoalStatus.AGREED, after__amendment=RevisionState.CHANGES_REQUESTED
)
CHANGE_KINDS: dict[str, Q] = {
    "proposed": _GOAL_UPDATE & Q(proposed_now__gt=F("proposed_before")),
    "agreed": _GOAL_UPDATE & Q(agreed_now__gt=F("agreed_before")),
    "sent_back": _GOAL_UPDATE & _WAS_PROPOSED & _SENT_BACK,
    "check_in": Q(object_type="checkin", action=ChangeEvent.Action.CREATE),
    "comment": Q(object_type="comment", action=ChangeEvent.Action.CREATE, after__kind=Comment.Kind.COMMENT),
    "review_held": Q(object_type="alignmentreview", action=ChangeEvent.Action.UPDATE, after__status="held")
    & ~Q(before__status="held"),
}


def _time_of(key: str) -> Case:
    """A time kept in a change's JSON as text, "" when missing or null. SQLite reads a JSON null
    as the text 'null' (which sorts after every time) where PostgreSQL reads SQL NULL, and a key
    compared as JSON would be parsed as JSON there: the digest failed, then miscounted, on the
    embedded default."""
    return Case(
        When(**{key: None}, then=Value("")),
        default=Coalesce(KT(key), Value(""), output_field=TextField()),
        output_field=TextField(),
    )


def _changes(ids: list[Any], since: dt.datetime, until: dt.datetime) -> Any:
    return (
        ChangeEvent.objects.filter(partnership_id__in=ids, created_at__gte=since, created_at__lt=until)
        .alias(
            proposed_now=_time_of("after__proposed_at"),
            proposed_before=_time_of("before__proposed_at"),
            agreed_now=_time_of("after__agreed_at"),
            agreed_before=_time_of("before__agreed_at"),
        )
        .annotate(what=Case(*(When(q, then=Value(name)) for name, q in CHANGE_KINDS.items()), default=Value("")))
        .exclude(what="")
    )


def load_changes(
    ids: list[Any], since: dt.datetime, until: dt.datetime
) -> tuple[dict[Any, dict[str, int]], dict[Any, list[dict[str, Any]]]]:
    """What changed in each partnership between ``since`` and ``until``: counts by kind, and the
    ``RECENT_CHANGES`` most recent changes of each (two queries)."""
    counts: dict[Any, dict[str, int]] = defaultdict(dict)
    for row in _changes(ids, since, until).order_by().values("partnership_id", "what").annotate(n=Count("seq")):
        counts[row["partnership_id"]][row["what"]] = row["n"]
    recent: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in (
        _changes(ids, since, until)
        .annotate(
            rank=Window(RowNumber(), partition_by=F("partnership_id"), order_by=F("seq").desc()),
            title=KT("after__title"),
            goal_ref=KT("after__goal"),
        )
        .filter(rank__lte=RECENT_CHANGES)
        .order_by("partnership_id", "-seq")
        .values("partnership_id", "what", "actor_label", "created_at", "object_type", "object_id", "title", "goal_ref")
    ):
        recent[row["partnership_id"]].append(row)
    return counts, recent


# --- What it says ------------------------------------------------------------------------------


def _site(path: str) -> str:
    return cast(str, settings.SITE_URL) + path


def digest_rows(user: User, now: dt.datetime, period: DigestPeriod | None = None) -> list[dict[str, Any]]:
    """Per active partnership of the person (``news`` when there is something to say): the goals waiting
    for their side, with action links for what they may do on each from the e-mail; what changed
    since the previous period; their commitments overdue and due in this period, the check-ins due
    from them, and the next review. A fixed number of queries."""
    period = period or current_period(user, now)
    memberships = {
        m.partnership_id: m
        for m in PartnershipMember.objects.filter(
            user=user, partnership__status=Partnership.Status.ACTIVE
        ).select_related("partnership")
    }
    if not memberships:
        return []
    accesses = resolve_many(user, [m.partnership for m in memberships.values()])
    memberships = {pid: m for pid, m in memberships.items() if pid in accesses}  # none for a deactivated person
    if not memberships:
        return []
    ids = list(memberships)
    today = now.astimezone(period.zone).date()
    reviews = next_reviews(ids, now)
    negotiating = list(Goal.objects.filter(NEGOTIATING, partnership_id__in=ids).order_by("proposed_at", "created_at"))
    approved = approved_sides_of(g.pk for g in negotiating)
    waiting = [g for g in negotiating if waits_for(g, accesses[g.partnership_id].side, approved.get(g.pk, ()))]
    committed: dict[Any, set[str]] = defaultdict(set)
    proposed = [g.pk for g in waiting if g.negotiation_state == RevisionState.PROPOSED]
    by_goal: dict[Any, list[Commitment]] = defaultdict(list)
    for c in Commitment.objects.filter(goal_id__in=proposed):
        by_goal[c.goal_id].append(c)
    for goal_id, commitments in by_goal.items():
        committed[goal_id] = committed_sides(commitments)
    offers = goal_actions.offered_links_many(user, waiting, accesses, approved, committed)
    figures = _figures_to_confirm(accesses, ids)
    figure_links = goal_actions.figure_links_many(user, [f for shown in figures.values() for f in shown[0]], accesses)
    endorse = goal_actions.endorse_links_many(user, accesses)
    coming = Q(goal__status=GoalStatus.AGREED, placeholder=False, done=False, due_date__range=(today, period.due_until))
    mine = list(
        Commitment.objects.filter(overdue_filter(today) | coming, goal__partnership_id__in=ids, owner=user)
        .select_related("goal")
        .order_by("due_date", "created_at")
    )
    overdue = [c for c in mine if commitment_overdue(c, c.goal.status, today)]
    check_ins = _check_ins_due(user, memberships, period.due_until, today)
    counts, recent = load_changes(ids, period.previous_start, now)
    titles = {
        str(pk): title
        for pk, title in Goal.objects.filter(
            pk__in={r["goal_ref"] for rows in recent.values() for r in rows if r["goal_ref"]}
        )
        .values_list("pk", "title")
        .order_by()
    }
    rows = []
    for pid, m in memberships.items():
        review = reviews.get(pid)
        review_local = local_time(review.scheduled_for, period.zone) if review else None
        row = {
            "partnership": m.partnership,
            "side": accesses[pid].side,
            "url": _site(reverse("plan", args=[pid])),
            "next_review": review,
            "next_review_local": review_local,
            "review_in_period": review_local is not None and review_local.date() <= period.due_until,
            "waiting": [
                {
                    "goal": g,
                    "state": g.negotiation_state,
                    "actions": offers.get(g.pk, []),
                    "url": _site(reverse("goal-thread", args=[pid, g.pk])),
                }
                for g in waiting
                if g.partnership_id == pid
            ],
            "overdue": [c for c in overdue if c.goal.partnership_id == pid],
            "due": [c for c in mine if c.goal.partnership_id == pid and c not in overdue],
            "check_ins_due": check_ins.get(pid, []),
            "figures_to_confirm": [
                {
                    "check_in": ci,
                    "goal": ci.goal,
                    "link": figure_links.get(ci.pk),
                    "url": _site(reverse("goal-thread", args=[pid, ci.goal_id])),
                }
                for ci in figures.get(pid, ([], 0))[0]
            ],
            "figures_more": figures.get(pid, ([], 0))[1],
            "endorse": endorse.get(pid),
            "changes": [{"what": what, "count": counts[pid][what]} for what in CHANGE_KINDS if counts[pid].get(what)],
            "recent": [
                {
                    "what": r["what"],
                    "who": r["actor_label"],
                    "when": local_time(r["created_at"], period.zone),
                    "goal": r["title"] if r["object_type"] == "goal" else titles.get(str(r["goal_ref"]), ""),
                }
                for r in recent.get(pid, [])
            ],
        }
        row["news"] = any(
            row[k]
            for k in (
                "waiting",
                "endorse",
                "figures_to_confirm",
                "overdue",
                "due",
                "check_ins_due",
                "changes",
                "review_in_period",
            )
        )
        rows.append(row)
    return rows


FIGURES_SHOWN = 10  # figures to confirm named per partnership, each with its link; the rest counted


def _figures_to_confirm(accesses: dict[Any, Any], ids: list[Any]) -> dict[Any, tuple[list[CheckIn], int]]:
    """Per partnership where the person edits: the oldest ``FIGURES_SHOWN`` figures the other side
    entered that still wait for their side to confirm or dispute (two-key actuals), and how many
    wait in all. One query, however many figures wait."""
    sides = Q(pk__in=[])
    for pid in ids:
        access = accesses[pid]
        if access.can_edit:
            sides |= Q(goal__partnership_id=pid, side=access.other_side)
    rows = (
        CheckIn.objects.filter(sides, review=CheckInReview.UNCONFIRMED)
        .select_related("goal", "author")
        .annotate(
            place=Window(
                RowNumber(),
                partition_by=[F("goal__partnership_id")],
                order_by=[F("measured_on").asc(), F("created_at").asc()],
            ),
            waiting=Window(Count("id"), partition_by=[F("goal__partnership_id")]),
        )
        .filter(place__lte=FIGURES_SHOWN)
        .order_by("goal__partnership_id", "place")
    )
    found: dict[Any, tuple[list[CheckIn], int]] = {}
    for ci in rows:
        shown, _ = found.get(ci.goal.partnership_id, ([], 0))
        shown.append(ci)
        found[ci.goal.partnership_id] = (shown, cast(int, ci.waiting) - len(shown))
    return {pid: (shown, more) for pid, (shown, more) in found.items()}


def _check_ins_due(
    user: User, memberships: dict[Any, PartnershipMember], until: dt.date, today: dt.date
) -> dict[Any, list[dict[str, Any]]]:
    """Agreed goals in their period whose next check-in falls due by ``until`` and is the person's
    to make: they own a commitment of their side, or nobody on their side owns one and they edit
    (the check-in reminder's rule). Three queries."""
    goals = list(
        Goal.objects.filter(
            status=GoalStatus.AGREED,
            period_start__lte=today,
            period_end__gte=today,
            partnership_id__in=list(memberships),
        ).order_by("period_end", "title")
    )
    ids = [g.pk for g in goals]
    last = dict(
        CheckIn.objects.filter(goal_id__in=ids)
        .values("goal_id")
        .annotate(last=Max("measured_on"))
        .values_list("goal_id", "last")
    )
    owners: dict[tuple[Any, str], set[int]] = defaultdict(set)
    for goal_id, side, owner_id in Commitment.objects.filter(
        goal_id__in=ids, owner__isnull=False, placeholder=False
    ).values_list("goal_id", "side", "owner_id"):
        owners[(goal_id, side)].add(owner_id)
    due: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for g in goals:
        m = memberships[g.partnership_id]
        side_owners = owners[(g.pk, m.side)]
        if not (user.pk in side_owners or (not side_owners and m.role != Role.VIEWER)):
            continue
        due_on = check_in_due_on(last_measured=last.get(g.pk), period_start=g.period_start, agreed_at=g.agreed_at)
        if due_on <= until:
            due[g.partnership_id].append({"goal": g, "due_on": due_on, "overdue": due_on < today})
    return due
