"""Services that change the relationship and the long-term plan.

Each service is one transaction: it checks the caller's access, enforces the rule, writes, and
appends one change event per changed object. The browser and the API both call these.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Organisation, OrganisationMembership, User
from core.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from core.writes import (
    apply_changes,
    check_version,
    convert,
    free_id,
    insert,
    integer,
    lock,
    model_update,
    text,
    validate,
)

from .access import Access
from .changes import record_change
from .economics import drivers_from_names, links_from_names
from .models import (
    AlignmentReview,
    ChangeEvent,
    Objective,
    Partnership,
    PartnershipMember,
    Role,
    Side,
    Vision,
    VisionEndorsement,
)
from .schedule import next_slot, parse_rrule

CREATE, UPDATE, DELETE = ChangeEvent.Action.CREATE, ChangeEvent.Action.UPDATE, ChangeEvent.Action.DELETE


# --- Partnerships -----------------------------------------------------------------------------

PARTNERSHIP_FIELDS = (
    "name",
    "partner_type",
    "status",
    "margin_percent",
    "referral_fee_percent",
    "economic_notes",
    "vendor_drivers",
    "partner_drivers",
    "review_cadence",
    "review_rrule",
    "review_time",
    "review_duration_minutes",
    "timezone",
    "reminder_offsets_days",
    "reviews_on_working_days",
)


MAX_DRIVERS, MAX_DRIVER_LENGTH = 20, 120


def _validate_partnership(p: Partnership) -> None:
    validate(p, exclude=["vendor", "partner"])
    for side in ("vendor_drivers", "partner_drivers"):
        drivers = getattr(p, side)
        if not isinstance(drivers, list) or not all(isinstance(d, str) and d.strip() for d in drivers):
            raise InvalidInput(
                "Business drivers are a list of short texts.", fields={side: ["Expected a list of texts."]}
            )
        drivers = [d.strip() for d in drivers]
        if len(drivers) > MAX_DRIVERS or any(len(d) > MAX_DRIVER_LENGTH for d in drivers):
            # Refused, never cut: a silently shortened list would lose what the side wrote.
            raise InvalidInput(
                f"A side names at most {MAX_DRIVERS} business drivers of up to {MAX_DRIVER_LENGTH} characters.",
                fields={side: [f"At most {MAX_DRIVERS} drivers of up to {MAX_DRIVER_LENGTH} characters."]},
            )
        setattr(p, side, drivers)
    offsets = p.reminder_offsets_days
    if not isinstance(offsets, list) or not all(isinstance(d, int) and 0 <= d <= 90 for d in offsets):
        raise InvalidInput(
            "Reminder days are whole numbers from 0 to 90.",
            fields={"reminder_offsets_days": ["Expected whole numbers from 0 to 90."]},
        )
    if p.review_cadence == Partnership.Cadence.CUSTOM:
        parse_rrule(p.review_rrule)


@transaction.atomic
def partnership_create(
    *, actor: User, vendor: Organisation, partner_name: str, id: uuid.UUID | None = None, **fields: Any
) -> Partnership:
    """Start a partnership of a vendor with a (new) partner organisation.

    The creator must belong to the vendor organisation and becomes its first vendor-side approver.
    """
    if not OrganisationMembership.objects.filter(organisation=vendor, user=actor).exists():
        raise NotFound("No such organisation.")
    partner_name = text(partner_name, "partner_name")
    if not partner_name:
        raise InvalidInput("Name the partner organisation.", fields={"partner_name": ["This field is required."]})
    if id is not None:
        id = free_id(Partnership, id, "partnership")
    partner = Organisation.objects.create(name=partner_name[:200])
    partnership = Partnership(vendor=vendor, partner=partner, reminder_offsets_days=[7, 1])
    if id is not None:
        partnership.id = id
    fields.setdefault("name", f"{vendor.name} × {partner.name}")
    apply_changes(partnership, fields, PARTNERSHIP_FIELDS)
    _validate_partnership(partnership)
    insert(partnership, "partnership")
    member = PartnershipMember.objects.create(partnership=partnership, user=actor, side=Side.VENDOR, role=Role.APPROVER)
    vision = Vision.objects.create(partnership=partnership)
    record_change(
        actor=actor,
        partnership=partnership,
        obj=partnership,
        action=CREATE,
        summary=f"started the partnership {partnership.name}",
    )
    record_change(
        actor=actor,
        partnership=partnership,
        obj=member,
        action=CREATE,
        after=member.to_record(),
        summary=f"added {actor.display_name} as vendor approver",
    )
    record_change(actor=actor, partnership=partnership, obj=vision, action=CREATE, summary="created the vision")
    creator = Access(partnership, actor, Side.VENDOR, Role.APPROVER, False)
    for side in Side.values:
        drivers_from_names(access=creator, partnership=partnership, side=side, names=partnership.drivers_for(side))
    return partnership


@transaction.atomic
def partnership_update(*, access: Access, expected_version: int | None = None, **changes: Any) -> Partnership:
    # The review schedule is the approvers' too; everything else is the organisation admins'.
    access.require_change_partnership(changes)

    def clean(p: Partnership, changed: dict[str, Any]) -> None:
        if f"{access.other_side}_drivers" in changed:
            raise NotAllowed(
                f"Each side names its own business drivers; the {access.other_side} side's are theirs to change."
            )
        _validate_partnership(p)

    return model_update(
        lock(Partnership.objects, access.partnership.pk, "partnership"),
        changes=changes,
        allowed=PARTNERSHIP_FIELDS,
        expected_version=expected_version,
        clean=clean,
        record=lambda p, before, changed: _record_partnership_edit(access, p, before, changed),
    ).obj


def _record_partnership_edit(access: Access, p: Partnership, before: dict[str, Any], changed: dict[str, Any]) -> None:
    record_change(
        actor=access.user,
        partnership=p,
        obj=p,
        action=UPDATE,
        before=before,
        summary="changed the partnership settings",
    )
    # The lists of names are a copy of the side's drivers (``alignment.economics``): keep the drivers in step.
    for side in Side.values:
        if f"{side}_drivers" in changed:
            drivers_from_names(access=access, partnership=p, side=side, names=p.drivers_for(side))


# --- Members ----------------------------------------------------------------------------------


@transaction.atomic
def member_add(*, access: Access, user: User, side: str, role: str) -> PartnershipMember:
    """Give a person access to the partnership. Admins manage their own side's people."""
    access.require_manage("add people")
    if side != access.side:
        raise NotAllowed(f"You manage the {access.side} side's people; the other side invites its own.")
    if role not in Role.values:
        raise InvalidInput(f"Unknown role '{role}'.", fields={"role": [f"Choose one of {', '.join(Role.values)}."]})
    try:
        with transaction.atomic():
            member = PartnershipMember.objects.create(partnership=access.partnership, user=user, side=side, role=role)
    except IntegrityError as exc:
        raise RuleViolation(
            f"{user.email} is a member of this partnership already.", code="member.already_member"
        ) from exc
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=member,
        action=CREATE,
        after=member.to_record(),
        summary=f"added {user.display_name} as {side} {role}",
    )
    return member


