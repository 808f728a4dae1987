"""Plan templates: the shipped ones (``plans.template_library``) and each organisation's own
(``PlanTemplate``), applied to a plan, saved from a plan, and a plan's structure cloned to another.

- **Apply** writes drafts only, through the services that keep the change log, the caches and the
  generations right: each side's drivers (``alignment.economics.ensure_drivers``), the objectives
  (``objective_create``, in their initial state) and, from each objective's trajectory, its first
  goals as drafts (``goals_derive``) whose commitments are suggested slots. The vision is never
  written: its prompts are kept with the application and shown while the vision is empty.
- **Lineage.** Every template has one: a shipped template its key; an organisation's copy of a
  shipped template that key; a structure taken from a plan (saved as a template, or cloned) the
  lineage of that plan, or ``plan:<id>`` of the plan when no template filled it; a template of
  unknown origin its own id (``org:<id>``). Templates of one lineage share their items' keys.
- **No stacking.** A template (or a clone) goes onto a **new or empty plan** (no objectives), or
  again onto the plan it filled: one whose objectives all came from templates of **its lineage**.
  A plan with objectives of its own, or filled from another lineage, refuses it
  (``RuleViolation`` ``template.plan_not_empty``): two structures stacked would duplicate what
  they share under other keys.
- **Applying again creates nothing twice.** Each created item is recorded by its lineage and key
  (``AppliedTemplateItem``, unique per partnership), so a second application (or the organisation's
  copy of the same shipped template) adds only what is missing; keys of different lineages never
  collide; the partnership's row lock serialises two people applying at once.
- **Save from a plan** and **clone a plan's structure** carry structure only: the objectives' texts,
  metrics and trajectory, the drivers' names and units and the vision's texts as prompts; never
  people, commitments, approvals, figures, check-ins or comments. An objective a template created
  keeps that template's key, so the structure stays in its lineage.

Who may: applying and cloning need an editor of the plan written to (outsiders get ``NotFound``);
saving needs an editor of the plan who belongs to their side's organisation; an organisation's
templates are seen by its members and changed (``template_update``, ``template_delete``, by the
browser's editor and the API alike) by its admins; a shipped template is changed by nobody.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Organisation, OrganisationMembership, User
from alignment import economics
from alignment import services as plan
from alignment.access import Access, resolve
from alignment.models import Driver, Objective, Partnership, Side, Vision
from core.errors import InvalidInput, NotAllowed, NotFound, RuleViolation, StaleVersion
from core.writes import find, integer
from goals.derive import FINEST, PERIOD_MONTHS, Suggestion, coming_periods, goals_derive
from goals.models import Goal, GoalStatus

from . import template_library as library
from .models import AppliedTemplateItem, PlanTemplate, TemplateApplication, TemplateType

ORG_PREFIX, PLAN_PREFIX = "org:", "plan:"


@dataclass(frozen=True)
class Template:
    """A template to show or apply: a shipped one (``organisation`` None) or an organisation's."""

    ref: str  # the shipped key, or the organisation template's id
    name: str
    partner_type: str
    structure: dict[str, Any]
    version: int
    lineage: str  # what its items are keyed by (see the module)
    summary: str = ""
    organisation: Organisation | None = None
    row: PlanTemplate | None = None
    # What an application of it is known by, when it is no template (a cloned plan: ``plan:<id>``).
    application_key: str = ""

    @property
    def is_shipped(self) -> bool:
        return self.organisation is None

    @property
    def application_ref(self) -> str:
        if self.application_key:
            return self.application_key
        return self.ref if self.is_shipped else f"{ORG_PREFIX}{self.ref}"

    @property
    def partner_type_label(self) -> str:
        return str(TemplateType(self.partner_type).label) if self.partner_type in TemplateType.values else ""


def shipped(key: str) -> Template:
    s = library.SHIPPED[key]
    return Template(
        ref=s.key,
        name=str(s.name),
        partner_type=str(s.partner_type),
        structure=library.resolved(s.structure),
        version=s.version,
        lineage=s.key,
        summary=str(s.summary),
    )


