"""Demo data for Partnerplan (``manage.py seed_demo``).

Two parts, both under the demo vendor “Acme Cloud”:

- The **showcase**: a consulting house and a solution provider, each with people on both sides, a
  written vision, mutual objectives, goals in every state of the workflow, check-ins over several
  months, comments and reviews past and upcoming. It is built only through the domain services, so
  every rule holds and every change has its change event, exactly as if people had clicked it.
  Dates are relative to today: goals that are over ran in past periods and check-ins are backdated.
- **Volume** data for benchmarks (``build_volume``):
  many partnerships, goals and check-ins written with ``bulk_create`` in a few big transactions,
  with one ``create`` change event per object. It writes the same rows the services would (agreed
  goals carry both sides' approvals of their agreed revision and commitments from both sides).

Objects get deterministic ids (uuid5), so the builders see what exists already: running the seed
again adds nothing that is there (volume partnerships that are missing are built, the rest is
left alone).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organisation, OrganisationMembership, User
from goals import services as goals
from goals.derive import goals_derive, period_containing
from goals.models import (
    Approval,
    CheckIn,
    Comment,
    Commitment,
    Direction,
    Goal,
    GoalRevision,
    GoalStatus,
    RevisionState,
)

from . import services as plan
from .access import Access, resolve
from .changes import PG_TXID, object_type_of
from .health import health_for
from .models import (
    AlignmentReview,
    ChangeEvent,
    HealthSnapshot,
    Objective,
    Partnership,
    PartnershipMember,
    Role,
    Side,
    Vision,
    VisionEndorsement,
)
from .schedule import next_occurrence

DEMO_PASSWORD = "joint-plans-not-quotas"
VENDOR_NAME = "Acme Cloud"
ADMIN_EMAIL = "admin@acme-cloud.example"
VOLUME_MANAGER_EMAIL = "volume.manager@acme-cloud.example"
VOLUME_PARTNER_DOMAIN = "volume-partners.example"
DEMO_DOMAINS = ("acme-cloud.example", "northwind-consulting.example", "brightline-solutions.example",
                VOLUME_PARTNER_DOMAIN)
NAMESPACE = uuid.UUID("5f0c7a4e-3d5b-4c1e-9a57-0e2b7f1d9c30")
SEED_LOCK = 0x5EED_DE40


def demo_id(key: str) -> uuid.UUID:
    """A stable id for a demo object, so a second run recognises what the first one built."""
    return uuid.uuid5(NAMESPACE, key)


@dataclass
class Login:
    email: str
    who: str


# --- The vendor ---------------------------------------------------------------------------------


def ensure_vendor() -> tuple[Organisation, User]:
    """The demo vendor and its admin, created through the sign-up service the first time."""
    admin = User.objects.filter(email=ADMIN_EMAIL).first()
    if admin is None:
        return plan.workspace_create(name=VENDOR_NAME, email=ADMIN_EMAIL, password=DEMO_PASSWORD,
                                     full_name="Vera Lindqvist")
    membership = OrganisationMembership.objects.select_related("organisation").filter(
        user=admin, role=OrganisationMembership.Role.ADMIN).first()
    if membership is None:
        org = Organisation.objects.create(name=VENDOR_NAME)
        OrganisationMembership.objects.create(organisation=org, user=admin, role=OrganisationMembership.Role.ADMIN)
        return org, admin
    return membership.organisation, admin


def demo_vendor() -> Organisation | None:
    membership = OrganisationMembership.objects.select_related("organisation").filter(
        user__email=ADMIN_EMAIL, role=OrganisationMembership.Role.ADMIN).first()
    return membership.organisation if membership else None


def _person(email: str, full_name: str, tz: str = "UTC") -> User:
    user = User.objects.filter(email=email).first()
    return user or User.objects.create_user(email, DEMO_PASSWORD, full_name=full_name, timezone=tz)


# --- The showcase -------------------------------------------------------------------------------

NORTHWIND_ID = demo_id("showcase/northwind")
BRIGHTLINE_ID = demo_id("showcase/brightline")
SHOWCASE_IDS = (NORTHWIND_ID, BRIGHTLINE_ID)


def showcase_exists() -> bool:
    return Partnership.objects.filter(pk__in=SHOWCASE_IDS).exists()


def _serialise_seeds() -> None:
    """Make concurrent seeds wait for each other until the end of the transaction (two ``make run``
    at once). SQLite needs nothing: its transactions here start IMMEDIATE, holding the write lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEED_LOCK])


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


def _quarters(today: dt.date) -> dict[str, tuple[dt.date, dt.date]]:
    this = period_containing(today, "quarter")
    last = period_containing(this[0] - dt.timedelta(days=1), "quarter")
    nxt = period_containing(this[1] + dt.timedelta(days=1), "quarter")
    # Two quarters up to the end of this one: long enough for several months of check-ins.
    return {"last": last, "this": this, "next": nxt, "half": (last[0], this[1])}


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 1)))


def build_showcase(today: dt.date | None = None) -> list[Partnership]:
    """Build the two showcase partnerships in one transaction; nothing if they exist already."""
    today = today or timezone.localdate()
    q = _quarters(today)
    with transaction.atomic():
        _serialise_seeds()
        if showcase_exists():
            return []
        org, admin = ensure_vendor()
        northwind = _northwind(org, admin, today, q)
        brightline = _brightline(org, admin, today, q)
        _health_trend([northwind, brightline], today)
    return [northwind, brightline]


