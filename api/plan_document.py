"""The ``/plan`` document built from rows, byte for byte what ``PlanOut`` renders.

Rebuilding the document is what the first request after any change of a plan pays, and a plan
being co-edited changes all the time. Through the serializers a plan of 500 goals made some 15,000
model instances and 7,000 nested ``to_representation`` calls (most of its 0.4 s). Here each list is
one ``values_list`` query whose columns are already what the document shows: on PostgreSQL ids and
decimals come as text (the very strings ``UUIDField`` and a ``DecimalField`` of the column's scale
write), people as their public id through a join; rows become dicts with ``zip`` and orjson writes
dates and times as DRF does (``renderers.FastJSON``).

``PlanOut`` stays the schema and the reference: the columns below follow its serializers' fields
key for key, and a test compares the two documents byte for byte (``tests/test_api_plan_document``).
A change to one of those serializers must be made here too, or that test fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, models
from django.db.models import CharField, F, TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone
from rest_framework import serializers

from accounts.models import User, display_name_of
from alignment.access import Access
from alignment.changes import feed_queryset
from alignment.economics import figures_visible_to
from alignment.models import AlignmentReview, Driver, Objective, PartnershipMember, Vision, VisionEndorsement
from cadence.attention import plan_attention
from cadence.balance import Period
from cadence.health import HealthReport, cached_health_for
from goals.models import Approval, CheckIn, Comment, Commitment, Goal, GoalRevision, GoalStatus, negotiation_state_of

from . import serializers as out
from .feed import current_position, encode_cursor, watermark
from .renderers import exact_json
from .representation import agreed_commitment, agreed_terms
from .views.balance import balance_document
from .views.pulse import held_pulses_out

# (key in the document, model field it shows; None: a key filled in afterwards, in its place)
Columns = Sequence[tuple[str, str | None]]

GOAL: list[tuple[str, str | None]] = [(name, name) for name in out.GoalOut.Meta.fields]
GOAL[GOAL.index(("negotiation_state", "negotiation_state"))] = ("negotiation_state", None)
OBJECTIVE = [(name, name) for name in out.ObjectiveOut.Meta.fields]
ENDORSEMENT = [(name, name) for name in out.VisionEndorsementOut.Meta.fields]
APPROVAL = [(name, name) for name in out.ApprovalOut.Meta.fields]
COMMITMENT = [(name, name) for name in out.CommitmentOut.Meta.fields]
CHECK_IN = [(name, name) for name in out.CheckInOut.Meta.fields]
COMMENT = [(name, name) for name in out.CommentOut.Meta.fields]
REVIEW = [(name, None if name == "attendees" else name) for name in out.ReviewOut.Meta.fields]
DRIVER = [(name, name) for name in out.DriverOut.Meta.fields]
DRIVER_FIGURE = [(name, name) for name in out.DriverFigureOut.Meta.fields]
# The order of each list read by goal (the model's ordering, made total by the id): what
# ``api.plan_updates`` keeps the lists in when it puts a goal's rows back.
GOAL_ORDER = ("period_start", "created_at", "pk")
APPROVAL_ORDER = ("created_at", "pk")
COMMITMENT_ORDER = ("side", "position", "created_at", "pk")
CHECK_IN_ORDER = ("measured_on", "created_at", "pk")
COMMENT_ORDER = ("created_at", "pk")
AGREED_REVISION = [
    ("id", "id"),
    ("goal", "goal"),
    ("number", "number"),
    ("terms", "terms"),
    ("commitments", "commitments"),
]


class Rows:
    """One query of a list of the document: ``values_list`` of the columns, in the queryset's order."""

    def __init__(self, qs: models.QuerySet[Any], columns: Columns) -> None:
        self.keys = [key for key, _ in columns]
        self.decimals: list[tuple[str, serializers.DecimalField]] = []
        text = connection.vendor == "postgresql"
        select: dict[str, Any] = {}
        for i, (key, source) in enumerate(columns):
            alias = f"c{i}"
            if source is None:
                select[alias] = Value("", output_field=CharField())
                continue
            field = qs.model._meta.get_field(source)
            if field.is_relation:
                # A person is shown by their public id, any other object by its (UUID) primary key.
                path = f"{source}__public_id" if field.related_model is User else field.attname
                select[alias] = Cast(path, output_field=TextField()) if text else F(path)
            elif isinstance(field, models.UUIDField):
                select[alias] = Cast(source, output_field=TextField()) if text else F(source)
            elif isinstance(field, models.DecimalField):
                # numeric(p, s) as text has exactly s decimals: what DRF's DecimalField writes.
                select[alias] = Cast(source, output_field=TextField()) if text else F(source)
                if not text:
                    self.decimals.append(
                        (
                            key,
                            serializers.DecimalField(max_digits=field.max_digits, decimal_places=field.decimal_places),
                        )
                    )
            else:
                select[alias] = F(source)
        self.aliases = list(select)
        self.annotated = qs.annotate(**select)
        self.qs = self.annotated.values_list(*select)

    def dicts(self) -> list[dict[str, Any]]:
        return self.shown(self.qs)

    def listing(self, *ordering: str) -> models.QuerySet[Any]:
        """The rows as dicts of the columns (by alias) and of the ``ordering`` fields: what cursor
        pagination orders, filters and reads each row's position from (the API's lists)."""
        listed: models.QuerySet[Any] = self.annotated.values(*self.aliases, *ordering)
        return listed

    def shown(self, rows: Any) -> list[dict[str, Any]]:
        """Rows of ``qs`` (tuples) or of ``listing`` (dicts) as the document shows them."""
        keys, aliases = self.keys, self.aliases
        shown = [
            dict(zip(keys, [row[a] for a in aliases] if isinstance(row, dict) else row, strict=True)) for row in rows
        ]
        for key, field in self.decimals:
            for row in shown:
                if row[key] is not None:
                    row[key] = field.to_representation(row[key])
        return shown