def shipped_templates() -> list[Template]:
    return [shipped(key) for key in library.SHIPPED]


def as_template(row: PlanTemplate) -> Template:
    """An organisation's template as one to show or apply."""
    return Template(
        ref=str(row.pk),
        name=row.name,
        partner_type=row.partner_type,
        structure=row.structure,
        version=row.version,
        lineage=row.lineage,
        organisation=row.organisation,
        row=row,
    )


def _member_orgs(user: User) -> QuerySet[Any]:
    return OrganisationMembership.objects.filter(user=user).values("organisation_id")


def templates_for(user: User) -> list[Template]:
    """Every template the person may apply: the shipped ones, then their organisations' own (one query)."""
    own = PlanTemplate.objects.filter(organisation_id__in=_member_orgs(user)).select_related("organisation")
    return shipped_templates() + [as_template(row) for row in own.order_by("organisation__name", "name")]


def template_get(user: User, ref: Any) -> Template:
    """A template by its reference (a shipped key or an organisation template's id) that the person
    may see and apply: a shipped one or one of their organisations' (one query); ``NotFound`` for
    anything else (another organisation's template is as unknown as one that does not exist)."""
    if isinstance(ref, str) and ref in library.SHIPPED:
        return shipped(ref)
    row = find(PlanTemplate.objects.filter(organisation_id__in=_member_orgs(user)).select_related("organisation"), ref)
    if row is None:
        raise NotFound(gettext("No such template."))
    return as_template(row)


def template_for(user: User, ref: Any) -> Template:
    """``template_get`` for a template named in a request to apply it: an unknown one is
    ``InvalidInput`` on ``template``."""
    try:
        return template_get(user, ref)
    except NotFound as exc:
        raise InvalidInput(
            "No such template. Choose a shipped template or one of your organisation's.",
            fields={"template": ["No such template."]},
        ) from exc


# --- Apply --------------------------------------------------------------------------------------


@dataclass
class PlannedObjective:
    """One objective of a template as it would be applied: what it creates, or why not."""

    key: str
    item: dict[str, Any]
    exists: bool  # created by an earlier application: skipped
    target_date: dt.date | None = None
    goals: list[tuple[dt.date, dt.date, Decimal, Decimal]] = field(default_factory=list)


@dataclass
class Preview:
    template: Template
    objectives: list[PlannedObjective]
    drivers: list[dict[str, str]]  # the drivers the plan does not have yet
    blocked: str = ""  # why the template cannot be applied to this plan ("" when it can)

    @property
    def new_objectives(self) -> list[PlannedObjective]:
        return [o for o in self.objectives if not o.exists]

    @property
    def goal_count(self) -> int:
        return sum(len(o.goals) for o in self.new_objectives)

    @property
    def nothing_new(self) -> bool:
        return not self.new_objectives and not self.drivers


@dataclass
class Applied:
    objectives: list[Objective] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    drivers: list[Driver] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # keys of items that existed already

    @property
    def created_anything(self) -> bool:
        return bool(self.objectives or self.goals or self.drivers)


def objective_key(key: str) -> str:
    return f"objective:{key}"


def goals_key(key: str) -> str:
    return f"goals:{key}"


def _periods(trajectory: dict[str, Any], today: dt.date) -> list[tuple[dt.date, dt.date]]:
    return coming_periods(today, trajectory["length"], int(trajectory["periods"]))


