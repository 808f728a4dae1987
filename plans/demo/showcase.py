"""The showcase: Acme Cloud with a consulting house and a solution provider, built only through
the domain services (see ``alignment.demo``). The demo is built in one go, today; only the dates of
each goal's milestones are set back afterwards to when a real plan would have reached them
(``_date_milestones``), so that past reviews show the plan as it was on their day."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone

from accounts.models import Organisation, OrganisationMembership, User
from alignment import economics
from alignment import services as plan
from alignment.access import Access, resolve
from alignment.models import FigureVisibility, Objective, Partnership, Role, Side, Vision
from cadence import pulse
from cadence import services as review_services
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import commitments as goal_commitments
from goals import services as goals
from goals.derive import goals_derive, period_containing
from goals.models import Approval, CheckIn, Commitment, Direction, Goal, GoalRevision, GoalStatus

from .. import templates_service as plan_templates
from .common import ADMIN_EMAIL, Login, demo_id, ensure_vendor, health_trend, person, quarters, serialise_seeds

# --- The showcase -------------------------------------------------------------------------------

NORTHWIND_ID = demo_id("showcase/northwind")
BRIGHTLINE_ID = demo_id("showcase/brightline")
SHOWCASE_IDS = (NORTHWIND_ID, BRIGHTLINE_ID)


def showcase_exists() -> bool:
    return Partnership.objects.filter(pk__in=SHOWCASE_IDS).exists()


@dataclass
class Cast:
    """Who acts in one showcase partnership (the access of each person)."""

    admin: Access
    manager: Access  # the vendor's partner manager (vendor approver)
    partner: Access  # the partner's approver (admin of the partner organisation)
    viewer: Access  # a partner viewer

    def of(self, key: str) -> Access:
        return getattr(self, key)  # type: ignore[no-any-return]


@dataclass
class GoalPlan:
    """One showcase goal and the state to drive it into through the services."""

    objective: str
    title: str
    state: str  # a GoalStatus value, or "amended" (agreed with a pending amendment)
    period: tuple[dt.date, dt.date]
    baseline: Decimal
    target: Decimal
    vendor_does: list[tuple[str, int, bool]]  # (text, due in days from period start, done)
    partner_does: list[tuple[str, int, bool]]
    description: str = ""
    direction: str = Direction.INCREASE
    proposer: str = "manager"  # who proposes (its side approves first)
    reach: float = 0.6  # share of the way to the target the check-ins reach
    confidence: tuple[int, int] = (4, 4)  # latest (vendor, partner) confidence
    note: str = ""  # closing note, withdrawal note or change request
    amend: dict[str, Any] = field(default_factory=dict)
    comments: list[tuple[str, str]] = field(default_factory=list)  # (who, text)
    dispute: str = ""  # the other side disputes the latest older figure with its own number and this note
    settle: bool = False  # ... and the side that entered it settles on the other side's number


@dataclass
class DriverPlan:
    """One side's business driver and its figures for the last four quarters (oldest first)."""

    name: str
    unit: str
    figures: tuple[float, float, float, float]
    shared: bool = False
    note: str = ""  # on the latest figure


# Figures older than this are confirmed by the other side (or disputed); newer ones still wait.
UNREVIEWED_DAYS = 21


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 1)))


def build_showcase(today: dt.date | None = None) -> list[Partnership]:
    """Build the two showcase partnerships in one transaction; nothing if they exist already."""
    today = today or timezone.localdate()
    q = quarters(today)
    with transaction.atomic():
        serialise_seeds()
        if showcase_exists():
            return []
        org, admin = ensure_vendor()
        northwind = _northwind(org, admin, today, q)
        brightline = _brightline(org, admin, today, q)
        health_trend([northwind, brightline], today)
    return [northwind, brightline]