def _partnership(org: Organisation, admin: User, *, pid: uuid.UUID, partner_name: str, manager: User,
                 partner: User, viewer: User, **fields: Any) -> tuple[Partnership, Cast]:
    p = plan.partnership_create(actor=admin, vendor=org, partner_name=partner_name, id=pid, **fields)
    OrganisationMembership.objects.get_or_create(organisation=org, user=manager)
    OrganisationMembership.objects.create(organisation=p.partner, user=partner,
                                          role=OrganisationMembership.Role.ADMIN)
    admin_access = resolve(admin, p.pk)
    plan.member_add(access=admin_access, user=manager, side=Side.VENDOR, role=Role.APPROVER)
    partner_admin = resolve(partner, p.pk)
    plan.member_add(access=partner_admin, user=partner, side=Side.PARTNER, role=Role.APPROVER)
    plan.member_add(access=partner_admin, user=viewer, side=Side.PARTNER, role=Role.VIEWER)
    return p, Cast(admin=admin_access, manager=resolve(manager, p.pk), partner=resolve(partner, p.pk),
                   viewer=resolve(viewer, p.pk))


def _northwind(org: Organisation, admin: User, today: dt.date, q: dict[str, tuple[dt.date, dt.date]]) -> Partnership:
    manager = _person("sam.okafor@acme-cloud.example", "Sam Okafor", "Europe/Berlin")
    partner = _person("priya.nair@northwind-consulting.example", "Priya Nair", "Europe/Berlin")
    viewer = _person("tom.becker@northwind-consulting.example", "Tom Becker", "Europe/Berlin")
    p, cast = _partnership(
        org, admin, pid=NORTHWIND_ID, partner_name="Northwind Consulting", manager=manager, partner=partner,
        viewer=viewer, name="Acme Cloud × Northwind Consulting",
        partner_type=Partnership.PartnerType.CONSULTING, referral_fee_percent=Decimal("10"),
        economic_notes="10 % referral fee on first-year licences Northwind sources; Northwind keeps all services "
                       "revenue. Certified consultants get free sandbox tenants.",
        vendor_drivers=["licence revenue", "active users", "enterprise logos"],
        partner_drivers=["services revenue", "consultant utilisation", "billable rate"],
        review_cadence=Partnership.Cadence.QUARTERLY, timezone="Europe/Berlin", review_time=dt.time(10, 0),
    )
    plan.vision_update(
        access=cast.manager, horizon=today + relativedelta(years=3),
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

    objectives = {
        "practice": plan.objective_create(
            access=cast.manager, title="Build a certified Acme Cloud migration practice",
            description="Enough certified consultants to staff every joint migration without waiting.",
            vendor_gain="Customers go live faster, and stay.", partner_gain="A specialised practice at better rates.",
            vendor_drivers=["active users"], partner_drivers=["billable rate", "consultant utilisation"],
            success_measure="Certified consultants on staff", metric_name="Certified consultants",
            metric_unit="people", baseline=Decimal("4"), target=Decimal("24"), baseline_date=q["last"][0],
            target_date=q["last"][0] + relativedelta(years=2),
        ),
        "pipeline": plan.objective_create(
            access=cast.partner, title="Grow jointly sourced migration projects",
            description="Opportunities found and worked together from the first meeting.",
            vendor_gain="New enterprise logos and licence revenue.", partner_gain="A steady flow of services work.",
            vendor_drivers=["licence revenue", "enterprise logos"], partner_drivers=["services revenue"],
            success_measure="Qualified joint pipeline", metric_name="Joint pipeline", metric_unit="EUR k",
            baseline=Decimal("400"), target=Decimal("3000"), baseline_date=q["last"][0],
            target_date=q["last"][0] + relativedelta(years=2),
        ),
        "onboarding": plan.objective_create(
            access=cast.manager, title="Shorten time to first value for joint customers",
            vendor_gain="Lower churn in the first year.", partner_gain="Fixed-price onboarding becomes profitable.",
            vendor_drivers=["active users"], partner_drivers=["consultant utilisation"],
            success_measure="Median days from signature to first production use",
            metric_name="Median onboarding time", metric_unit="days", baseline=Decimal("60"),
            target=Decimal("30"), baseline_date=q["last"][0], target_date=q["last"][0] + relativedelta(years=2),
        ),
    }
    plans = [
        GoalPlan("practice", "Certify 8 consultants", GoalStatus.ACHIEVED, q["last"], Decimal("4"), Decimal("8"),
                 [("Fund two certification bootcamps", 20, True)],
                 [("Release six consultants for the bootcamps", 15, True)], reach=1.25, confidence=(5, 5),
                 note="Nine consultants certified; the second bootcamp was oversubscribed.",
                 comments=[("partner", "Bootcamp two was excellent, the hands-on labs made the difference.")]),
        GoalPlan("practice", "Certify 12 consultants and staff every joint project", GoalStatus.AGREED, q["half"],
                 Decimal("8"), Decimal("12"),
                 [("Run an advanced migration bootcamp", 40, True),
                  ("Give sandbox tenants to every trainee", 10, True)],
                 [("Assign a practice lead", 20, True), ("Certify four more consultants", 150, False)],
                 reach=0.7, confidence=(4, 3),
                 comments=[("viewer", "Two trainees moved to a customer project; the exam slips by three weeks."),
                           ("manager", "Understood. We can add a remote exam slot in the last month.")]),
        GoalPlan("pipeline", "Joint pipeline of 700k EUR", GoalStatus.MISSED, q["last"], Decimal("400"),
                 Decimal("700"),
                 [("Share 30 qualified leads in manufacturing", 30, True)],
                 [("Host two customer round-tables", 45, False)], reach=0.6, confidence=(2, 3),
                 note="Round-tables slipped to this quarter; pipeline reached 580k EUR."),
        GoalPlan("pipeline", "Joint pipeline of 1.1M EUR", "amended", q["half"], Decimal("580"), Decimal("1100"),
                 [("Co-fund a migration assessment offer", 30, True),
                  ("Joint account planning for 20 targets", 60, False)],
                 [("Run the round-tables in Munich and Vienna", 50, True),
                  ("Qualify every inbound lead in 48 hours", 20, True)],
                 reach=0.55, confidence=(4, 2), proposer="partner",
                 amend={"target": Decimal("1300")},
                 comments=[("partner", "The Vienna round-table brought three large prospects: "
                                       "we propose a higher target.")]),
        GoalPlan("pipeline", "Trade-fair joint booth leads", GoalStatus.DROPPED, q["half"], Decimal("0"),
                 Decimal("60"),
                 [("Pay for the joint booth", 20, True)], [("Staff the booth with two consultants", 20, False)],
                 reach=0.1, confidence=(2, 2), note="The trade fair was cancelled by the organiser."),
        GoalPlan("onboarding", "Median onboarding under 50 days", GoalStatus.PROPOSED, q["this"], Decimal("60"),
                 Decimal("50"),
                 [("Publish a migration runbook", 30, False)], [("Use the runbook on every new project", 45, False)],
                 direction=Direction.DECREASE,
                 comments=[("partner", "We will review the runbook draft with our delivery leads this week.")]),
    ]
    for goal_plan in plans:
        _drive_goal(cast, objectives, goal_plan, today)
    # Interim goals derived from the long-term target: drafts with a suggested slot for each side.
    goals_derive(access=cast.manager, objective_id=objectives["practice"].pk, length="quarter", count=2,
                 today=q["next"][0])
    _reviews(cast, today, [
        (100, "Kick-off of the joint plan", "Agreed the vision and the three objectives.",
         "Fund two bootcamps; Northwind releases six consultants."),
        (10, "Quarterly business review", "Pipeline goal missed; certification ahead of plan.",
         "Raise the pipeline target once the round-tables are done; keep the bootcamp rhythm."),
    ])
    return p


def _brightline(org: Organisation, admin: User, today: dt.date, q: dict[str, tuple[dt.date, dt.date]]) -> Partnership:
    manager = _person("lena.hoffmann@acme-cloud.example", "Lena Hoffmann", "Europe/London")
    partner = _person("marco.rossi@brightline-solutions.example", "Marco Rossi", "Europe/London")
    viewer = _person("jade.wu@brightline-solutions.example", "Jade Wu", "Europe/London")
    p, cast = _partnership(
        org, admin, pid=BRIGHTLINE_ID, partner_name="Brightline Solutions", manager=manager, partner=partner,
        viewer=viewer, name="Acme Cloud × Brightline Solutions",
        partner_type=Partnership.PartnerType.RESELLER, margin_percent=Decimal("22.5"),
        economic_notes="22.5 % resale margin on subscriptions, 5 % extra on multi-year renewals.",
        vendor_drivers=["subscription revenue", "seats", "net retention"],
        partner_drivers=["recurring margin", "seats under management", "less discounting"],
        review_cadence=Partnership.Cadence.MONTHLY, timezone="Europe/London", review_time=dt.time(15, 0),
    )
    plan.vision_update(
        access=cast.manager, horizon=today + relativedelta(years=2),
        why_together="Brightline's customers buy their whole workplace stack from one trusted provider; Acme Cloud "
                     "belongs in that stack.",
        what_we_hope="Acme Cloud becomes Brightline's standard collaboration platform, sold on value rather than "
                     "discount, with renewals that grow every year.",
        how_we_work="A monthly pipeline call, shared renewal forecasts, and joint campaigns planned a quarter ahead.",
    )
    # Only the vendor side has endorsed the vision so far: Brightline's board reviews it next month.
    plan.vision_endorse(access=cast.manager, revision=Vision.objects.get(partnership=p).revision)

    objectives = {
        "arr": plan.objective_create(
            access=cast.manager, title="Grow recurring revenue sold through Brightline",
            vendor_gain="Subscription revenue in a segment we cannot reach directly.",
            partner_gain="Recurring margin instead of one-off hardware deals.",
            vendor_drivers=["subscription revenue", "seats"], partner_drivers=["recurring margin"],
            success_measure="Annual recurring revenue of Brightline customers", metric_name="ARR",
            metric_unit="EUR k", baseline=Decimal("1200"), target=Decimal("3000"), baseline_date=q["last"][0],
            target_date=q["last"][0] + relativedelta(years=2),
        ),
        "discount": plan.objective_create(
            access=cast.partner, title="Sell on value: less discounting on renewals",
            vendor_gain="Healthier net retention.", partner_gain="Better margin on every renewal.",
            vendor_drivers=["net retention"], partner_drivers=["less discounting"],
            success_measure="Average discount granted on renewals", metric_name="Average renewal discount",
            metric_unit="%", baseline=Decimal("18"), target=Decimal("8"), baseline_date=q["last"][0],
            target_date=q["last"][0] + relativedelta(years=2),
        ),
    }
    plans = [
        GoalPlan("arr", "ARR of 1.5M EUR through Brightline", GoalStatus.AGREED, q["half"], Decimal("1200"),
                 Decimal("1500"),
                 [("Give Brightline a named channel sales engineer", 10, True),
                  ("Co-fund a renewal campaign", 90, False)],
                 [("Add Acme Cloud to every workplace proposal", 15, True),
                  ("Train the inside-sales team", 30, True)],
                 reach=0.65, confidence=(4, 4),
                 comments=[("partner", "Inside sales finished the training; first cross-sell deals are in "
                                       "the forecast.")]),
        GoalPlan("arr", "Win five mid-market logos", GoalStatus.CHANGES_REQUESTED, q["this"], Decimal("0"),
                 Decimal("5"),
                 [("Provide two reference customers", 30, False)], [("Run a mid-market webinar", 40, False)],
                 note="Five logos in one quarter is too tight with our webinar only in the last month; can we make it "
                      "three, or add a second campaign on your side?"),
        GoalPlan("discount", "Average renewal discount below 15 %", GoalStatus.AGREED, q["half"], Decimal("18"),
                 Decimal("15"),
                 [("Publish value-selling battle cards", 20, True)],
                 [("Approve discounts above 10 % centrally", 10, True)],
                 direction=Direction.DECREASE, reach=0.8, confidence=(3, 5)),
        GoalPlan("discount", "Bundle discount promotion", GoalStatus.WITHDRAWN, q["this"], Decimal("15"),
                 Decimal("12"),
                 [("Design a bundle price", 20, False)], [("Offer the bundle to renewals", 30, False)],
                 direction=Direction.DECREASE, proposer="partner",
                 note="A bundle discount works against the objective; we will sell on value instead."),
        GoalPlan("discount", "Average renewal discount below 13 %", GoalStatus.DRAFT, q["next"], Decimal("15"),
                 Decimal("13"),
                 [("Share renewal forecasts monthly", 15, False)], [],
                 direction=Direction.DECREASE,
                 comments=[("viewer", "Should we wait for the results of this quarter before setting this target?")]),
    ]
    for goal_plan in plans:
        _drive_goal(cast, objectives, goal_plan, today)
    _reviews(cast, today, [
        (62, "Monthly pipeline call", "Renewal forecast shared for the first time.", "Start value-selling training."),
        (31, "Monthly pipeline call", "Discount approvals now central; two large renewals at 9 %.",
         "Withdraw the bundle promotion idea."),
    ])
    return p


def _drive_goal(cast: Cast, objectives: dict[str, Objective], g: GoalPlan, today: dt.date) -> Goal:
    """Create one goal and take it through the workflow into its planned state."""
    start, end = g.period
    proposer = cast.of(g.proposer)
    other = cast.partner if proposer.side == Side.VENDOR else cast.manager
    owners = {Side.VENDOR: cast.manager.user, Side.PARTNER: cast.partner.user}
    specs = [
        {"side": side, "text": text, "owner": owners[side], "due_date": start + dt.timedelta(days=days)}
        for side, items in ((Side.VENDOR, g.vendor_does), (Side.PARTNER, g.partner_does)) for text, days, _ in items
    ]
    goal = goals.goal_create(
        access=proposer, objective_id=objectives[g.objective].pk, title=g.title, description=g.description,
        period_start=start, period_end=end, baseline=g.baseline, target=g.target, direction=g.direction,
        commitments=specs,
    )
    if g.state == GoalStatus.DRAFT:
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
            goals.commitment_update(access=side_access, commitment_id=c.pk, done=True)
        _check_ins(cast, goal, g, today)
        if g.state == "amended":
            goals.goal_update(access=proposer, goal_id=goal.pk, **g.amend)
            goal = goals.goal_propose(access=proposer, goal_id=goal.pk)
            goals.goal_approve(access=proposer, goal_id=goal.pk, revision=goal.revision)
        elif g.state in (GoalStatus.ACHIEVED, GoalStatus.MISSED, GoalStatus.DROPPED):
            goals.goal_close(access=cast.manager, goal_id=goal.pk, outcome=g.state, note=g.note, today=today)
    _comment(cast, goal, g)
    return goal


def _comment(cast: Cast, goal: Goal, g: GoalPlan) -> None:
    for who, text in g.comments:
        goals.comment_create(access=cast.of(who), goal_id=goal.pk, body=text)


def _check_ins(cast: Cast, goal: Goal, g: GoalPlan, today: dt.date) -> None:
    """Check-ins from both sides about every two weeks, from the period start up to today."""
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
            goals.check_in_create(
                access=who, goal_id=goal.pk, value=_money(value + (0 if side == Side.VENDOR else span * 0.01)),
                measured_on=start + dt.timedelta(days=offset), confidence=conf,
                note="" if rng.random() < 0.6 else "Numbers from the monthly pipeline export.",
            )


def _reviews(cast: Cast, today: dt.date, held: list[tuple[int, str, str, str]]) -> None:
    """Past reviews (held, with notes and decisions) and the next one from the cadence."""
    zone = plan.partnership_zone(cast.admin.partnership)
    review_time = cast.admin.partnership.review_time
    attendees = [cast.manager.user, cast.partner.user]
    for days_ago, title, notes, decisions in held:
        day = today - dt.timedelta(days=days_ago)
        when = dt.datetime.combine(day, review_time, tzinfo=zone)
        review = plan.review_schedule(access=cast.manager, scheduled_for=when, title=title)
        plan.review_hold(access=cast.manager, review_id=review.pk, held_on=day, attendees=attendees,
                         notes=notes, decisions=decisions, schedule_next=False)
    plan.review_schedule(access=cast.manager, title="Next alignment review")


def _health_trend(partnerships: list[Any], today: dt.date, weeks: int = 12) -> None:
    """Weekly health snapshots for the trend chart, computed by the health service as of each past
    week (over today's plan data: an approximation that is good enough for a demo)."""
    rows = []
    for w in range(weeks, 0, -1):
        day = today - dt.timedelta(weeks=w)
        when = dt.datetime.combine(day, dt.time(23, 0), tzinfo=dt.UTC)
        for pid, report in health_for(partnerships, now=when).items():
            rows.append(HealthSnapshot(partnership_id=pid, day=day, score=report.score,
                                       components=report.as_json()))
    HealthSnapshot.objects.bulk_create(rows, ignore_conflicts=True)


def showcase_logins() -> list[Login]:
    return [
        Login(ADMIN_EMAIL, "Vera Lindqvist, admin of Acme Cloud (sees every partnership)"),
        Login("sam.okafor@acme-cloud.example", "Sam Okafor, Acme Cloud partner manager for Northwind "
                                               "(vendor approver)"),
        Login("priya.nair@northwind-consulting.example", "Priya Nair, Northwind Consulting (partner approver, admin)"),
        Login("tom.becker@northwind-consulting.example", "Tom Becker, Northwind Consulting (partner viewer)"),
        Login("lena.hoffmann@acme-cloud.example", "Lena Hoffmann, Acme Cloud partner manager for Brightline "
                                                  "(vendor approver)"),
        Login("marco.rossi@brightline-solutions.example", "Marco Rossi, Brightline Solutions "
                                                          "(partner approver, admin)"),
        Login("jade.wu@brightline-solutions.example", "Jade Wu, Brightline Solutions (partner viewer)"),
    ]


# --- Volume data for benchmarks ---------------------------------------------------------------

# The mix of goal states, by goal number (every state appears within the first nine goals).
STATE_CYCLE = (
    GoalStatus.AGREED, GoalStatus.DRAFT, GoalStatus.PROPOSED, GoalStatus.CHANGES_REQUESTED, "amended",
    GoalStatus.ACHIEVED, GoalStatus.MISSED, GoalStatus.DROPPED, GoalStatus.WITHDRAWN, GoalStatus.AGREED,
    GoalStatus.AGREED, GoalStatus.DRAFT, GoalStatus.PROPOSED, GoalStatus.AGREED, GoalStatus.ACHIEVED,
    GoalStatus.CHANGES_REQUESTED, GoalStatus.AGREED, "amended", GoalStatus.DRAFT, GoalStatus.AGREED,
)
# States whose goals were agreed at some point and so can carry check-ins.
CHECKED_IN = {GoalStatus.AGREED, "amended", GoalStatus.ACHIEVED, GoalStatus.MISSED, GoalStatus.DROPPED}
PARTNER_TYPES = ("consulting", "reseller", "referral", "technology", "consulting", "reseller")
DRIVERS = {
    "consulting": ["services revenue", "consultant utilisation", "billable rate"],
    "reseller": ["recurring margin", "seats under management", "less discounting"],
    "referral": ["referral fees", "customer satisfaction"],
    "technology": ["joint customers", "integration usage"],
}
VENDOR_DRIVERS = ["licence revenue", "active users", "enterprise logos", "net retention"]
NAME_PARTS = (
    ("North", "Blue", "Silver", "Bright", "Oak", "Granite", "Harbour", "Summit", "Cedar", "Iron", "Lake", "Stone"),
    ("wind", "peak", "line", "field", "bridge", "gate", "works", "point", "ridge", "stream", "hill", "way"),
)
METRICS = (("Joint pipeline", "EUR k", 400, 1800), ("Certified consultants", "people", 4, 24),
           ("Active seats", "seats", 500, 4000), ("Joint customers live", "customers", 10, 60),
           ("Average renewal discount", "%", 18, 8))


@dataclass
class VolumeRequest:
    partnerships: int
    goals: int  # in total, spread over the partnerships
    check_ins: int  # in total, spread over the goals that were agreed

    def goals_of(self, i: int) -> int:
        return self.goals // self.partnerships + (1 if i < self.goals % self.partnerships else 0)

    def first_goal_of(self, i: int) -> int:
        base, extra = divmod(self.goals, self.partnerships)
        return base * i + min(i, extra)

    def eligible_goals(self, first: int, count: int) -> int:
        """How many of goal numbers ``first`` .. ``first + count - 1`` can carry check-ins."""
        full = count // len(STATE_CYCLE)
        n = full * sum(1 for s in STATE_CYCLE if s in CHECKED_IN)
        return n + sum(1 for k in range(first + full * len(STATE_CYCLE), first + count)
                       if STATE_CYCLE[k % len(STATE_CYCLE)] in CHECKED_IN)

    def check_ins_per_goal(self) -> Callable[[int], int]:
        """Check-ins of the k-th goal that can carry them (by its rank among those goals)."""
        eligible = self.eligible_goals(0, self.goals)
        if eligible == 0:
            return lambda rank: 0
        base, extra = divmod(self.check_ins, eligible)
        return lambda rank: base + (1 if rank < extra else 0)


def volume_partnership_id(i: int) -> uuid.UUID:
    return demo_id(f"volume/partnership/{i}")


def volume_partner_email(i: int) -> str:
    return f"partner-{i + 1:04d}@{VOLUME_PARTNER_DOMAIN}"


def missing_volume(indices: Iterable[int]) -> list[int]:
    """The volume partnerships (by number) that do not exist yet."""
    wanted = {volume_partnership_id(i): i for i in indices}
    found: set[uuid.UUID] = set()
    ids = list(wanted)
    for k in range(0, len(ids), 1000):
        found.update(Partnership.objects.filter(pk__in=ids[k:k + 1000]).values_list("pk", flat=True))
    return sorted(i for pid, i in wanted.items() if pid not in found)


def _txid() -> int:
    """The id of the current transaction on PostgreSQL (what ``record_change`` stores), else 0."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {PG_TXID}")
        return int(cursor.fetchone()[0])


class VolumeBatch:
    """Rows for a group of partnerships, written together in one transaction."""

    ORDER = (Organisation, Partnership, OrganisationMembership, PartnershipMember, Vision, VisionEndorsement,
             Objective, Goal, GoalRevision, Commitment, Approval, Comment, CheckIn, AlignmentReview)

    def __init__(self, actor: User) -> None:
        self.actor = actor
        self.rows: dict[type, list[Any]] = {model: [] for model in self.ORDER}
        self.events: list[tuple[Any, Any, str]] = []  # (partnership id, object, summary)

    def add(self, obj: Any, partnership_id: Any = None, summary: str = "") -> Any:
        self.rows[type(obj)].append(obj)
        if partnership_id is not None:
            self.events.append((partnership_id, obj, summary))
        return obj

    def write(self) -> None:
        """Insert every row and one create event per plan object (inside the caller's transaction)."""
        for model in self.ORDER:
            model.objects.bulk_create(self.rows[model], batch_size=2000)
        txid, now, label = _txid(), timezone.now(), self.actor.display_name[:200]
        ChangeEvent.objects.bulk_create(
            (ChangeEvent(txid=txid, partnership_id=pid, actor=self.actor, actor_label=label,
                         object_type=object_type_of(obj), object_id=obj.pk, action=ChangeEvent.Action.CREATE,
                         summary=summary[:300], after=obj.to_record(), created_at=now)
             for pid, obj, summary in self.events),
            batch_size=2000,
        )


def build_volume(request: VolumeRequest, *, today: dt.date | None = None, batch_rows: int = 40000,
                 progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Build the volume partnerships that do not exist yet, in bulk. Returns what was created."""
    today = today or timezone.localdate()
    with transaction.atomic():
        _serialise_seeds()
        org, _admin = ensure_vendor()
        manager = _person(VOLUME_MANAGER_EMAIL, "Morgan Volume")
        OrganisationMembership.objects.get_or_create(organisation=org, user=manager)
    missing = missing_volume(range(request.partnerships))
    password = make_password(DEMO_PASSWORD)
    per_goal = request.check_ins_per_goal()
    created = {"partnerships": 0, "goals": 0, "check_ins": 0}
    done = 0
    for group in _groups(missing, request, batch_rows):
        with transaction.atomic():
            _serialise_seeds()
            group = missing_volume(group)  # a concurrent seed may have built some meanwhile
            # The partners' approvers sign in; users have integer ids, so they are inserted first.
            users = User.objects.bulk_create(
                [User(email=volume_partner_email(i), password=password, full_name=f"Partner lead {i + 1}")
                 for i in group], batch_size=2000,
            )
            batch = VolumeBatch(manager)
            for i, partner_user in zip(group, users, strict=True):
                counts = _volume_partnership(batch, request, i, org, manager, partner_user, per_goal, today)
                for key, value in counts.items():
                    created[key] += value
            batch.write()
            _health_trend([volume_partnership_id(i) for i in group], today)
        done += len(group)
        if progress and group:
            progress(f"{done} of {len(missing)} partnerships written")
    return created


def _groups(indices: list[int], request: VolumeRequest, rows: int) -> Iterable[list[int]]:
    """Partnerships grouped so that each transaction writes roughly ``rows`` rows."""
    per_check_in = request.check_ins / max(1, request.eligible_goals(0, request.goals))
    group: list[int] = []
    size = 0.0
    for i in indices:
        goals = request.goals_of(i)
        size += 12 + goals * 7 + request.eligible_goals(request.first_goal_of(i), goals) * per_check_in * 2
        group.append(i)
        if size >= rows:
            yield group
            group, size = [], 0.0
    if group:
        yield group


def _volume_partnership(batch: VolumeBatch, request: VolumeRequest, i: int, org: Organisation, manager: User,
                        partner_user: User, per_goal: Callable[[int], int], today: dt.date) -> dict[str, int]:
    rng = random.Random(i)
    now = timezone.now()
    kind = PARTNER_TYPES[i % len(PARTNER_TYPES)]
    name = f"{NAME_PARTS[0][i % 12]}{NAME_PARTS[1][(i // 12) % 12]} {kind.title()} {i + 1}"
    partner_org = batch.add(Organisation(name=name))
    pid = volume_partnership_id(i)
    p = batch.add(Partnership(
        id=pid, vendor=org, partner=partner_org, name=f"{org.name} × {name}", partner_type=kind,
        vendor_drivers=VENDOR_DRIVERS[:3], partner_drivers=DRIVERS.get(kind, DRIVERS["consulting"]),
        review_cadence=("quarterly", "monthly")[i % 2], reminder_offsets_days=[7, 1], created_at=now, updated_at=now,
        margin_percent=Decimal("20") if kind == "reseller" else None,
        referral_fee_percent=Decimal("10") if kind == "referral" else None,
    ), pid, f"started the partnership {org.name} × {name}")
    batch.add(OrganisationMembership(organisation=partner_org, user=partner_user,
                                     role=OrganisationMembership.Role.ADMIN))
    for user, side in ((manager, Side.VENDOR), (partner_user, Side.PARTNER)):
        batch.add(PartnershipMember(partnership=p, user=user, side=side, role=Role.APPROVER), pid,
                  f"added {user.display_name} as {side} approver")
    vision = batch.add(Vision(
        partnership=p, why_together=f"Customers of {name} need what Acme Cloud builds.",
        what_we_hope="A joint practice that grows both businesses.",
        how_we_work="Quarterly planning, shared pipeline, commitments on both sides.",
        horizon=today + relativedelta(years=3),
    ), pid, "created the vision")
    endorsed = (Side.VENDOR, Side.PARTNER) if i % 5 < 3 else (Side.VENDOR,) if i % 5 == 3 else ()
    for side in endorsed:
        batch.add(VisionEndorsement(vision=vision, revision=1, side=side,
                                    user=manager if side == Side.VENDOR else partner_user), pid,
                  f"endorsed the vision for the {side} side")

    goal_count = request.goals_of(i)
    first = request.first_goal_of(i)
    q = _quarters(today)
    objectives = []
    for k in range(max(1, math.ceil(goal_count / 10))):
        metric, unit, baseline, target = METRICS[k % len(METRICS)]
        objectives.append(batch.add(Objective(
            partnership=p, title=f"{metric}: {target} {unit} together ({k + 1})", position=k + 1,
            vendor_gain="More licence revenue and active users.", partner_gain="More services and recurring margin.",
            vendor_drivers=VENDOR_DRIVERS[:1], partner_drivers=p.partner_drivers[:1], success_measure=metric,
            metric_name=metric, metric_unit=unit, baseline=Decimal(baseline), target=Decimal(target),
            baseline_date=q["last"][0], target_date=q["last"][0] + relativedelta(years=2),
        ), pid, f"added the objective {metric}"))

    rank = request.eligible_goals(0, first)
    check_ins = 0
    people = {Side.VENDOR: manager, Side.PARTNER: partner_user}
    for j in range(goal_count):
        number = first + j
        state = STATE_CYCLE[number % len(STATE_CYCLE)]
        objective = objectives[j % len(objectives)]
        wanted = per_goal(rank) if state in CHECKED_IN else 0
        rank += state in CHECKED_IN
        check_ins += _volume_goal(batch, p, objective, state, q, today, now, people, wanted, rng, j)

    held = dt.datetime.combine(today - dt.timedelta(days=20 + i % 30), dt.time(9, 0), tzinfo=dt.UTC)
    batch.add(AlignmentReview(partnership=p, title="Alignment review", scheduled_for=held,
                              status=AlignmentReview.Status.HELD, held_on=held.date(),
                              notes="Walked through the goals; both sides updated their check-ins.",
                              decisions="Keep the plan; revisit the pipeline target next quarter."),
              pid, "recorded a review")
    upcoming = next_occurrence(p, now)
    batch.add(AlignmentReview(partnership=p, title="Alignment review", scheduled_for=upcoming, occurrence=upcoming),
              pid, f"scheduled a review for {upcoming:%Y-%m-%d %H:%M} UTC")
    return {"partnerships": 1, "goals": goal_count, "check_ins": check_ins}


def _volume_goal(batch: VolumeBatch, p: Partnership, objective: Objective, state: str,
                 q: dict[str, tuple[dt.date, dt.date]], today: dt.date, now: dt.datetime, people: dict[str, User],
                 wanted_check_ins: int, rng: random.Random, j: int) -> int:
    """One goal in ``state`` with the rows the workflow would have left behind. Returns its check-ins."""
    pid = p.pk
    closed_past = state in (GoalStatus.ACHIEVED, GoalStatus.MISSED)
    start, end = q["last"] if closed_past else q["half"] if state in CHECKED_IN else q["this"]
    baseline = objective.baseline or Decimal(0)
    step = (objective.target or Decimal(1)) - baseline
    target = baseline + step / 4 * (1 + j % 3)
    direction = Direction.INCREASE if target > baseline else Direction.DECREASE
    agreed = state in CHECKED_IN
    proposed = state != GoalStatus.DRAFT
    goal = Goal(
        partnership=p, objective=objective, title=f"{objective.metric_name}: {target.normalize():f} by {end:%d %b %Y}",
        period_start=start, period_end=end, metric_name=objective.metric_name, metric_unit=objective.metric_unit,
        baseline=baseline, target=target, direction=direction, created_by=people[Side.VENDOR],
        revision_open=not proposed, proposed_by_side=Side.VENDOR if proposed else "",
        proposed_at=now if proposed else None, agreed_revision=1 if agreed else None, agreed_at=now if agreed else None,
        status=GoalStatus.AGREED if state == "amended" else state,
        closed_at=now if state in (GoalStatus.ACHIEVED, GoalStatus.MISSED, GoalStatus.DROPPED,
                                   GoalStatus.WITHDRAWN) else None,
        close_note={GoalStatus.MISSED: "Fell short; the pipeline slipped into the next quarter.",
                    GoalStatus.DROPPED: "The campaign behind this goal was cancelled.",
                    GoalStatus.WITHDRAWN: "Replaced by a better goal."}.get(state, ""),
    )
    commitments = [Commitment(goal=goal, side=Side.VENDOR, text="Fund joint enablement and co-selling",
                              owner=people[Side.VENDOR], due_date=start + dt.timedelta(days=30), position=1)]
    if state == GoalStatus.DRAFT:
        commitments.append(Commitment(goal=goal, side=Side.PARTNER, placeholder=True, position=1,
                                      text="What will the partner do to get there? (suggested slot)"))
    else:
        commitments.append(Commitment(goal=goal, side=Side.PARTNER, text="Staff certified people on joint deals",
                                      owner=people[Side.PARTNER], due_date=start + dt.timedelta(days=45),
                                      position=1))
    if agreed:
        for c in commitments:
            if c.due_date and c.due_date < today and rng.random() < 0.7:
                c.done, c.done_at = True, now
    terms, commitment_terms = goal.terms(), [c.terms() for c in commitments]
    if state == "amended":
        goal.revision, goal.amendment = 2, RevisionState.PROPOSED
        goal.target = target + step / 8
    batch.add(goal, pid, f"added the goal “{goal.title}”")
    for c in commitments:
        batch.add(c, pid, f"added a {c.side} commitment")
    if proposed:
        batch.add(GoalRevision(goal=goal, number=1, terms=terms, commitments=commitment_terms,
                               proposed_by=people[Side.VENDOR], proposed_by_side=Side.VENDOR))
    approvals = [(1, Side.VENDOR), (1, Side.PARTNER)] if agreed else [(1, Side.VENDOR)] if state == "proposed" else []
    if state == "amended":
        batch.add(GoalRevision(goal=goal, number=2, terms=goal.terms(), commitments=commitment_terms,
                               proposed_by=people[Side.VENDOR], proposed_by_side=Side.VENDOR))
        approvals.append((2, Side.VENDOR))
    for revision, side in approvals:
        batch.add(Approval(goal=goal, revision=revision, side=side, user=people[side]), pid,
                  f"approved revision {revision} for the {side} side")
    if state == GoalStatus.CHANGES_REQUESTED:
        batch.add(Comment(goal=goal, author=people[Side.PARTNER], side=Side.PARTNER, revision=1,
                          kind=Comment.Kind.CHANGE_REQUEST, body="The target is too tight for one quarter."),
                  pid, "requested changes")
    last = min(end, today)
    span_days = max(0, (last - start).days)
    for k in range(wanted_check_ins):
        side = Side.values[k % 2]
        share = (k + 1) / wanted_check_ins
        value = baseline + (target - baseline) * Decimal(str(round(share * rng.uniform(0.6, 1.1), 3)))
        batch.add(CheckIn(goal=goal, side=side, author=people[side],
                          measured_on=start + dt.timedelta(days=span_days * (k + 1) // wanted_check_ins),
                          value=value.quantize(Decimal("0.01")), confidence=rng.randint(2, 5)),
                  pid, "checked in")
    return wanted_check_ins


def volume_logins(request: VolumeRequest) -> list[Login]:
    logins = [Login(VOLUME_MANAGER_EMAIL, f"Morgan Volume, vendor approver in all {request.partnerships} volume "
                                          "partnerships")]
    if request.partnerships:
        last = volume_partner_email(request.partnerships - 1)
        logins.append(Login(volume_partner_email(0), f"partner approver of volume partnership 1 (… up to {last})"))
    return logins


# --- Removing the demo --------------------------------------------------------------------------


def _demo_users() -> Any:
    query = Q()
    for domain in DEMO_DOMAINS:
        query |= Q(email__iendswith=f"@{domain}")
    return User.objects.filter(query)


def remove_demo() -> int:
    """Delete everything the demo built (the demo vendor, its partnerships and partners, the demo
    people). Returns the number of partnerships removed. Nothing outside the demo is touched."""
    with transaction.atomic():
        _serialise_seeds()
        vendor = demo_vendor()
        partnership_ids = list(Partnership.objects.filter(vendor=vendor).values_list("pk", flat=True)) if vendor else []
        partner_org_ids = list(Partnership.objects.filter(pk__in=partnership_ids).values_list("partner_id", flat=True))
        for chunk in _chunks(partnership_ids, 500):
            ChangeEvent.objects.filter(partnership_id__in=chunk).delete()
            CheckIn.objects.filter(goal__partnership_id__in=chunk).delete()
            Goal.objects.filter(partnership_id__in=chunk).delete()
            Partnership.objects.filter(pk__in=chunk).delete()
        # Partner organisations go with their last partnership.
        Organisation.objects.filter(pk__in=partner_org_ids).exclude(partnerships_as_partner__isnull=False).exclude(
            partnerships_as_vendor__isnull=False).delete()
        if vendor is not None and not vendor.partnerships_as_vendor.exists():
            vendor.delete()
        _demo_users().delete()
    return len(partnership_ids)


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for k in range(0, len(items), size):
        yield items[k:k + size]