def _ramp(trajectory: dict[str, Any], today: dt.date) -> list[tuple[dt.date, dt.date, Decimal, Decimal]]:
    """The goals a trajectory suggests, (start, end, baseline, target): even steps from the
    baseline to the target, one per period, each starting where the one before ends. Rounded to
    the precision of the baseline and target, finer where a step would otherwise vanish."""
    periods = _periods(trajectory, today)
    baseline, target = Decimal(trajectory["baseline"]), Decimal(trajectory["target"])
    exponent = min(int(baseline.normalize().as_tuple().exponent), int(target.normalize().as_tuple().exponent))
    precision = Decimal(1).scaleb(max(-2, min(0, exponent)))
    n = len(periods)
    while True:
        points = [baseline] + [
            (baseline + (target - baseline) * Decimal(i) / Decimal(n)).quantize(precision, rounding=ROUND_HALF_UP)
            for i in range(1, n)
        ]
        points.append(target)
        if all(a != b for a, b in pairwise(points)) or precision <= FINEST:
            break
        precision = precision.scaleb(-1)
    return [(start, end, points[i], points[i + 1]) for i, (start, end) in enumerate(periods)]


OBJECTIVE_ITEMS = "objective:"


def plan_refusal(partnership: Partnership, lineage: str = "") -> str:
    """Why a template of ``lineage`` may not be applied to this plan now ("" when it may; no
    lineage: any template but the plan's own). A plan takes one when it has no objectives, or when
    all its objectives came from templates of that lineage (one query when it may, two when not)."""
    objectives = Objective.objects.filter(partnership=partnership)
    items = AppliedTemplateItem.objects.filter(partnership=partnership, key__startswith=OBJECTIVE_ITEMS)
    if not objectives.exclude(pk__in=items.filter(lineage=lineage).values("object_id")).exists():
        return ""
    other = (
        items.filter(object_id__in=objectives.values("pk"))
        .exclude(lineage=lineage)
        .select_related("application")
        .order_by("created_at", "id")
        .first()
    )
    if other is not None:
        return gettext(
            "This plan was started from “%(template)s”: a template of another origin would stack a second "
            "structure on it. Apply “%(template)s” (or your organisation's copy of it) again to add what is "
            "missing, add objectives by hand, or start a new partnership from this template."
        ) % {"template": other.application.template_name}
    return gettext(
        "This plan has objectives of its own already: a template starts a new or empty plan. "
        "Add objectives by hand, or start from a template in a new partnership."
    )


def plan_lineage(partnership: Partnership) -> str:
    """The lineage of the templates that filled the plan's objectives ("" when none did; for a plan
    filled before lineages were kept apart, the first one's)."""
    return (
        AppliedTemplateItem.objects.filter(
            partnership=partnership,
            key__startswith=OBJECTIVE_ITEMS,
            object_id__in=Objective.objects.filter(partnership=partnership).values("pk"),
        )
        .order_by("created_at", "id")
        .values_list("lineage", flat=True)
        .first()
        or ""
    )


def source_lineage(partnership: Partnership) -> str:
    """The lineage of a structure taken from this plan (saved as a template or cloned): the plan's
    own, or the plan itself when no template filled it."""
    return plan_lineage(partnership) or f"{PLAN_PREFIX}{partnership.pk}"


def template_preview(*, access: Access, template: Template, today: dt.date | None = None) -> Preview:
    """What applying ``template`` to the plan would create (reads only, a fixed number of queries)."""
    today = today or timezone.localdate()
    applied = set(
        AppliedTemplateItem.objects.filter(partnership=access.partnership, lineage=template.lineage).values_list(
            "key", flat=True
        )
    )
    have = set(Driver.objects.filter(partnership=access.partnership).values_list("side", "name"))
    objectives = []
    for item in template.structure.get("objectives", []):
        t = item.get("trajectory")
        ramp = _ramp(t, today) if t else []
        objectives.append(
            PlannedObjective(
                key=item["key"],
                item=item,
                exists=objective_key(item["key"]) in applied,
                target_date=ramp[-1][1] if ramp else None,
                goals=ramp,
            )
        )
    drivers = [d for d in template.structure.get("drivers", []) if (d["side"], d["name"]) not in have]
    return Preview(template, objectives, drivers, blocked=plan_refusal(access.partnership, template.lineage))