def _partnership(
    org: Organisation,
    admin: User,
    *,
    pid: uuid.UUID,
    partner_name: str,
    manager: User,
    partner: User,
    viewer: User,
    **fields: Any,
) -> tuple[Partnership, Cast]:
    p = plan.partnership_create(actor=admin, vendor=org, partner_name=partner_name, id=pid, **fields)
    OrganisationMembership.objects.get_or_create(organisation=org, user=manager)
    OrganisationMembership.objects.create(organisation=p.partner, user=partner, role=OrganisationMembership.Role.ADMIN)
    admin_access = resolve(admin, p.pk)
    plan.member_add(access=admin_access, user=manager, side=Side.VENDOR, role=Role.APPROVER)
    partner_admin = resolve(partner, p.pk)
    plan.member_add(access=partner_admin, user=partner, side=Side.PARTNER, role=Role.APPROVER)
    plan.member_add(access=partner_admin, user=viewer, side=Side.PARTNER, role=Role.VIEWER)
    return p, Cast(
        admin=admin_access, manager=resolve(manager, p.pk), partner=resolve(partner, p.pk), viewer=resolve(viewer, p.pk)
    )


def _northwind(org: Organisation, admin: User, today: dt.date, q: dict[str, tuple[dt.date, dt.date]]) -> Partnership:
    manager = person("sam.okafor@acme-cloud.example", "Sam Okafor", "Europe/Berlin")
    partner = person("priya.nair@northwind-consulting.example", "Priya Nair", "Europe/Berlin")
    viewer = person("tom.becker@northwind-consulting.example", "Tom Becker", "Europe/Berlin")
    p, cast = _partnership(
        org,
        admin,
        pid=NORTHWIND_ID,
        partner_name="Northwind Consulting",
        manager=manager,
        partner=partner,
        viewer=viewer,
        name="Acme Cloud × Northwind Consulting",
        partner_type=Partnership.PartnerType.CONSULTING,
        referral_fee_percent=Decimal("10"),
        economic_notes="10 % referral fee on first-year licences Northwind sources; Northwind keeps all services "
        "revenue. Certified consultants get free sandbox tenants.",
        review_cadence=Partnership.Cadence.QUARTERLY,
        timezone="Europe/Berlin",
        review_time=dt.time(10, 0),
    )
    plan.vision_update(
        access=cast.manager,
        horizon=today + relativedelta(years=3),
        why_together="Mid-sized manufacturers want to leave their ageing on-premise ERP add-ons. Acme Cloud has the "
        "platform; Northwind has the process know-how and the trust of their IT leaders.",
        what_we_hope="Northwind becomes the reference migration partner for Acme Cloud in the DACH region: "
        "a certified practice of 24 consultants, 40 joint customers live, and higher billable rates "
        "for specialised migration work.",
        how_we_work="We plan the year together, meet every quarter to review the plan, share pipeline openly, and "
        "each side commits to concrete actions: Acme Cloud funds enablement and co-selling, Northwind "
        "staffs certified consultants and brings its customers.",
    )
    revision = Vision.objects.get(partnership=p).revision
    plan.vision_endorse(access=cast.manager, revision=revision)
    plan.vision_endorse(access=cast.partner, revision=revision)
    # Each side's economics: Acme Cloud counts the ARR Northwind sources and the consultants it
    # certifies; Northwind lives from billable work. Each keeps its most sensitive numbers to itself.
    drivers = _economics(
        cast,
        today,
        vendor=[
            DriverPlan(
                "partner-sourced ARR",
                "EUR k",
                (180, 235, 290, 385),
                shared=True,
                note="Three migrations signed in the last month of the quarter.",
            ),
            DriverPlan("certified consultants", "people", (2, 3, 4, 9), shared=True),
            DriverPlan("active users", "users", (1850, 2120, 2460, 2980)),
        ],
        partner=[
            DriverPlan(
                "services revenue from the practice",
                "EUR k",
                (210, 236, 251, 318),
                note="Two fixed-price onboardings billed early.",
            ),
            DriverPlan("utilisation of certified consultants", "%", (58, 61, 64, 71), shared=True),
            DriverPlan("average billable day rate", "EUR", (1080, 1095, 1120, 1185)),
            DriverPlan("deals sourced", "deals", (2, 3, 3, 5), shared=True),
        ],
    )
    # The plan starts from the consulting-house template: its utilisation objective, with its driver
    # and four quarterly draft goals (the objectives below are the ones the two sides wrote).
    plan_templates.template_apply(
        access=cast.manager, template=plan_templates.shipped("consulting"), today=today, only=["utilisation"]
    )

    objectives = {
        "practice": plan.objective_create(
            access=cast.manager,
            title="Build a certified Acme Cloud migration practice",
            description="Enough certified consultants to staff every joint migration without waiting.",
            vendor_gain="Customers go live faster, and stay.",
            partner_gain="A specialised practice at better rates.",
            vendor_drivers=["certified consultants", "active users"],
            partner_drivers=["average billable day rate", "utilisation of certified consultants"],
            success_measure="Certified consultants on staff",
            metric_name="Certified consultants",
            metric_unit="people",
            baseline=Decimal("4"),
            target=Decimal("24"),
            baseline_date=q["last"][0],
            target_date=q["last"][0] + relativedelta(years=2),
        ),
        "pipeline": plan.objective_create(
            access=cast.partner,
            title="Grow jointly sourced migration projects",
            description="Opportunities found and worked together from the first meeting.",
            vendor_gain="New enterprise logos and licence revenue.",
            partner_gain="A steady flow of services work.",
            vendor_drivers=["partner-sourced ARR"],
            partner_drivers=["services revenue from the practice"],
            success_measure="Qualified joint pipeline",
            metric_name="Joint pipeline",
            metric_unit="EUR k",
            baseline=Decimal("400"),
            target=Decimal("3000"),
            baseline_date=q["last"][0],
            target_date=q["last"][0] + relativedelta(years=2),
        ),
        "onboarding": plan.objective_create(
            access=cast.manager,
            title="Shorten time to first value for joint customers",
            vendor_gain="Lower churn in the first year.",
            partner_gain="Fixed-price onboarding becomes profitable.",
            vendor_drivers=["active users"],
            partner_drivers=["utilisation of certified consultants"],
            success_measure="Median days from signature to first production use",
            metric_name="Median onboarding time",
            metric_unit="days",
            baseline=Decimal("60"),
            target=Decimal("30"),
            baseline_date=q["last"][0],
            target_date=q["last"][0] + relativedelta(years=2),
        ),
    }
    # Northwind links the deals it sources to the pipeline objective the vendor's side wrote with it.
    economics.objective_link_driver(
        access=cast.partner, objective_id=objectives["pipeline"].pk, driver_id=drivers["deals sourced"].pk
    )
    plans = [
        GoalPlan(
            "practice",
            "Certify 8 consultants",
            GoalStatus.ACHIEVED,
            q["last"],
            Decimal("4"),
            Decimal("8"),
            [("Fund two certification bootcamps", 20, True)],
            [("Release six consultants for the bootcamps", 15, True)],
            reach=1.25,
            confidence=(5, 5),
            note="Nine consultants certified; the second bootcamp was oversubscribed.",
            comments=[("partner", "Bootcamp two was excellent, the hands-on labs made the difference.")],
        ),
        GoalPlan(
            "practice",
            "Certify 12 consultants and staff every joint project",
            GoalStatus.AGREED,
            q["half"],
            Decimal("8"),
            Decimal("12"),
            [("Run an advanced migration bootcamp", 40, True), ("Give sandbox tenants to every trainee", 10, True)],
            [("Assign a practice lead", 20, True), ("Certify four more consultants", 150, False)],
            reach=0.7,
            confidence=(4, 3),
            comments=[
                ("viewer", "Two trainees moved to a customer project; the exam slips by three weeks."),
                ("manager", "Understood. We can add a remote exam slot in the last month."),
            ],
        ),
        GoalPlan(
            "pipeline",
            "Joint pipeline of 700k EUR",
            GoalStatus.MISSED,
            q["last"],
            Decimal("400"),
            Decimal("700"),
            [("Share 30 qualified leads in manufacturing", 30, True)],
            [("Host two customer round-tables", 45, False)],
            reach=0.6,
            confidence=(2, 3),
            note="Round-tables slipped to this quarter; pipeline reached 580k EUR.",
            dispute="Two of these opportunities were lost before the count; our CRM shows less.",
            settle=True,
        ),
        GoalPlan(
            "pipeline",
            "Joint pipeline of 1.1M EUR",
            "amended",
            q["half"],
            Decimal("580"),
            Decimal("1100"),
            [("Co-fund a migration assessment offer", 30, True), ("Joint account planning for 20 targets", 60, False)],
            [
                ("Run the round-tables in Munich and Vienna", 50, True),
                ("Qualify every inbound lead in 48 hours", 20, True),
            ],
            reach=0.55,
            confidence=(4, 2),
            proposer="partner",
            amend={"target": Decimal("1300")},
            comments=[("partner", "The Vienna round-table brought three large prospects: we propose a higher target.")],
        ),
        GoalPlan(
            "pipeline",
            "Trade-fair joint booth leads",
            GoalStatus.DROPPED,
            q["half"],
            Decimal("0"),
            Decimal("60"),
            [("Pay for the joint booth", 20, True)],
            [("Staff the booth with two consultants", 20, False)],
            reach=0.1,
            confidence=(2, 2),
            note="The trade fair was cancelled by the organiser.",
        ),
        GoalPlan(
            "onboarding",
            "Median onboarding under 50 days",
            GoalStatus.PROPOSED,
            q["this"],
            Decimal("60"),
            Decimal("50"),
            [("Publish a migration runbook", 30, False)],
            [("Use the runbook on every new project", 45, False)],
            direction=Direction.DECREASE,
            comments=[("partner", "We will review the runbook draft with our delivery leads this week.")],
        ),
    ]
    for goal_plan in plans:
        _drive_goal(cast, objectives, goal_plan, today)
    # Interim goals derived from the long-term target: drafts with a suggested slot for each side.
    goals_derive(
        access=cast.manager, objective_id=objectives["practice"].pk, length="quarter", count=2, today=q["next"][0]
    )
    _reviews(
        cast,
        today,
        [
            (
                100,
                "Kick-off of the joint plan",
                "Agreed the vision and the three objectives.",
                "Fund two bootcamps; Northwind releases six consultants.",
            ),
            (
                10,
                "Quarterly business review",
                "Pipeline goal missed; certification ahead of plan.",
                "Raise the pipeline target once the round-tables are done; keep the bootcamp rhythm.",
            ),
        ],
    )
    return p


