"""The plan's history as sentences a person reads, a page at a time.

Every change to a plan is a ``ChangeEvent`` (``alignment.changes``) with the state before and
after. The history turns each into one sentence — "Pat Partner approved “Pipeline Q4” (revision 2)
for the partner side" — and, where fields changed, a row per field with its label, the value
before and the value after, formatted as the plan shows them: people by name, goals by title,
dates and numbers for people (``core.templatetags.formatting``), choices by their label, times in
the reader's zone (review times in the partnership's). Ids and bookkeeping fields never show.

A page is the ``PAGE_SIZE`` events before a cursor (newest first), loaded with a fixed number of
queries whatever the plan's size: the events, then the people and the goals they name, each in one
query.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from alignment.access import Access
from alignment.economics import side_visible
from alignment.models import ChangeEvent, Objective
from core.templatetags.formatting import format_number, format_quantity, format_when, role_word, side_word
from goals.models import Goal

PAGE_SIZE = 20
CURSOR = re.compile(r"^(\d{1,20})\.(\d{1,20})$")
MAX_TEXT = 160

# Bookkeeping: never a row of its own.
HIDDEN_FIELDS = {
    "id",
    "version",
    "created_at",
    "updated_at",
    "partnership",
    "goal",
    "vision",
    "revision_open",
    "goal_snapshot",
    "position",
    "placeholder",
    "occurrence",
    "proposed_at",
    "proposed_by_side",
    "agreed_at",
    "agreed_revision",
    "amendment",
    "closed_at",
    "done_at",
    "reviewed_at",
    "created_by",
    "revision",
    "kind",
    # A correction's reason: the history quotes it under the sentence.
    "correction_reason",
}

# Labels as the forms and pages name the fields; a field not listed uses its model's verbose name.
LABELS = {
    "title": _("Title"),
    "name": _("Name"),
    "description": _("Description"),
    "status": _("Status"),
    "metric_name": _("Metric"),
    "metric_unit": _("Unit"),
    "baseline": _("Baseline"),
    "baseline_date": _("Baseline date"),
    "target": _("Target"),
    "target_date": _("Target date"),
    "direction": _("Direction"),
    "period_start": _("Period start"),
    "period_end": _("Period end"),
    "success_measure": _("How success is measured"),
    "vendor_gain": _("What it gives the vendor"),
    "partner_gain": _("What it gives the partner"),
    "vendor_drivers": _("Vendor's business drivers"),
    "partner_drivers": _("Partner's business drivers"),
    "why_together": _("Why we are in business together"),
    "what_we_hope": _("What we hope to accomplish together"),
    "how_we_work": _("How we best work together"),
    "horizon": _("Looking ahead to"),
    "text": _("Commitment"),
    "due_date": _("Due"),
    "done": _("Done"),
    "owner": _("Owner"),
    "side": _("Side"),
    "role": _("Role"),
    "value": _("Value"),
    "confidence": _("Confidence"),
    "measured_on": _("Measured on"),
    "note": _("Note"),
    "body": _("Comment"),
    "scheduled_for": _("Time"),
    "held_on": _("Held on"),
    "attendees": _("Attendees"),
    "other_attendees": _("Other attendees"),
    "notes": _("Notes"),
    "decisions": _("Decisions"),
    "health_score": _("Health when held"),
    "partner_type": _("Kind of partner"),
    "margin_percent": _("Margin"),
    "referral_fee_percent": _("Referral fee"),
    "economic_notes": _("Notes on the economics"),
    "review_cadence": _("Review cadence"),
    "review_rrule": _("Custom cadence"),
    "review_time": _("Review time"),
    "review_duration_minutes": _("Review length"),
    "timezone": _("Time zone"),
    "reminder_offsets_days": _("Reminders (days before a review)"),
    "reviews_on_working_days": _("Reviews on working days only"),
    "close_note": _("Closing note"),
    "objective": _("Objective"),
    "email": _("E-mail"),
    "user": _("Person"),
    "author": _("Author"),
    "review": _("Both sides"),
    "reviewed_by": _("Confirmed or disputed by"),
    "disputed_value": _("The other side's number"),
    "dispute_note": _("Why it differs"),
}
PERCENT_FIELDS = {"margin_percent", "referral_fee_percent"}
# The sentences services wrote before the history formatted times itself say "… 2026-08-21 10:00 UTC".
UTC_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}) UTC")
# "edited the terms of “X” (target, period_end)": the rows below name the fields.
FIELD_LIST = re.compile(r" \(([a-z_]+(?:, [a-z_]+)*)\)$")

# The summaries services record with a change are stored in English: the change log is one for
# every reader, whatever their language. The history reads the usual ones in the reader's language
# (old events included): each pattern is a summary as the services write it, after the field list
# is cut, and gives the same sentence marked for translation. A summary no pattern knows is shown
# as stored.
_TITLE, _SIDE, _ROLE = r"(?P<title>“.*”)", r"(?P<side>vendor|partner)", r"(?P<role>viewer|editor|approver)"
_EMAIL, _REVISION = r"(?P<email>\S+@\S+)", r"\(revision (?P<revision>\d+)\)"
SUMMARIES = [
    (re.compile(f"^{pattern}$"), sentence)
    for pattern, sentence in [
        ("created the vision", _("created the vision")),
        ("edited the vision", _("edited the vision")),
        ("changed the partnership settings", _("changed the partnership settings")),
        ("accepted the invitation", _("accepted the invitation")),
        ("updated a review", _("updated a review")),
        ("skipped a review", _("skipped a review")),
        ("recorded a review", _("recorded a review")),
        ("deleted a comment on a review", _("deleted a comment on a review")),
        ("commented on a change request", _("commented on a change request")),
        ("deleted a commitment with its goal", _("deleted a commitment with its goal")),
        ("deleted with its goal", _("deleted with its goal")),
        ("removed a commitment with the discarded amendment", _("removed a commitment with the discarded amendment")),
        ("restored a commitment to the agreed revision", _("restored a commitment to the agreed revision")),
        ("restored a commitment of the agreed revision", _("restored a commitment of the agreed revision")),
        (f"endorsed the vision for the {_SIDE} side", _("endorsed the vision for the %(side)s side")),
        (
            f"the {_SIDE} side's endorsement lapsed with the new revision",
            _("the %(side)s side's endorsement lapsed with the new revision"),
        ),
        (f"added the objective {_TITLE}", _("added the objective %(title)s")),
        (f"edited the objective {_TITLE}", _("edited the objective %(title)s")),
        (f"deleted the objective {_TITLE}", _("deleted the objective %(title)s")),
        (f"commented on the review {_TITLE}", _("commented on the review %(title)s")),
        (f"added the goal {_TITLE}", _("added the goal %(title)s")),
        (f"set the external key of {_TITLE}", _("set the external key of %(title)s")),
        (f"edited the terms of {_TITLE}", _("edited the terms of %(title)s")),
        (f"edited an amendment of {_TITLE}", _("edited an amendment of %(title)s")),
        (f"deleted the draft goal {_TITLE}", _("deleted the draft goal %(title)s")),
        (f"proposed {_TITLE} {_REVISION}", _("proposed %(title)s (revision %(revision)s)")),
        (
            f"proposed an amendment of {_TITLE} {_REVISION}",
            _("proposed an amendment of %(title)s (revision %(revision)s)"),
        ),
        (
            f"approved {_TITLE} {_REVISION} for the {_SIDE} side",
            _("approved %(title)s (revision %(revision)s) for the %(side)s side"),
        ),
        (f"both sides agreed {_TITLE} {_REVISION}", _("both sides agreed %(title)s (revision %(revision)s)")),
        (
            f"both sides agreed the amendment of {_TITLE} {_REVISION}",
            _("both sides agreed the amendment of %(title)s (revision %(revision)s)"),
        ),
        (f"requested changes to {_TITLE}", _("requested changes to %(title)s")),
        (f"withdrew {_TITLE}", _("withdrew %(title)s")),
        (f"discarded the amendment of {_TITLE}", _("discarded the amendment of %(title)s")),
        (f"opened an amendment of {_TITLE}", _("opened an amendment of %(title)s")),
        (f"settled the amendment of {_TITLE}", _("settled the amendment of %(title)s")),
        (f"closed {_TITLE} as achieved", _("closed %(title)s as achieved")),
        (f"closed {_TITLE} as missed", _("closed %(title)s as missed")),
        (f"closed {_TITLE} as dropped", _("closed %(title)s as dropped")),
        (f"added a {_SIDE} commitment to {_TITLE}", _("added a %(side)s commitment to %(title)s")),
        (f"updated a {_SIDE} commitment of {_TITLE}", _("updated a %(side)s commitment of %(title)s")),
        (f"removed a {_SIDE} commitment of {_TITLE}", _("removed a %(side)s commitment of %(title)s")),
        (
            f"approved the {_SIDE} side's commitment to {_TITLE}",
            _("approved the %(side)s side's commitment to %(title)s"),
        ),
        (f"joined as {_SIDE} {_ROLE}", _("joined as %(side)s %(role)s")),
        (f"sent a new invitation link to {_EMAIL}", _("sent a new invitation link to %(email)s")),
        (f"revoked the invitation of {_EMAIL}", _("revoked the invitation of %(email)s")),
        (f"declined the invitation of {_EMAIL}", _("declined the invitation of %(email)s")),
        (f"{_EMAIL} asked for a new invitation link", _("%(email)s asked for a new invitation link")),
        (
            f"confirmed the invitation of {_EMAIL} as {_SIDE} {_ROLE}",
            _("confirmed the invitation of %(email)s as %(side)s %(role)s"),
        ),
        (f"invited {_EMAIL} as {_SIDE} {_ROLE}", _("invited %(email)s as %(side)s %(role)s")),
    ]
]


@dataclass(frozen=True)
class FieldChange:
    label: str
    before: str
    after: str


@dataclass
class HistoryItem:
    event: ChangeEvent
    actor: str
    sentence: str  # what the actor did, without the actor's name
    changes: list[FieldChange] = field(default_factory=list)
    quote: str = ""  # the text written, where it says more than the sentence (a comment, a commitment)

    @property
    def when(self) -> Any:
        return self.event.created_at


@dataclass
class HistoryPage:
    items: list[HistoryItem]
    older: str | None  # cursor of the next (older) page, None at the start of the plan


def _models() -> dict[str, type[models.Model]]:
    return {m._meta.model_name or "": m for m in apps.get_models()}


@dataclass
class Names:
    """People and goals the events of a page name, loaded once for the page."""

    people: dict[Any, str] = field(default_factory=dict)
    goals: dict[str, Goal] = field(default_factory=dict)
    objectives: dict[str, str] = field(default_factory=dict)


def _referenced(events: list[ChangeEvent], kinds: dict[str, type[models.Model]]) -> tuple[set[Any], set[str], set[str]]:
    people: set[Any] = set()
    goals: set[str] = set()
    objectives: set[str] = set()
    for e in events:
        model = kinds.get(e.object_type)
        record = e.after or e.before or {}
        if record.get("goal") and _related_model(model, "goal") is Goal:  # the sentence names the goal
            goals.add(str(record["goal"]))
        if e.action != ChangeEvent.Action.UPDATE:
            continue
        before, after = e.before or {}, e.after or {}
        for key in after.keys() - HIDDEN_FIELDS:  # the rows name people and goals that changed
            if before.get(key) == after.get(key):
                continue
            related = _related_model(model, key)
            for value in (before.get(key), after.get(key)):
                if value in (None, "", []):
                    continue
                if related is User:
                    people.update(value if isinstance(value, list) else [value])
                elif related is Goal:
                    goals.add(str(value))
                elif related is Objective:
                    objectives.add(str(value))
    return people, goals, objectives


def _field(model: type[models.Model] | None, name: str) -> Any:
    """The model field a record's key stands for, or None (a key a service added, like "attendees")."""
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def _related_model(model: type[models.Model] | None, name: str) -> Any:
    f = _field(model, name)
    if f is None:
        return User if name == "attendees" else None
    return f.related_model if f.is_relation else None