def _record_item(access: Access, application: TemplateApplication, key: str, obj: Any) -> None:
    AppliedTemplateItem.objects.create(
        partnership=access.partnership,
        application=application,
        lineage=application.lineage,
        key=key,
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=obj.pk if obj is not None else None,
    )


@transaction.atomic
def template_apply(
    *, access: Access, template: Template, today: dt.date | None = None, only: list[str] | None = None
) -> Applied:
    """Apply a template to a new or empty plan, or again to the plan it filled: drafts only,
    nothing twice, no stacking (see the module). ``only``: the keys of the template's objectives to
    apply (with just the drivers they name)."""
    access.require_edit("start the plan from a template")
    # One application at a time per plan: the second waits and then sees the first one's items.
    Partnership.objects.select_for_update().filter(pk=access.partnership.pk).values_list("pk").first()
    refusal = plan_refusal(access.partnership, template.lineage)
    if refusal:
        raise RuleViolation(refusal, code="template.plan_not_empty")
    today = today or timezone.localdate()
    structure = library.clean_structure(template.structure)
    if only is not None:
        unknown = set(only) - {o["key"] for o in structure["objectives"]}
        if unknown:
            raise InvalidInput(
                f"Not an objective of this template: {', '.join(sorted(unknown))}.",
                fields={"only": ["Unknown objective key."]},
            )
        structure["objectives"] = [o for o in structure["objectives"] if o["key"] in only]
        named = {(side, n) for o in structure["objectives"] for side in Side.values for n in o[f"{side}_drivers"]}
        structure["drivers"] = [d for d in structure["drivers"] if (d["side"], d["name"]) in named]
    application, created = TemplateApplication.objects.get_or_create(
        partnership=access.partnership,
        template_ref=template.application_ref,
        defaults={
            "template_name": template.name[:200],
            "template_version": template.version,
            "lineage": template.lineage,
            "vision_prompts": structure["vision_prompts"],
            "applied_by": access.user,
        },
    )
    if not created:
        application.template_version = template.version
        application.lineage = template.lineage  # a cloned plan's, when that plan was refilled meanwhile
        application.vision_prompts = structure["vision_prompts"]
        application.save(update_fields=["template_version", "lineage", "vision_prompts"])
    result = Applied()
    existing = set(Driver.objects.filter(partnership=access.partnership).values_list("side", "name"))
    wanted = [(d["side"], d["name"], d["unit"]) for d in structure["drivers"]]
    if wanted:
        drivers = economics.ensure_drivers(access=access, partnership=access.partnership, drivers=wanted)
        result.drivers = [d for d in drivers if (d.side, d.name) not in existing]
    applied = set(
        AppliedTemplateItem.objects.filter(partnership=access.partnership, lineage=template.lineage).values_list(
            "key", flat=True
        )
    )
    for item in structure["objectives"]:
        key = objective_key(item["key"])
        if key in applied:
            result.skipped.append(item["key"])
            continue
        objective = _create_objective(access, item, today)
        _record_item(access, application, key, objective)
        result.objectives.append(objective)
        if item["trajectory"] and goals_key(item["key"]) not in applied:
            result.goals += _create_goals(access, objective, item, today)
            _record_item(access, application, goals_key(item["key"]), None)
    return result


def _create_objective(access: Access, item: dict[str, Any], today: dt.date) -> Objective:
    fields: dict[str, Any] = {
        name: item[name]
        for name in ("title", "description", "vendor_gain", "partner_gain", "success_measure", "metric_name")
    }
    fields["metric_unit"] = item["metric_unit"]
    fields["vendor_drivers"] = [n for n in item["vendor_drivers"] if n in access.partnership.vendor_drivers]
    fields["partner_drivers"] = [n for n in item["partner_drivers"] if n in access.partnership.partner_drivers]
    t = item["trajectory"]
    if t:
        ramp = _ramp(t, today)
        fields |= {
            "baseline": Decimal(t["baseline"]),
            "target": Decimal(t["target"]),
            "baseline_date": today,
            "target_date": ramp[-1][1],
        }
    return plan.objective_create(access=access, **fields)