def _brightline(org: Organisation, admin: User, today: dt.date, q: dict[str, tuple[dt.date, dt.date]]) -> Partnership:
    manager = person("lena.hoffmann@acme-cloud.example", "Lena Hoffmann", "Europe/London")
    partner = person("marco.rossi@brightline-solutions.example", "Marco Rossi", "Europe/London")
    viewer = person("jade.wu@brightline-solutions.example", "Jade Wu", "Europe/London")
    p, cast = _partnership(
        org,
        admin,
        pid=BRIGHTLINE_ID,
        partner_name="Brightline Solutions",
        manager=manager,
        partner=partner,
        viewer=viewer,
        name="Acme Cloud × Brightline Solutions",
        partner_type=Partnership.PartnerType.RESELLER,
        margin_percent=Decimal("22.5"),
        economic_notes="22.5 % resale margin on subscriptions, 5 % extra on multi-year renewals.",
        review_cadence=Partnership.Cadence.MONTHLY,
        timezone="Europe/London",
        review_time=dt.time(15, 0),
    )
    plan.vision_update(
        access=cast.manager,
        horizon=today + relativedelta(years=2),
        why_together="Brightline's customers buy their whole workplace stack from one trusted provider; Acme Cloud "
        "belongs in that stack.",
        what_we_hope="Acme Cloud becomes Brightline's standard collaboration platform, sold on value rather than "
        "discount, with renewals that grow every year.",
        how_we_work="A monthly pipeline call, shared renewal forecasts, and joint campaigns planned a quarter ahead.",
    )
    # Only the vendor side has endorsed the vision so far: Brightline's board reviews it next month.
    plan.vision_endorse(access=cast.manager, revision=Vision.objects.get(partnership=p).revision)
    # Each side's economics: Acme Cloud counts subscriptions and users; Brightline its recurring
    # revenue, the products each customer takes and the discount it grants.
    _economics(
        cast,
        today,
        vendor=[
            DriverPlan("subscription revenue", "EUR k", (1050, 1110, 1200, 1320), shared=True),
            DriverPlan("active users", "users", (5200, 5650, 6100, 6850), shared=True),
            DriverPlan("net revenue retention", "%", (103, 104, 104, 108), note="Two upsells of 400 seats each."),
        ],
        partner=[
            DriverPlan(
                "subscription and licence revenue",
                "EUR k",
                (262, 281, 296, 334),
                note="Multi-year renewals booked with the 5 % extra.",
            ),
            DriverPlan("active users", "users", (5050, 5480, 6020, 6710)),
            DriverPlan("products per customer", "products", (1.2, 1.2, 1.3, 1.4), shared=True),
            DriverPlan(
                "average discount",
                "%",
                (20, 19, 18, 15.5),
                shared=True,
                note="Discounts above 10 % approved centrally since the middle of the quarter.",
            ),
        ],
    )
    # The plan starts from the solution-provider template: its products-per-customer objective, with
    # its driver and four quarterly draft goals.
    plan_templates.template_apply(
        access=cast.manager, template=plan_templates.shipped("reseller"), today=today, only=["products-per-customer"]
    )

    objectives = {
        "arr": plan.objective_create(
            access=cast.manager,
            title="Grow recurring revenue sold through Brightline",
            vendor_gain="Subscription revenue in a segment we cannot reach directly.",
            partner_gain="Recurring margin instead of one-off hardware deals.",
            vendor_drivers=["subscription revenue", "active users"],
            partner_drivers=["subscription and licence revenue", "active users"],
            success_measure="Annual recurring revenue of Brightline customers",
            metric_name="ARR",
            metric_unit="EUR k",
            baseline=Decimal("1200"),
            target=Decimal("3000"),
            baseline_date=q["last"][0],
            target_date=q["last"][0] + relativedelta(years=2),
        ),
        "discount": plan.objective_create(
            access=cast.partner,
            title="Sell on value: less discounting on renewals",
            vendor_gain="Healthier net retention.",
            partner_gain="Better margin on every renewal.",
            vendor_drivers=["net revenue retention"],
            partner_drivers=["average discount"],
            success_measure="Average discount granted on renewals",
            metric_name="Average renewal discount",
            metric_unit="%",
            baseline=Decimal("18"),
            target=Decimal("8"),
            baseline_date=q["last"][0],
            target_date=q["last"][0] + relativedelta(years=2),
        ),
    }
    plans = [
        GoalPlan(
            "arr",
            "ARR of 1.5M EUR through Brightline",
            GoalStatus.AGREED,
            q["half"],
            Decimal("1200"),
            Decimal("1500"),
            [("Give Brightline a named channel sales engineer", 10, True), ("Co-fund a renewal campaign", 90, False)],
            [("Add Acme Cloud to every workplace proposal", 15, True), ("Train the inside-sales team", 30, True)],
            reach=0.65,
            confidence=(4, 4),
            comments=[("partner", "Inside sales finished the training; first cross-sell deals are in the forecast.")],
            dispute="Our billing shows less: two of these customers renew only next month.",
        ),
        GoalPlan(
            "arr",
            "Win five mid-market logos",
            GoalStatus.CHANGES_REQUESTED,
            q["this"],
            Decimal("0"),
            Decimal("5"),
            [("Provide two reference customers", 30, False)],
            [("Run a mid-market webinar", 40, False)],
            note="Five logos in one quarter is too tight with our webinar only in the last month; can we make it "
            "three, or add a second campaign on your side?",
        ),
        GoalPlan(
            "discount",
            "Average renewal discount below 15 %",
            GoalStatus.AGREED,
            q["half"],
            Decimal("18"),
            Decimal("15"),
            [("Publish value-selling battle cards", 20, True)],
            [("Approve discounts above 10 % centrally", 10, True)],
            direction=Direction.DECREASE,
            reach=0.8,
            confidence=(3, 5),
        ),
        GoalPlan(
            "discount",
            "Bundle discount promotion",
            GoalStatus.WITHDRAWN,
            q["this"],
            Decimal("15"),
            Decimal("12"),
            [("Design a bundle price", 20, False)],
            [("Offer the bundle to renewals", 30, False)],
            direction=Direction.DECREASE,
            proposer="partner",
            note="A bundle discount works against the objective; we will sell on value instead.",
        ),
        GoalPlan(
            "discount",
            "Average renewal discount below 13 %",
            GoalStatus.DRAFT,
            q["next"],
            Decimal("15"),
            Decimal("13"),
            [("Share renewal forecasts monthly", 15, False)],
            [],
            direction=Direction.DECREASE,
            comments=[("viewer", "Should we wait for the results of this quarter before setting this target?")],
        ),
    ]
    for goal_plan in plans:
        _drive_goal(cast, objectives, goal_plan, today)
    _reviews(
        cast,
        today,
        [
            (
                62,
                "Monthly pipeline call",
                "Renewal forecast shared for the first time.",
                "Start value-selling training.",
            ),
            (
                31,
                "Monthly pipeline call",
                "Discount approvals now central; two large renewals at 9 %.",
                "Withdraw the bundle promotion idea.",
            ),
        ],
    )
    return p