def load_names(events: list[ChangeEvent], kinds: dict[str, type[models.Model]]) -> Names:
    people, goal_ids, objective_ids = _referenced(events, kinds)
    names = Names()
    ids = [p for p in people if str(p).isdigit()]
    if ids:
        names.people = {
            u.pk: u.display_name
            for u in User.objects.filter(pk__in=ids).only("id", "full_name", "first_name", "last_name", "email")
        }
    valid = [g for g in goal_ids if _is_uuid(g)]
    if valid:
        names.goals = {str(g.pk): g for g in Goal.objects.filter(pk__in=valid).only("id", "title", "metric_unit")}
    valid = [o for o in objective_ids if _is_uuid(o)]
    if valid:
        names.objectives = {str(o.pk): o.title for o in Objective.objects.filter(pk__in=valid).only("id", "title")}
    return names


def _is_uuid(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", value))


# --- Values ----------------------------------------------------------------------------------------


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1].rstrip() + "…"


def show_value(
    model: type[models.Model] | None,
    name: str,
    value: Any,
    names: Names,
    *,
    record: dict[str, Any] | None = None,
    zone: zoneinfo.ZoneInfo | None = None,
) -> str | None:
    """A recorded value as the plan shows it, or None when it is not for people (a structure)."""
    if value in (None, "", []):
        return "—"
    if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value)):
        return None
    f = _field(model, name)
    related = _related_model(model, name)
    if related is User:
        ids = value if isinstance(value, list) else [value]
        return ", ".join(names.people.get(i) or gettext("someone who has left") for i in ids)
    if related is Goal:
        goal = names.goals.get(str(value))
        return f"“{goal.title}”" if goal else gettext("a deleted goal")
    if related is Objective:
        title = names.objectives.get(str(value))
        return f"“{title}”" if title else gettext("a deleted objective")
    if related is not None:
        return None
    if f is not None and getattr(f, "choices", None):
        return str(dict(f.choices).get(value, value))
    if isinstance(f, models.BooleanField) or isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(f, models.DateTimeField):
        if name == "scheduled_for" and zone is not None:
            return format_when_in(value, zone)
        return format_when(value)
    if isinstance(f, models.DateField):
        return format_when(value)
    if isinstance(f, models.TimeField):
        return str(value)[:5]
    if name in PERCENT_FIELDS:
        return format_quantity(value, "%")
    if name == "confidence":
        return gettext("%(confidence)s of 5") % {"confidence": value}
    if name in ("baseline", "target", "value") and record is not None:
        return format_quantity(value, record.get("metric_unit", ""))
    if isinstance(f, models.DecimalField | models.FloatField):
        return format_number(value)
    if isinstance(value, list):
        return _clip(", ".join(map(str, value)))
    return _clip(str(value))