def _create_goals(access: Access, objective: Objective, item: dict[str, Any], today: dt.date) -> list[Goal]:
    """The trajectory's goals as drafts, the template's suggested commitments as slots for each side."""
    slots = [
        {"side": side, "text": item[f"{side}_commitment"], "placeholder": True}
        for side in Side.values
        if item[f"{side}_commitment"]
    ]
    unit = f" {objective.metric_unit}" if objective.metric_unit else ""
    suggestions = [
        Suggestion(
            period_start=start,
            period_end=end,
            baseline=base,
            target=target,
            title=f"{objective.metric_name}: {target.normalize():f}{unit} by {end:%-d %b %Y}"[:200],
            commitments=[dict(slot) for slot in slots],
        )
        for start, end, base, target in _ramp(item["trajectory"], today)
    ]
    return goals_derive(access=access, objective_id=objective.pk, suggestions=suggestions)


# --- Structure of a plan ------------------------------------------------------------------------


def _trajectory_of(objective: Objective, goals: list[Goal]) -> dict[str, Any] | None:
    """The shape of an objective's goals: baseline and target of the objective, the most common
    period length of its goals and how many there are (at most ``library.MAX_PERIODS``)."""
    if objective.baseline is None or objective.target is None or objective.baseline == objective.target:
        return None
    lengths: Counter[str] = Counter()
    for g in goals:
        months = (g.period_end.year - g.period_start.year) * 12 + g.period_end.month - g.period_start.month + 1
        lengths[min(PERIOD_MONTHS, key=lambda k: abs(PERIOD_MONTHS[k] - months))] += 1
    length = lengths.most_common(1)[0][0] if lengths else "quarter"
    periods = max(1, min(library.MAX_PERIODS, len(goals) or 4))
    return {
        "baseline": format(objective.baseline.normalize(), "f"),
        "target": format(objective.target.normalize(), "f"),
        "length": length,
        "periods": periods,
    }


def plan_structure(access: Access) -> dict[str, Any]:
    """A plan's structure as a template's (four queries): the vision's texts as prompts, each side's
    drivers, the active objectives with their metric and trajectory. No people, commitments,
    approvals, figures, check-ins or comments."""
    return plan_source(access)[1]


def plan_source(access: Access) -> tuple[str, dict[str, Any]]:
    """The lineage of a structure taken from the plan (``source_lineage``) and the structure
    (``plan_structure``): an objective a template of the plan's lineage created keeps that
    template's key, any other is keyed by its id."""
    p = access.partnership
    made = list(
        AppliedTemplateItem.objects.filter(
            partnership=p,
            key__startswith=OBJECTIVE_ITEMS,
            object_id__in=Objective.objects.filter(partnership=p).values("pk"),
        )
        .order_by("created_at", "id")
        .values_list("lineage", "key", "object_id")
    )
    lineage = made[0][0] if made else f"{PLAN_PREFIX}{p.pk}"
    keys = {object_id: key.removeprefix(OBJECTIVE_ITEMS) for line, key, object_id in made if line == lineage}
    vision = Vision.objects.filter(partnership=p).first()
    prompts = {k: (getattr(vision, k, "") or "")[: library.PROMPT_LIMIT] for k in library.VISION_PROMPTS}
    drivers = [
        {"side": d.side, "name": d.name, "unit": d.unit} for d in Driver.objects.filter(partnership=p).order_by("side")
    ]
    names = {(d["side"], d["name"]) for d in drivers}
    goals_of: dict[Any, list[Goal]] = {}
    for g in (
        Goal.objects.filter(partnership=p)
        .exclude(status=GoalStatus.WITHDRAWN)
        .only("objective_id", "period_start", "period_end")
    ):
        goals_of.setdefault(g.objective_id, []).append(g)
    objectives = []
    for o in Objective.objects.filter(partnership=p, status=Objective.Status.ACTIVE).order_by("position", "created_at")[
        : library.MAX_OBJECTIVES
    ]:
        objectives.append(
            {
                "key": keys.get(o.pk) or str(o.pk),
                "title": o.title,
                "description": o.description,
                "vendor_gain": o.vendor_gain,
                "partner_gain": o.partner_gain,
                "vendor_drivers": [n for n in o.vendor_drivers if (Side.VENDOR, n) in names],
                "partner_drivers": [n for n in o.partner_drivers if (Side.PARTNER, n) in names],
                "success_measure": o.success_measure,
                "metric_name": o.metric_name,
                "metric_unit": o.metric_unit,
                "vendor_commitment": "",
                "partner_commitment": "",
                "trajectory": _trajectory_of(o, goals_of.get(o.pk, [])) if o.metric_name else None,
            }
        )
    return lineage, library.clean_structure({"vision_prompts": prompts, "drivers": drivers, "objectives": objectives})