def _drive_goal(cast: Cast, objectives: dict[str, Objective], g: GoalPlan, today: dt.date) -> Goal:
    """Create one goal and take it through the workflow into its planned state."""
    start, end = g.period
    proposer = cast.of(g.proposer)
    other = cast.partner if proposer.side == Side.VENDOR else cast.manager
    owners = {Side.VENDOR: cast.manager.user, Side.PARTNER: cast.partner.user}
    specs = [
        {"side": side, "text": text, "owner": owners[side], "due_date": start + dt.timedelta(days=days)}
        for side, items in ((Side.VENDOR, g.vendor_does), (Side.PARTNER, g.partner_does))
        for text, days, _ in items
    ]
    goal = goals.goal_create(
        access=proposer,
        objective_id=objectives[g.objective].pk,
        title=g.title,
        description=g.description,
        period_start=start,
        period_end=end,
        baseline=g.baseline,
        target=g.target,
        direction=g.direction,
        commitments=specs,
    )
    if g.state == GoalStatus.DRAFT:
        _date_milestones(cast, goal)
        _comment(cast, goal, g)
        return goal
    goal = goals.goal_propose(access=proposer, goal_id=goal.pk)
    if g.state == GoalStatus.WITHDRAWN:
        goal = goals.goal_withdraw(access=proposer, goal_id=goal.pk, note=g.note)
    elif g.state == GoalStatus.CHANGES_REQUESTED:
        goals.goal_request_changes(access=other, goal_id=goal.pk, comment=g.note, revision=goal.revision)
    elif g.state == GoalStatus.PROPOSED:
        goals.goal_approve(access=proposer, goal_id=goal.pk, revision=goal.revision)
    else:
        goals.goal_approve(access=proposer, goal_id=goal.pk, revision=goal.revision)
        goals.goal_approve(access=other, goal_id=goal.pk, revision=goal.revision)
        done = {text for text, _, is_done in g.vendor_does + g.partner_does if is_done}
        for c in Commitment.objects.filter(goal=goal, text__in=done):
            side_access = cast.manager if c.side == Side.VENDOR else cast.partner
            goal_commitments.commitment_update(access=side_access, commitment_id=c.pk, done=True)
        _check_ins(cast, goal, g, today)
        if g.state == "amended":
            goals.goal_update(access=proposer, goal_id=goal.pk, **g.amend)
            goal = goals.goal_propose(access=proposer, goal_id=goal.pk)
            goals.goal_approve(access=proposer, goal_id=goal.pk, revision=goal.revision)
        elif g.state in (GoalStatus.ACHIEVED, GoalStatus.MISSED, GoalStatus.DROPPED):
            goals.goal_close(access=cast.manager, goal_id=goal.pk, outcome=g.state, note=g.note, today=today)
    _date_milestones(cast, goal)
    _comment(cast, goal, g)
    return goal