def format_when_in(value: Any, zone: zoneinfo.ZoneInfo) -> str:
    """A review's time in the partnership's zone, labelled with it ("21 Aug 2026, 10:00 Europe/Berlin")."""
    with timezone.override(zone):
        return f"{format_when(value)} {zone.key}"


def label_of(model: type[models.Model] | None, name: str) -> str:
    if name in LABELS:
        return str(LABELS[name])
    f = _field(model, name)
    if f is not None and getattr(f, "verbose_name", None):
        return str(f.verbose_name).capitalize()
    return name.replace("_", " ").capitalize()


def readable_changes(
    event: ChangeEvent,
    names: Names | None = None,
    kinds: dict[str, type[models.Model]] | None = None,
    zone: zoneinfo.ZoneInfo | None = None,
) -> list[FieldChange]:
    """What changed in an update, field by field: label, before, after (bookkeeping left out)."""
    if event.action != ChangeEvent.Action.UPDATE or not event.after:
        return []
    kinds = kinds if kinds is not None else _models()
    names = names or Names()
    model = kinds.get(event.object_type)
    before, after = event.before or {}, event.after
    rows = []
    for key, new in after.items():
        old = before.get(key)
        if key in HIDDEN_FIELDS or old == new or (old in (None, "", []) and new in (None, "", [])):
            continue
        shown_old = show_value(model, key, old, names, record=before, zone=zone)
        shown_new = show_value(model, key, new, names, record=after, zone=zone)
        if shown_old is None or shown_new is None or shown_old == shown_new:
            continue
        rows.append(FieldChange(label_of(model, key), shown_old, shown_new))
    return rows