def _organisation_of_side(access: Access) -> Organisation:
    """The caller's side's organisation, where they belong (templates are an organisation's)."""
    organisation = access.partnership.organisation_for(access.side)
    if not OrganisationMembership.objects.filter(organisation=organisation, user=access.user).exists():
        raise NotAllowed(
            f"Templates belong to an organisation; you are not a member of {organisation.name}, whose side you are on."
        )
    return organisation


def _partner_type_of(partnership: Partnership) -> str:
    return partnership.partner_type if partnership.partner_type in TemplateType.values else TemplateType.OTHER


@transaction.atomic
def template_save_from_plan(*, access: Access, name: Any) -> PlanTemplate:
    """Save the plan's structure as a template of the caller's side's organisation."""
    access.require_edit("save the plan as a template")
    organisation = _organisation_of_side(access)
    name = library.clean_name(name)
    lineage, structure = plan_source(access)
    return _insert(
        PlanTemplate(
            organisation=organisation,
            name=name,
            partner_type=_partner_type_of(access.partnership),
            structure=structure,
            lineage=lineage,
            created_by=access.user,
        )
    )


@transaction.atomic
def template_clone_structure(
    *, access: Access, target_partnership_id: Any, today: dt.date | None = None
) -> tuple[Access, Applied]:
    """Copy this plan's structure onto another plan the person edits, as drafts: a new or empty
    one, or one filled from this plan's lineage (``template_apply``'s rule). Cloning the same plan
    twice creates nothing twice (the items are keyed by this plan's lineage and objectives)."""
    access.require_edit("copy the plan's structure")
    target = resolve(access.user, target_partnership_id)
    if target.partnership.pk == access.partnership.pk:
        raise InvalidInput(
            "Choose another partnership to copy the structure to.", fields={"target": ["The same plan."]}
        )
    lineage, structure = plan_source(access)
    template = Template(
        ref=str(access.partnership.pk),
        name=access.partnership.name,
        partner_type=_partner_type_of(access.partnership),
        structure=structure,
        version=1,
        lineage=lineage,
        application_key=f"{PLAN_PREFIX}{access.partnership.pk}",
    )
    return target, template_apply(access=target, template=template, today=today)


# --- An organisation's own templates -----------------------------------------------------------


def _organisation(user: User, organisation_id: Any, *, admin: bool) -> Organisation:
    """An organisation the person belongs to (outsiders: ``NotFound``); ``admin``: they administer it."""
    try:
        organisation_uuid = uuid.UUID(str(organisation_id))
    except ValueError as exc:
        raise NotFound("No such organisation.") from exc
    membership = (
        OrganisationMembership.objects.filter(user=user, organisation_id=organisation_uuid)
        .select_related("organisation")
        .first()
    )
    if membership is None:
        raise NotFound("No such organisation.")
    if admin and membership.role != OrganisationMembership.Role.ADMIN:
        raise NotAllowed(f"Only admins of {membership.organisation.name} change its templates.")
    return membership.organisation