@transaction.atomic
def member_update(*, access: Access, member_id: Any, role: str) -> PartnershipMember:
    access.require_manage("change roles")
    member = lock(PartnershipMember.objects.filter(partnership=access.partnership), member_id, "member")
    if member.side != access.side:
        raise NotAllowed("You manage your own side's people only.")
    if role not in Role.values:
        raise InvalidInput(f"Unknown role '{role}'.", fields={"role": [f"Choose one of {', '.join(Role.values)}."]})
    before = member.to_record()
    member.role = role
    member.save(update_fields=["role"])
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=member,
        action=UPDATE,
        before=before,
        after=member.to_record(),
        summary=f"made {member.user.display_name} {role}",
    )
    return member


@transaction.atomic
def member_remove(*, access: Access, member_id: Any) -> None:
    access.require_manage("remove people")
    member = lock(PartnershipMember.objects.filter(partnership=access.partnership), member_id, "member")
    if member.side != access.side:
        raise NotAllowed("You manage your own side's people only.")
    before = member.to_record()
    member.delete()
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=member,
        action=DELETE,
        before=before,
        summary=f"removed {member.user.display_name}",
    )


# --- Vision -----------------------------------------------------------------------------------

VISION_TEXTS = ("why_together", "what_we_hope", "how_we_work", "horizon")


def vision_endorsed_sides(vision: Vision) -> set[str]:
    return set(vision.endorsements.filter(revision=vision.revision).values_list("side", flat=True))


@transaction.atomic
def vision_update(*, access: Access, expected_version: int | None = None, **texts: Any) -> Vision:
    """Edit the vision. A real change makes a new revision, so earlier endorsements no longer count."""
    access.require_edit("edit the vision")

    def clean(vision: Vision, changed: dict[str, Any]) -> None:
        validate(vision, exclude=["partnership"])
        if set(changed) & {"why_together", "what_we_hope", "how_we_work"}:
            vision.revision += 1

    return model_update(
        _lock_vision(access),
        changes=texts,
        allowed=VISION_TEXTS,
        expected_version=expected_version,
        clean=clean,
        record=lambda vision, before, changed: _record_vision_edit(access, vision, before),
    ).obj