# --- Sentences -------------------------------------------------------------------------------------


def _goal_title(record: dict[str, Any], names: Names) -> str:
    goal = names.goals.get(str(record.get("goal", "")))
    return f"“{goal.title}”" if goal else gettext("a goal")


def sentence_of(event: ChangeEvent, names: Names, zone: zoneinfo.ZoneInfo | None = None) -> tuple[str, str]:
    """What the actor did, as the rest of a sentence after their name, and a quote of the text they
    wrote where it says more than the sentence (a comment, a commitment)."""
    kind, action = event.object_type, event.action
    record = event.after or event.before or {}
    before = event.before or {}
    summary = " ".join((event.summary or "").split())
    if kind == "checkin":
        goal = names.goals.get(str(record.get("goal", "")))
        title = f"“{goal.title}”" if goal else gettext("a goal")
        if action == ChangeEvent.Action.CREATE:
            amount = format_quantity(record.get("value"), goal.metric_unit if goal else "")
            note = _clip(str(record.get("note") or ""))
            if record.get("confidence"):
                said = gettext("checked in %(amount)s on %(title)s (confidence %(confidence)s of 5)")
                return said % {"amount": amount, "title": title, "confidence": record["confidence"]}, note
            return gettext("checked in %(amount)s on %(title)s") % {"amount": amount, "title": title}, note
        if action == ChangeEvent.Action.DELETE:
            if "after the close" in summary:
                amount = format_quantity(record.get("value"), goal.metric_unit if goal else "")
                said = gettext("deleted the figure %(amount)s of %(title)s after the goal closed")
                return said % {"amount": amount, "title": title}, _clip(str(record.get("correction_reason") or ""))
            return gettext("deleted a check-in on %(title)s") % {"title": title}, ""
        return _check_in_update(event, title, goal.metric_unit if goal else "")
    if kind == "comment":
        title = _goal_title(record, names)
        if action == ChangeEvent.Action.CREATE:
            body = _clip(str(record.get("body") or ""))
            if record.get("kind") == "change_request":
                return gettext("explained the changes requested to %(title)s") % {"title": title}, body
            return gettext("commented on %(title)s") % {"title": title}, body
        if action == ChangeEvent.Action.DELETE:
            return gettext("deleted a comment on %(title)s") % {"title": title}, ""
        return gettext("edited a comment on %(title)s") % {"title": title}, ""
    if kind == "commitment" and action == ChangeEvent.Action.CREATE and not record.get("placeholder"):
        return translated_summary(summary), _clip(str(record.get("text") or ""))
    if kind == "alignmentreview" and zone is not None:
        when = record.get("scheduled_for")
        at = format_when_in(when, zone) if when else gettext("a review")
        if action == ChangeEvent.Action.CREATE:
            return gettext("scheduled a review for %(at)s") % {"at": at}, ""
        if action == ChangeEvent.Action.UPDATE:
            after = event.after or {}
            if after.get("status") == "held" and before.get("status") != "held":
                return gettext("recorded the review of %(at)s as held") % {"at": at}, ""
            if after.get("status") == "skipped" and before.get("status") != "skipped":
                return gettext("skipped the review of %(at)s") % {"at": at}, ""
            if before.get("scheduled_for") and before.get("scheduled_for") != after.get("scheduled_for"):
                moved = {"before": format_when_in(before["scheduled_for"], zone), "at": at}
                return gettext("moved the review of %(before)s to %(at)s") % moved, ""
            return gettext("updated the review of %(at)s") % {"at": at}, ""
    summary = UTC_STAMP.sub(lambda m: format_when(f"{m[1]}T{m[2]}:00+00:00"), summary)
    if action == ChangeEvent.Action.UPDATE:
        summary = FIELD_LIST.sub("", summary)
    summary = translated_summary(summary)
    return summary or pgettext("history: created, updated or deleted an object", "%(action)s a %(kind)s") % {
        "action": event.get_action_display().lower(),
        "kind": kind,
    }, ""