def organisation_of(user: User, organisation_id: Any) -> tuple[Organisation, bool]:
    """An organisation the person belongs to, and whether they administer it."""
    organisation = _organisation(user, organisation_id, admin=False)
    is_admin = OrganisationMembership.objects.filter(
        user=user, organisation=organisation, role=OrganisationMembership.Role.ADMIN
    ).exists()
    return organisation, is_admin


def own_templates(organisation: Organisation) -> QuerySet[PlanTemplate]:
    return PlanTemplate.objects.filter(organisation=organisation).order_by("name")


def own_template(user: User, organisation_id: Any, template_id: Any, *, admin: bool = False) -> PlanTemplate:
    """An organisation's template, for a member (``admin``: an admin, else ``NotAllowed``);
    ``NotFound`` for outsiders and for a template of another organisation."""
    organisation = _organisation(user, organisation_id, admin=admin)
    row = find(PlanTemplate.objects.filter(organisation=organisation).select_related("organisation"), template_id)
    if row is None:
        raise NotFound("No such template.")
    return row


def template_to_change(user: User, ref: Any) -> PlanTemplate:
    """The template ``ref`` names (``template_get``), for the person to change or delete: one of an
    organisation they administer (``own_template`` with ``admin``). A shipped template is
    ``NotAllowed`` (``template.shipped_read_only``): an admin customises it into their own."""
    template = template_get(user, ref)
    if template.row is None:
        raise NotAllowed(
            gettext(
                "“%(name)s” ships with Partnerplan and cannot be changed or deleted; customise it into your "
                "organisation's own template and change that."
            )
            % {"name": template.name},
            code="template.shipped_read_only",
        )
    return own_template(user, template.row.organisation_id, template.row.pk, admin=True)


def _insert(row: PlanTemplate) -> PlanTemplate:
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError as exc:
        raise InvalidInput(
            f"Your organisation has a template called “{row.name}” already; choose another name.",
            fields={"name": ["Already used."]},
        ) from exc
    return row


@transaction.atomic
def template_customise(*, user: User, organisation_id: Any, key: Any, name: Any = None) -> PlanTemplate:
    """Copy a shipped template into the organisation's own, for its admins to edit (same lineage)."""
    organisation = _organisation(user, organisation_id, admin=True)
    if not isinstance(key, str) or key not in library.SHIPPED:
        raise NotFound("No such template.")
    source = shipped(key)
    name = library.clean_name(name) if name else _free_name(organisation, source.name)
    return _insert(
        PlanTemplate(
            organisation=organisation,
            name=name,
            partner_type=source.partner_type,
            structure=library.clean_structure(source.structure),
            based_on=key,
            lineage=source.lineage,
            created_by=user,
        )
    )


def _free_name(organisation: Organisation, base: str) -> str:
    taken = set(PlanTemplate.objects.filter(organisation=organisation).values_list("name", flat=True))
    if base not in taken:
        return base
    return next(f"{base} ({n})" for n in range(2, len(taken) + 3) if f"{base} ({n})" not in taken)