def _record_vision_edit(access: Access, vision: Vision, before: dict[str, Any]) -> None:
    """The edit, and for a new revision a tombstone for each endorsement it voids: endorsements
    count for the revision they endorsed, so the plan (and any copy of it) no longer shows them."""
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=vision,
        action=UPDATE,
        before=before,
        summary="edited the vision",
    )
    if before.get("revision") == vision.revision:
        return
    for endorsement in vision.endorsements.filter(revision=int(before.get("revision") or 0)):
        record_change(
            actor=access.user,
            partnership=access.partnership,
            obj=endorsement,
            action=DELETE,
            before=endorsement.to_record(),
            summary=f"the {endorsement.side} side's endorsement lapsed with the new revision",
        )


def _lock_vision(access: Access) -> Vision:
    return lock(Vision.objects, Vision.objects.filter(partnership=access.partnership).values("pk")[:1], "vision")


@transaction.atomic
def vision_endorse(*, access: Access, revision: int) -> VisionEndorsement:
    """Endorse the current revision of the vision for the caller's side."""
    access.require_approve("endorse the vision")
    vision = _lock_vision(access)
    revision = integer(revision, "revision")
    if revision != vision.revision:
        raise RuleViolation(
            f"You endorsed revision {revision}, but the vision is now at revision {vision.revision}. "
            "Read the current text and endorse again.",
            code="vision.stale_revision",
        )
    if not vision.complete:
        raise RuleViolation("The vision needs all three texts before it can be endorsed.", code="vision.incomplete")
    if vision.endorsements.filter(revision=vision.revision, side=access.side).exists():
        raise RuleViolation(
            f"The {access.side} side has endorsed this revision already.", code="vision.already_endorsed"
        )
    endorsement = VisionEndorsement.objects.create(
        vision=vision, revision=vision.revision, side=access.side, user=access.user
    )
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=endorsement,
        action=CREATE,
        after=endorsement.to_record(),
        summary=f"endorsed the vision for the {access.side} side",
    )
    return endorsement


# --- Objectives -------------------------------------------------------------------------------

OBJECTIVE_FIELDS = (
    "title",
    "description",
    "vendor_gain",
    "partner_gain",
    "vendor_drivers",
    "partner_drivers",
    "success_measure",
    "metric_name",
    "metric_unit",
    "baseline",
    "target",
    "baseline_date",
    "target_date",
    "status",
    "position",
)


def _validate_objective(o: Objective) -> None:
    validate(o, exclude=["partnership"])
    if (o.baseline is None) != (o.target is None) and o.target is not None and not o.metric_name:
        raise InvalidInput("A numeric target needs a metric name.", fields={"metric_name": ["Name the metric."]})
    if o.baseline_date and o.target_date and o.target_date <= o.baseline_date:
        raise InvalidInput(
            "The target date must be after the baseline date.",
            fields={"target_date": ["Must be after the baseline date."]},
        )
    for side, allowed in (
        ("vendor_drivers", o.partnership.vendor_drivers),
        ("partner_drivers", o.partnership.partner_drivers),
    ):
        drivers = getattr(o, side)
        if not isinstance(drivers, list) or not all(isinstance(d, str) for d in drivers):
            raise InvalidInput("Drivers are a list of texts.", fields={side: ["Expected a list of texts."]})
        unknown = [d for d in drivers if d not in allowed]
        if unknown:
            raise InvalidInput(
                f"Not a business driver of this side: {', '.join(unknown)}.",
                fields={side: [f"Choose from: {', '.join(allowed) or 'none defined yet'}."]},
            )


@transaction.atomic
def objective_create(*, access: Access, id: uuid.UUID | None = None, **fields: Any) -> Objective:
    access.require_edit("add objectives")
    objective = Objective(partnership=access.partnership)
    if id is not None:
        objective.id = free_id(Objective, id, "objective")
    apply_changes(objective, fields, OBJECTIVE_FIELDS)
    if not objective.position:
        objective.position = Objective.objects.filter(partnership=access.partnership).count() + 1
    _validate_objective(objective)
    insert(objective, "objective")
    links_from_names(access=access, objective=objective)
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=objective,
        action=CREATE,
        summary=f"added the objective “{objective.title}”",
    )
    return objective


@transaction.atomic
def objective_update(
    *, access: Access, objective_id: Any, expected_version: int | None = None, **changes: Any
) -> Objective:
    access.require_edit("edit objectives")

    def clean(objective: Objective, changed: dict[str, Any]) -> None:
        objective.partnership = access.partnership
        _validate_objective(objective)

    return model_update(
        lock(Objective.objects.filter(partnership=access.partnership), objective_id, "objective"),
        changes=changes,
        allowed=OBJECTIVE_FIELDS,
        expected_version=expected_version,
        clean=clean,
        record=lambda objective, before, changed: _record_objective_edit(access, objective, before, changed),
    ).obj