def _check_in_update(event: ChangeEvent, title: str, unit: str) -> tuple[str, str]:
    """A change of a figure: confirmed, disputed or settled by the sides (two-key actuals), corrected
    after its goal closed, or corrected while open."""
    before, after = event.before or {}, event.after or {}
    was, now = before.get("review"), after.get("review")
    words = {
        "title": title,
        "amount": format_quantity(after.get("value"), unit),
        "before": format_quantity(before.get("value"), unit),
        "other": format_quantity(after.get("disputed_value") or before.get("disputed_value"), unit),
    }
    if now == "disputed" and was != "disputed":
        said = gettext("disputed the figure %(amount)s of %(title)s with %(other)s")
        return said % words, _clip(str(after.get("dispute_note") or ""))
    if was == "disputed" and now == "confirmed":
        said = gettext("settled the disputed figure of %(title)s on %(amount)s (%(before)s vs %(other)s)")
        return said % words, ""
    if was == "unconfirmed" and now == "confirmed":
        return gettext("confirmed the figure %(amount)s of %(title)s") % words, ""
    if "after the close" in (event.summary or ""):
        said = gettext("corrected the figure of %(title)s after the goal closed, from %(before)s to %(amount)s")
        return said % words, _clip(str(after.get("correction_reason") or ""))
    return gettext("corrected a check-in on %(title)s") % {"title": title}, ""