@transaction.atomic
def template_update(
    *,
    user: User,
    organisation_id: Any,
    template_id: Any,
    expected_version: int | None = None,
    name: Any = None,
    partner_type: Any = None,
    structure: Any = None,
    merge_structure: bool = False,
) -> PlanTemplate:
    """Change an organisation's template (its admins): name, partner type, structure (validated by
    ``template_library.clean_structure``: the editor's and the API's rules are the same). A new
    version, in the same lineage. ``merge_structure``: ``structure`` holds
    only the parts to change (``vision_prompts`` per prompt; ``drivers`` and ``objectives`` whole);
    else it is the whole structure. ``expected_version``: the version the change was made against
    (``StaleVersion`` when it is no longer current)."""
    row = own_template(user, organisation_id, template_id, admin=True)
    row = _locked(row, expected_version)
    if name is None and partner_type is None and structure is None:
        return row  # nothing to change: no new version
    if name is not None:
        row.name = library.clean_name(name)
    if partner_type is not None:
        if partner_type not in TemplateType.values:
            raise InvalidInput(
                f"The partner type is one of {', '.join(TemplateType.values)}.",
                fields={"partner_type": ["Unknown partner type."]},
            )
        row.partner_type = partner_type
    if structure is not None:
        row.structure = library.clean_structure(_merged(row.structure, structure) if merge_structure else structure)
    row.version += 1
    row.updated_at = timezone.now()
    if PlanTemplate.objects.filter(organisation=row.organisation, name=row.name).exclude(pk=row.pk).exists():
        raise InvalidInput(
            f"Your organisation has a template called “{row.name}” already; choose another name.",
            fields={"name": ["Already used."]},
        )
    row.save()
    return row


def _locked(row: PlanTemplate, expected_version: Any) -> PlanTemplate:
    """The template locked for a change, refused when the change was made against an older version."""
    locked = PlanTemplate.objects.select_for_update().select_related("organisation").get(pk=row.pk)
    if expected_version is not None and integer(expected_version, "version") != locked.version:
        raise StaleVersion(
            gettext(
                "The template was changed by someone else (you edited version %(expected)s, it is now at version "
                "%(current)s). Reload it and edit again."
            )
            % {"expected": expected_version, "current": locked.version},
            current=locked,
        )
    return locked


def _merged(current: dict[str, Any], changes: Any) -> Any:
    """A structure with the parts ``changes`` gives replaced (anything but an object is left for
    ``clean_structure`` to refuse)."""
    if not isinstance(changes, dict):
        return changes
    merged = {**current, **changes}
    prompts, changed_prompts = current.get("vision_prompts"), changes.get("vision_prompts")
    if isinstance(prompts, dict) and isinstance(changed_prompts, dict):
        merged["vision_prompts"] = {**prompts, **changed_prompts}
    return merged


@transaction.atomic
def template_delete(*, user: User, organisation_id: Any, template_id: Any, expected_version: Any = None) -> None:
    """Delete an organisation's template (its admins). Plans made from it keep what it created, and
    their lineage: a template saved from one of them continues it."""
    row = own_template(user, organisation_id, template_id, admin=True)
    _locked(row, expected_version).delete()


def vision_prompts(partnership: Partnership) -> dict[str, str]:
    """The vision prompts of the template last applied to the plan (one query; empty: none applied).
    They are shown beside an empty vision text and in the vision form, never written into it."""
    application = (
        TemplateApplication.objects.filter(partnership=partnership)
        .exclude(vision_prompts={})
        .order_by("-applied_at")
        .first()
    )
    prompts = application.vision_prompts if application is not None else {}
    return {k: str(prompts.get(k) or "") for k in library.VISION_PROMPTS}


FOR_PARTNER_TYPE = "for-type"  # the choice "the shipped template of the partnership's kind of partner"


@transaction.atomic
def partnership_create_from_template(
    *, actor: User, template_ref: str, today: dt.date | None = None, **fields: Any
) -> tuple[Partnership, Applied | None]:
    """Start a partnership (``alignment.services.partnership_create``) and its plan from a template,
    in one transaction: a template that cannot be applied leaves no partnership behind.
    ``template_ref`` is "" (an empty plan), ``FOR_PARTNER_TYPE`` or a template's reference."""
    template = None
    if template_ref and template_ref != FOR_PARTNER_TYPE:
        template = template_for(actor, template_ref)
    partnership = plan.partnership_create(actor=actor, **fields)
    if template_ref == FOR_PARTNER_TYPE:
        suggested = library.shipped_for(partnership.partner_type)
        template = shipped(suggested.key) if suggested is not None else None
    if template is None:
        return partnership, None
    access = resolve(actor, partnership.pk)
    return partnership, template_apply(access=access, template=template, today=today)