def _record_objective_edit(
    access: Access, objective: Objective, before: dict[str, Any], changed: dict[str, Any]
) -> None:
    if {"vendor_drivers", "partner_drivers"} & set(changed):
        links_from_names(access=access, objective=objective)
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=objective,
        action=UPDATE,
        before=before,
        summary=f"edited the objective “{objective.title}”",
    )


@transaction.atomic
def objective_delete(*, access: Access, objective_id: Any, expected_version: int | None = None) -> None:
    """Delete an objective that has no goals yet; one with goals is retired instead."""
    access.require_edit("delete objectives")
    objective = lock(Objective.objects.filter(partnership=access.partnership), objective_id, "objective")
    check_version(objective, expected_version)
    if objective.goals.exists():
        raise RuleViolation(
            "This objective has goals: retire it (status “retired”) instead of deleting it.", code="objective.has_goals"
        )
    before = objective.to_record()
    objective.delete()
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=objective,
        action=DELETE,
        before=before,
        summary=f"deleted the objective “{before['title']}”",
    )


# --- Alignment reviews ------------------------------------------------------------------------

REVIEW_FIELDS = ("title", "scheduled_for", "notes", "decisions", "other_attendees")


@transaction.atomic
def review_schedule(
    *, access: Access, scheduled_for: dt.datetime | None = None, title: str = "", id: uuid.UUID | None = None
) -> AlignmentReview:
    """Schedule a review: at a given time, or at the cadence's next occurrence after the last one
    (on the nearest working day if it falls on a weekend and the partnership asks for that)."""
    access.require_edit("schedule reviews")
    p = access.partnership
    occurrence = None
    if scheduled_for is None:
        last = p.reviews.exclude(occurrence__isnull=True).order_by("-occurrence").first()
        slot = next_slot(p, now=timezone.now(), last=last.occurrence if last else None)
        occurrence, scheduled_for = slot.occurrence, slot.scheduled_for
    scheduled_for = convert(AlignmentReview._meta.get_field("scheduled_for"), scheduled_for, "scheduled_for")
    if scheduled_for is None:
        raise InvalidInput("Say when the review is.", fields={"scheduled_for": ["This field is required."]})
    if timezone.is_naive(scheduled_for):
        raise InvalidInput("Give the review time with a time zone.", fields={"scheduled_for": ["Needs a time zone."]})
    review = AlignmentReview(
        partnership=p, scheduled_for=scheduled_for, occurrence=occurrence, title=title or "Alignment review"
    )
    if id is not None:
        review.id = free_id(AlignmentReview, id, "review")
    validate(review, exclude=["partnership"])
    try:
        with transaction.atomic():
            insert(review, "review")
    except IntegrityError as exc:
        raise RuleViolation("This review occurrence is scheduled already.", code="review.duplicate") from exc
    record_change(
        actor=access.user,
        partnership=p,
        obj=review,
        action=CREATE,
        summary=f"scheduled a review for {scheduled_for:%Y-%m-%d %H:%M} UTC",
    )
    return review


def lock_review(access: Access, review_id: Any) -> AlignmentReview:
    return lock(AlignmentReview.objects.filter(partnership=access.partnership), review_id, "review")


@transaction.atomic
def review_update(
    *, access: Access, review_id: Any, expected_version: int | None = None, **changes: Any
) -> AlignmentReview:
    """Move a review or edit its notes. Moving keeps the occurrence it stands for."""
    access.require_edit("change reviews")

    def clean(review: AlignmentReview, changed: dict[str, Any]) -> None:
        if "scheduled_for" in changes and review.status != AlignmentReview.Status.SCHEDULED:
            raise RuleViolation("Only a scheduled review can be moved.", code="review.not_scheduled")
        validate(review, exclude=["partnership", "attendees"])

    return model_update(
        lock_review(access, review_id),
        changes=changes,
        allowed=REVIEW_FIELDS,
        expected_version=expected_version,
        clean=clean,
        record=lambda review, before, changed: record_change(
            actor=access.user,
            partnership=access.partnership,
            obj=review,
            action=UPDATE,
            before=before,
            summary="updated a review",
        ),
    ).obj


@transaction.atomic
def review_skip(*, access: Access, review_id: Any, expected_version: int | None = None) -> AlignmentReview:
    access.require_edit("skip reviews")
    review = lock_review(access, review_id)
    check_version(review, expected_version)
    if review.status != AlignmentReview.Status.SCHEDULED:
        raise RuleViolation(
            f"This review is {review.status}; only a scheduled one can be skipped.", code="review.not_scheduled"
        )
    before = review.to_record()
    review.status = AlignmentReview.Status.SKIPPED
    review.bump()
    review.save()
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=review,
        action=UPDATE,
        before=before,
        summary="skipped a review",
    )
    return review


def partnership_zone(p: Partnership) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(p.timezone)