def _date_milestones(cast: Cast, goal: Goal) -> None:
    """Date a goal's milestones as a real plan's: written three weeks before its period starts,
    proposed the next day, agreed a week later, closed a few days after its period ends (withdrawn
    a week before it starts), never later than now. Built today, every goal would otherwise have
    been written today, and a past review's snapshot (the plan as it was on the day it was held,
    ``goals.queries.goal_status_snapshot``) would hold none. An amendment stays dated today."""
    zone = plan.partnership_zone(cast.admin.partnership)
    now = timezone.now()

    def on(day: dt.date) -> dt.datetime:
        return min(now, dt.datetime.combine(day, dt.time(9), tzinfo=zone))

    goal.refresh_from_db()
    start = goal.period_start
    proposed, agreed = on(start - dt.timedelta(days=20)), on(start - dt.timedelta(days=14))
    dates = {"created_at": on(start - dt.timedelta(days=21))}
    if goal.proposed_at and goal.revision == 1:
        dates["proposed_at"] = proposed
    if goal.agreed_at and goal.agreed_revision == 1:
        dates["agreed_at"] = agreed
    if goal.closed_at and goal.status == GoalStatus.WITHDRAWN:
        dates["closed_at"] = on(start - dt.timedelta(days=7))
    elif goal.closed_at:
        dates["closed_at"] = max(agreed, on(goal.period_end + dt.timedelta(days=3)))
    Goal.objects.filter(pk=goal.pk).update(**dates)
    GoalRevision.objects.filter(goal=goal, number=1).update(created_at=proposed)
    Approval.objects.filter(goal=goal, revision=1).update(created_at=agreed)