def public_owners(revisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A revision's commitments are a snapshot that names each owner by the internal user id; the API
    names people by their public id (``null`` for someone no longer there), one query for all."""

    def owner_id(c: Any) -> int | None:
        return c["owner"] if isinstance(c, dict) and isinstance(c.get("owner"), int) else None

    ids = {owner_id(c) for r in revisions for c in r["commitments"] or []} - {None}
    people: dict[int | None, str] = {
        pk: str(public) for pk, public in User.objects.filter(pk__in=ids).values_list("pk", "public_id")
    }
    for r in revisions:
        r["commitments"] = [
            c | {"owner": people.get(owner_id(c))} if owner_id(c) is not None else c for c in r["commitments"] or []
        ]
    return revisions


def shared_document(
    access: Access,
    generation: str | None = None,
    *,
    health: Callable[[], HealthReport] | None = None,
    position: tuple[int, int] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Everything of the plan document but the caller's ``access``, in ``PlanOut``'s order of keys, and
    whether orjson writes it exactly as the standard encoder would (see ``renderers.FastJSON``).

    The health is the one cached for the plan's ``generation`` and hour, which the dashboard and the
    plan page share: whichever of them comes first after a change computes it for the others; or
    ``health()``, called after the cursor was taken (``api.plan_updates`` keeps its facts). The
    cursor is the plan's ``current_position``, or ``position`` when the caller just read it.

    The give/get balance and the pulse of the held reviews are the same for both sides: neither
    holds a figure (the balance counts commitments and achieved goals; it attributes goals to the
    sides whose drivers their objective moves, and drivers are listed to both sides), and once a
    review is held its pulse shows both sides everything."""
    p = access.partnership
    # The cursor is taken before anything is read: every later change is replayed from the feed.
    cursor = encode_cursor(position or current_position(p.pk))
    vision = Vision.objects.filter(partnership=p).first()
    goals = Rows(Goal.objects.filter(partnership=p).order_by(*GOAL_ORDER), GOAL).dicts()
    amended = {}
    for goal in goals:
        goal["negotiation_state"] = negotiation_state_of(goal["status"], goal["amendment"])
        if goal["status"] == GoalStatus.AGREED and goal["amendment"]:  # Goal.has_pending_amendment
            amended[str(goal["id"])] = goal["agreed_revision"]
    agreed_revisions = revisions_in_force(amended)
    reviews = Rows(AlignmentReview.objects.filter(partnership=p), REVIEW).dicts()
    if reviews:
        attendees = _attendees([r["id"] for r in reviews])
        for review in reviews:
            review["attendees"] = attendees.get(review["id"], [])
    objectives = Rows(Objective.objects.filter(partnership=p), OBJECTIVE).dicts()
    approvals = Rows(Approval.objects.filter(goal__partnership=p).order_by(*APPROVAL_ORDER), APPROVAL).dicts()
    commitments = Rows(Commitment.objects.filter(goal__partnership=p).order_by(*COMMITMENT_ORDER), COMMITMENT).dicts()
    if health is None:
        report = cached_health_for([p.pk], generations={p.pk: generation} if generation else None)[p.pk]
    else:
        report = health()
    partnership = partnership_document(p)
    health_document = document_of_health(report)
    document = {
        "cursor": cursor,
        "partnership": partnership,
        "vision": out.VisionOut(vision).data if vision else None,
        "endorsements": Rows(
            VisionEndorsement.objects.filter(vision=vision, revision=vision.revision), ENDORSEMENT
        ).dicts()
        if vision
        else [],
        "members": _members(p),
        "objectives": objectives,
        "goals": goals,
        "agreed_revisions": agreed_revisions,
        "approvals": approvals,
        "commitments": commitments,
        # By the goals' ids, not a join: the planner would scan every check-in of every plan for the join.
        "check_ins": Rows(
            CheckIn.objects.filter(goal_id__in=[g["id"] for g in goals]).order_by(*CHECK_IN_ORDER), CHECK_IN
        ).dicts(),
        "comments": Rows(Comment.objects.filter(goal__partnership=p).order_by(*COMMENT_ORDER), COMMENT).dicts(),
        "reviews": reviews,
        "drivers": Rows(Driver.objects.filter(partnership=p), DRIVER).dicts(),
        # The side's own figures and the other side's shared ones: the document differs per side.
        "driver_figures": Rows(visible_figures_in_order(access), DRIVER_FIGURE).dicts(),
        "health": health_document,
    }
    now = timezone.now()
    document["attention"] = plan_attention(goals, approvals, commitments, reviews, now, timezone.localdate(now))
    document["balance"] = plan_balance(p.pk, now)
    document["pulse"] = held_pulses_out(p.pk)
    # Only stored JSON and the floats of health, balance and pulse can hold a number orjson writes differently.
    exact = (
        exact_json(dict(partnership))
        and exact_json(health_document)
        and exact_json(document["balance"])
        and exact_json(document["pulse"])
        and exact_json(agreed_revisions)
        and exact_json([o["vendor_drivers"] for o in objectives] + [o["partner_drivers"] for o in objectives])
        and exact_json([r["goal_snapshot"] for r in reviews])
    )
    return document, exact


def plan_positions(partnership_id: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """The feed position of the plan's newest served event, whichever side it is for (what a kept
    document, ``api.plan_updates``, reads later changes after), and the document's cursor
    (``current_position``: the newest both sides see). One query; two when the newest event is
    one side's only."""
    newest = (
        feed_queryset()
        .filter(partnership_id=partnership_id)
        .order_by("-txid", "-seq")
        .values_list("txid", "seq", "side_only")
        .first()
    )
    if newest is None:
        start = watermark() or (0, 0)
        return start, start
    position = (newest[0], newest[1])
    return position, position if newest[2] is None else current_position(partnership_id)


def plan_balance(partnership_id: Any, now: Any) -> dict[str, Any]:
    """The document's ``balance``: ``BalanceOut`` of the current quarter (of ``now``'s day in UTC, as
    ``GET /partnerships/{id}/balance`` counts it) and the four up to it."""
    today = now.date()
    return balance_document(partnership_id, Period.quarter_of(today), today)


def visible_figures_in_order(access: Access) -> models.QuerySet[Any]:
    """The figures of the plan the caller may see, in the document's order."""
    return figures_visible_to(access).order_by("driver_id", "period_start", "period_end")


def partnership_document(partnership: Any) -> Any:
    return out.PartnershipOut(partnership).data


def document_of_health(report: HealthReport) -> dict[str, Any]:
    """The document's ``health`` (``HealthOut``)."""
    return {
        "score": int(report.score),
        "components": [
            {
                "key": str(c["key"]),
                "label": str(c["label"]),
                "weight": int(c["weight"]),
                "score": float(c["score"]),
                "points": float(c["points"]),
                "explanation": str(c["explanation"]),
            }
            for c in report.as_json()
        ],
    }


def revisions_in_force(amended: dict[str, int]) -> list[dict[str, Any]]:
    """``AgreedRevisionOut`` of the goals with a pending amendment (goal id: its agreed revision)."""
    if not amended:
        return []
    revisions = Rows(GoalRevision.objects.filter(goal_id__in=list(amended)), AGREED_REVISION).dicts()
    agreed = public_owners([r for r in revisions if amended[str(r["goal"])] == r["number"]])
    for r in agreed:
        r["terms"] = agreed_terms(r["terms"])
        r["commitments"] = [agreed_commitment(c) for c in r["commitments"]]
    return agreed


def _members(partnership: Any) -> list[dict[str, Any]]:
    """``MemberOut`` of each member, in the order ``PlanOut`` lists them."""
    rows = (
        PartnershipMember.objects.filter(partnership=partnership)
        .order_by("side", "created_at")
        .values_list(
            "id",
            "user__public_id",
            "user__email",
            "user__full_name",
            "user__first_name",
            "user__last_name",
            "side",
            "role",
        )
    )
    return [
        {
            "id": str(pk),
            "user": str(public_id),
            "email": email,
            "name": display_name_of(full_name, first_name, last_name, email),
            "side": side,
            "role": role,
        }
        for pk, public_id, email, full_name, first_name, last_name, side, role in rows
    ]


def _attendees(review_ids: list[Any]) -> dict[Any, list[str]]:
    """The public ids of each review's attendees, read as ``prefetch_related("attendees")`` reads them."""
    text = connection.vendor == "postgresql"
    as_text = (lambda path: Cast(path, output_field=TextField())) if text else F
    rows = (
        User.objects.filter(reviews_attended__in=review_ids)
        .annotate(review=as_text("reviews_attended"), person=as_text("public_id"))
        .values_list("review", "person")
    )
    found: dict[Any, list[str]] = {}
    for review, person in rows:
        found.setdefault(review, []).append(str(person))
    for people in found.values():
        people.sort()  # ``ReviewOut.get_attendees``'s order
    return found