def translated_summary(summary: str) -> str:
    """A stored summary in the active language, when it is one of ``SUMMARIES``; else as stored."""
    for pattern, sentence in SUMMARIES:
        if match := pattern.match(summary):
            values = match.groupdict()
            if "side" in values:
                values["side"] = side_word(values["side"])
            if "role" in values:
                values["role"] = role_word(values["role"])
            return str(sentence) % values
    return summary


def actor_of(event: ChangeEvent) -> str:
    label = (event.actor_label or "").strip()
    return "Partnerplan" if not label or label == "system" else label


# --- Pages -----------------------------------------------------------------------------------------


def parse_cursor(raw: str | None) -> tuple[int, int] | None:
    match = CURSOR.match(raw or "")
    return (int(match[1]), int(match[2])) if match else None


def history_page(access: Access, before: tuple[int, int] | None = None, size: int = PAGE_SIZE) -> HistoryPage:
    """The ``size`` events of the plan before ``before`` (newest first) as readable items, and the
    cursor of the page after them. A fixed number of queries: events, people, goals, objectives."""
    # Another side's private figures are not part of this side's history.
    qs = ChangeEvent.objects.filter(side_visible(access.side), partnership=access.partnership)
    if before is not None:
        txid, seq = before
        qs = qs.filter(Q(txid__lt=txid) | Q(txid=txid, seq__lt=seq))
    events = list(qs.order_by("-txid", "-seq")[: size + 1])
    older = None
    if len(events) > size:
        events = events[:size]
        older = f"{events[-1].txid}.{events[-1].seq}"
    return HistoryPage(items=readable_items(events, access), older=older)


def readable_items(events: Iterable[ChangeEvent], access: Access) -> list[HistoryItem]:
    events = list(events)
    kinds = _models()
    names = load_names(events, kinds)
    try:
        zone = zoneinfo.ZoneInfo(access.partnership.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    items = []
    for e in events:
        sentence, quote = sentence_of(e, names, zone)
        items.append(
            HistoryItem(
                event=e,
                actor=actor_of(e),
                sentence=sentence,
                changes=readable_changes(e, names, kinds, zone),
                quote=quote,
            )
        )
    return items