def _comment(cast: Cast, goal: Goal, g: GoalPlan) -> None:
    for who, text in g.comments:
        goal_comments.comment_create(access=cast.of(who), goal_id=goal.pk, body=text)


def _economics(cast: Cast, today: dt.date, *, vendor: list[DriverPlan], partner: list[DriverPlan]) -> dict[str, Any]:
    """Each side's drivers, added by that side's approver, with its figures for the last four
    quarters: private unless the side shares them. Returns the drivers by name (the vendor's
    where both sides name a driver alike)."""
    periods: list[tuple[dt.date, dt.date]] = []
    end = quarters(today)["last"][1]
    for _ in range(4):
        period = period_containing(end, "quarter")
        periods.insert(0, period)
        end = period[0] - dt.timedelta(days=1)
    drivers: dict[str, Any] = {}
    for access, items in ((cast.partner, partner), (cast.manager, vendor)):
        for item in items:
            driver = economics.driver_add(access=access, name=item.name, unit=item.unit)
            drivers[item.name] = driver
            for n, ((start, stop), value) in enumerate(zip(periods, item.figures, strict=True)):
                economics.figure_record(
                    access=access,
                    driver_id=driver.pk,
                    period_start=start,
                    period_end=stop,
                    value=Decimal(str(value)),
                    note=item.note if n == len(periods) - 1 else "",
                    visibility=FigureVisibility.SHARED if item.shared else FigureVisibility.PRIVATE,
                )
    # Everyone's view of the partnership now names both sides' drivers (objectives check against it).
    for access in (cast.admin, cast.manager, cast.partner, cast.viewer):
        access.partnership.refresh_from_db()
    return drivers


def _check_ins(cast: Cast, goal: Goal, g: GoalPlan, today: dt.date) -> None:
    """Check-ins from both sides about every two weeks, from the period start up to today; the
    other side confirms those older than three weeks (``_review_check_ins``)."""
    start, end = g.period
    last = min(end, today)
    days = list(range(12, (last - start).days + 1, 14)) or [max(0, (last - start).days)]
    rng = random.Random(goal.title)  # a deterministic wobble
    span = float(g.target - g.baseline)
    for n, offset in enumerate(days):
        share = g.reach * (n + 1) / len(days)
        value = float(g.baseline) + span * min(1.3, max(0.0, share + rng.uniform(-0.04, 0.04)))
        late = n >= len(days) - 2
        for side, confidence in zip(Side.values, g.confidence, strict=True):
            if not late and rng.random() < 0.3:
                continue  # not every side checks in every time
            who = cast.manager if side == Side.VENDOR else cast.partner
            conf = confidence if late else max(1, min(5, confidence + rng.choice((-1, 0, 0, 1))))
            goal_check_ins.check_in_create(
                access=who,
                goal_id=goal.pk,
                value=_money(value + (0 if side == Side.VENDOR else span * 0.01)),
                measured_on=start + dt.timedelta(days=offset),
                confidence=conf,
                note="" if rng.random() < 0.6 else "Numbers from the monthly pipeline export.",
            )
    _review_check_ins(cast, goal, g, today)


def _review_check_ins(cast: Cast, goal: Goal, g: GoalPlan, today: dt.date) -> None:
    """Two-key actuals: the other side confirms every figure older than three weeks; with a
    ``dispute`` it disputes the latest of them with its own number instead, and with ``settle``
    the side that entered it settles on that number. Recent figures stay unconfirmed."""
    older = list(
        CheckIn.objects.filter(goal=goal, measured_on__lte=today - dt.timedelta(days=UNREVIEWED_DAYS)).order_by(
            "measured_on", "side"
        )
    )
    disputed = older.pop() if g.dispute and older else None
    for ci in older:
        goal_check_ins.check_in_confirm(access=_other(cast, ci.side), check_in_id=ci.pk)
    if disputed is None:
        return
    # The other side counts a little less (a lost deal, a renewal that slipped): both numbers stand.
    their_number = disputed.value - max(_money(float(abs(g.target - g.baseline)) * 0.08), Decimal("1"))
    goal_check_ins.check_in_dispute(
        access=_other(cast, disputed.side), check_in_id=disputed.pk, value=their_number, note=g.dispute
    )
    if g.settle:
        goal_check_ins.check_in_settle(
            access=cast.manager if disputed.side == Side.VENDOR else cast.partner,
            check_in_id=disputed.pk,
            value=their_number,
        )


def _other(cast: Cast, side: str) -> Access:
    """The approver of the side that did not enter a figure."""
    return cast.partner if side == Side.VENDOR else cast.manager


def _reviews(cast: Cast, today: dt.date, held: list[tuple[int, str, str, str]]) -> None:
    """Past reviews (held, with notes and decisions) and the next one from the cadence."""
    zone = plan.partnership_zone(cast.admin.partnership)
    review_time = cast.admin.partnership.review_time
    attendees = [cast.manager.user, cast.partner.user]
    for days_ago, title, notes, decisions in held:
        day = today - dt.timedelta(days=days_ago)
        when = dt.datetime.combine(day, review_time, tzinfo=zone)
        review = plan.review_schedule(access=cast.manager, scheduled_for=when, title=title)
        _pulse(cast, review.pk, days_ago)
        review_services.review_hold(
            access=cast.manager,
            review_id=review.pk,
            held_on=day,
            attendees=attendees,
            notes=notes,
            decisions=decisions,
            schedule_next=False,
        )
    plan.review_schedule(access=cast.manager, title="Next alignment review")


# Each person's pulse (trust, fairness, value, responsiveness, ease) at a review: the vendor sees
# the partnership better than the partner on fairness and responsiveness (a gap to talk about),
# and the partner's view improves from one review to the next (the trend).
PULSE_ANSWERS = {
    "admin": (4, 4, 4, 4, 4),
    "manager": (5, 4, 4, 5, 4),
    "partner": (3, 2, 4, 2, 3),
    "viewer": (4, 3, 4, 3, 4),
}
PULSE_NOTES = {"partner": "Quotes take a week to come back; leads are shared late in the quarter."}
# The review before: what the partner felt then (the quotes were already slow; the leads were worse).
EARLIER_PULSE_NOTES = {"partner": "We heard about two deals in our region only after they closed."}


def _pulse(cast: Cast, review_id: Any, days_ago: int) -> None:
    """The relationship pulse of a past review, answered while it was scheduled; older reviews
    were felt a little worse on the partner side."""
    lower = 1 if days_ago > 60 else 0
    for who, answers in PULSE_ANSWERS.items():
        access = cast.of(who)
        drop = lower if access.side == Side.PARTNER else 0
        pulse.pulse_answer(
            access=access,
            review_id=review_id,
            answers={q: max(1, a - drop) for q, a in zip(pulse.QUESTIONS, answers, strict=True)},
            note=(EARLIER_PULSE_NOTES if lower else PULSE_NOTES).get(who, ""),
        )


def showcase_logins() -> list[Login]:
    return [
        Login(ADMIN_EMAIL, "Vera Lindqvist, admin of Acme Cloud (sees every partnership)"),
        Login(
            "sam.okafor@acme-cloud.example", "Sam Okafor, Acme Cloud partner manager for Northwind (vendor approver)"
        ),
        Login("priya.nair@northwind-consulting.example", "Priya Nair, Northwind Consulting (partner approver, admin)"),
        Login("tom.becker@northwind-consulting.example", "Tom Becker, Northwind Consulting (partner viewer)"),
        Login(
            "lena.hoffmann@acme-cloud.example",
            "Lena Hoffmann, Acme Cloud partner manager for Brightline (vendor approver)",
        ),
        Login(
            "marco.rossi@brightline-solutions.example", "Marco Rossi, Brightline Solutions (partner approver, admin)"
        ),
        Login("jade.wu@brightline-solutions.example", "Jade Wu, Brightline Solutions (partner viewer)"),
    ]
