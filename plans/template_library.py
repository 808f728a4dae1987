"""The plan templates Partnerplan ships, one per kind of partner, as versioned data.

A template is what a partner manager would write on a whiteboard before the first planning
meeting with a new partner of that kind: the questions the shared vision has to answer, three to
six mutual objectives whose "what the partner gains" is written in *that partner's* economics (a
consulting house decides by billable work and utilisation, a reseller by recurring margin and
discount, a referral partner by fees for little effort, an ISV by co-sell revenue and attach, an
MSP by recurring managed revenue and churn), what the vendor gains, a metric with its unit, the
business drivers each side decides by, and a default trajectory for the short-term goals.

Applying a template (``plans.templates_service``) creates drafts only; the vision prompts are
shown as prompts and never written into the vision. Every item has a ``key`` that stays the same
across versions and across an organisation's customised copies, which keep the shipped template's
key as their lineage: applying twice, or applying the shipped template and then the organisation's
copy of it, creates nothing twice.

``clean_structure`` validates a template's structure (the shipped ones are checked by the tests;
an organisation's own are checked whenever they are saved). Bump ``LIBRARY_VERSION`` (and the
template's ``version``) when the content changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy as _

from alignment.models import Side
from core.errors import InvalidInput
from core.writes import control_character
from goals.derive import PERIOD_MONTHS

from .models import TemplateType

LIBRARY_VERSION = 1


VISION_PROMPTS = ("why_together", "what_we_hope", "how_we_work")

# Limits of a template's structure (within the limits of the objects it creates).
MAX_OBJECTIVES = 12
MAX_DRIVERS_PER_SIDE = 20
MAX_PERIODS = 8
KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
TEXT_LIMITS = {
    "title": 200,
    "description": 10000,
    "vendor_gain": 5000,
    "partner_gain": 5000,
    "success_measure": 5000,
    "metric_name": 120,
    "metric_unit": 40,
    "vendor_commitment": 1000,
    "partner_commitment": 1000,
}
PROMPT_LIMIT = 2000
DRIVER_NAME_LIMIT, DRIVER_UNIT_LIMIT = 120, 40
NAME_LIMIT = 200


@dataclass(frozen=True)
class Shipped:
    key: str
    version: int
    partner_type: str
    name: Any  # a lazily translated text
    summary: Any
    structure: dict[str, Any]


def _objective(
    key: str,
    title: Any,
    *,
    description: Any,
    vendor_gain: Any,
    partner_gain: Any,
    vendor_drivers: list[str],
    partner_drivers: list[str],
    success_measure: Any,
    metric: tuple[Any, Any],
    trajectory: tuple[str, str, str, int] | None,
    commitments: tuple[Any, Any],
) -> dict[str, Any]:
    """One mutual objective of a template. ``trajectory`` is (baseline, target, period length,
    number of periods): the suggested first goals ramp from the baseline to the target."""
    item: dict[str, Any] = {
        "key": key,
        "title": title,
        "description": description,
        "vendor_gain": vendor_gain,
        "partner_gain": partner_gain,
        # The same message ids as the drivers' names: they translate alike.
        "vendor_drivers": [_(name) for name in vendor_drivers],
        "partner_drivers": [_(name) for name in partner_drivers],
        "success_measure": success_measure,
        "metric_name": metric[0],
        "metric_unit": metric[1],
        "vendor_commitment": commitments[0],
        "partner_commitment": commitments[1],
        "trajectory": None,
    }
    if trajectory is not None:
        baseline, target, length, periods = trajectory
        item["trajectory"] = {"baseline": baseline, "target": target, "length": length, "periods": periods}
    return item


def _drivers(vendor: list[tuple[Any, Any]], partner: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    return [{"side": Side.VENDOR.value, "name": n, "unit": u} for n, u in vendor] + [
        {"side": Side.PARTNER.value, "name": n, "unit": u} for n, u in partner
    ]


# --- Consulting house -----------------------------------------------------------------------------

CONSULTING = Shipped(
    key="consulting",
    version=1,
    partner_type=TemplateType.CONSULTING,
    name=_("Consulting house"),
    summary=_(
        "A systems integrator or consultancy that earns its money with billable days: a certified practice, "
        "sourced deals, utilisation and rate."
    ),
    structure={
        "vision_prompts": {
            "why_together": _(
                "Which customer problem can neither of us solve alone, and why does it need our product and your "
                "consultants? Name the industry, the company size and the project your practice sells."
            ),
            "what_we_hope": _(
                "In three years: how many certified consultants, how many joint customers live, what share of "
                "your services revenue comes from our platform, and which day rate your specialists earn?"
            ),
            "how_we_work": _(
                "Who plans the pipeline with whom, how often do we review it, who pays for enablement, and how "
                "do we register and protect deals that you source?"
            ),
        },
        "drivers": _drivers(
            [
                (_("licence revenue"), "EUR k"),
                (_("new logos"), _("customers")),
                (_("active users"), _("users")),
            ],
            [
                (_("services revenue from the practice"), "EUR k"),
                (_("utilisation of certified consultants"), "%"),
                (_("average billable day rate"), "EUR"),
                (_("deals sourced"), _("deals")),
            ],
        ),
        "objectives": [
            _objective(
                "certified-practice",
                _("Build a certified practice on our platform"),
                description=_(
                    "Enough certified consultants to staff every joint project from the first workshop, without "
                    "waiting for our professional services."
                ),
                vendor_gain=_("Projects start on time and customers go live faster, so they renew."),
                partner_gain=_(
                    "A specialised practice that sells at a higher day rate than generalist work, and consultants "
                    "who stay billable on projects of our customers."
                ),
                vendor_drivers=["active users"],
                partner_drivers=["average billable day rate", "utilisation of certified consultants"],
                success_measure=_("Certified consultants on staff who delivered at least one project in the quarter."),
                metric=(_("Certified consultants"), _("people")),
                trajectory=("4", "12", "quarter", 4),
                commitments=(
                    _("Fund a certification bootcamp and give every trainee a sandbox tenant."),
                    _("Release consultants for the bootcamp and sit the exam within six weeks."),
                ),
            ),
            _objective(
                "sourced-deals",
                _("Grow deals the practice sources"),
                description=_(
                    "Opportunities the consulting house brings in from its own accounts, registered with us and "
                    "worked together from the first meeting."
                ),
                vendor_gain=_("New logos and licence revenue in accounts our sales team does not reach."),
                partner_gain=_(
                    "Protected deals: the implementation is theirs, plus the referral or resale margin on the licences."
                ),
                vendor_drivers=["licence revenue", "new logos"],
                partner_drivers=["deals sourced", "services revenue from the practice"],
                success_measure=_("Registered, qualified opportunities sourced by the partner."),
                metric=(_("Sourced qualified opportunities"), _("deals")),
                trajectory=("2", "10", "quarter", 4),
                commitments=(
                    _("Approve deal registrations within two working days and protect them for 90 days."),
                    _("Register every opportunity in the partner portal before the first demo."),
                ),
            ),
            _objective(
                "services-revenue",
                _("Grow the practice's services revenue on our platform"),
                description=_(
                    "Implementation, migration and optimisation projects on our platform, sold and delivered by the "
                    "partner."
                ),
                vendor_gain=_("Well-implemented customers who adopt more of the product and expand."),
                partner_gain=_(
                    "Services revenue from the practice: a steady flow of billable projects instead of one-off deals."
                ),
                vendor_drivers=["active users"],
                partner_drivers=["services revenue from the practice"],
                success_measure=_("Services revenue the partner invoiced on projects on our platform, per quarter."),
                metric=(_("Services revenue on our platform"), "EUR k"),
                trajectory=("150", "400", "quarter", 4),
                commitments=(
                    _("Pass every implementation request from direct customers to certified partners first."),
                    _("Package a fixed-price implementation offer and put it in front of ten accounts."),
                ),
            ),
            _objective(
                "utilisation",
                _("Keep certified consultants billable"),
                description=_(
                    "Certified consultants who sit on the bench cost the practice money and leave. Enough joint "
                    "pipeline keeps them on projects of our customers."
                ),
                vendor_gain=_("Certified capacity is there when our customers need it."),
                partner_gain=_("Higher utilisation of the consultants they invested in certifying."),
                vendor_drivers=["active users"],
                partner_drivers=["utilisation of certified consultants"],
                success_measure=_("Billable share of the certified consultants' working time."),
                metric=(_("Utilisation of certified consultants"), "%"),
                trajectory=("60", "78", "quarter", 4),
                commitments=(
                    _("Share the forecast of upcoming implementations every month."),
                    _("Report bench time of certified consultants at every monthly call."),
                ),
            ),
            _objective(
                "day-rate",
                _("Sell specialised work at a better day rate"),
                description=_("Migration and integration work that only certified specialists can do, priced as such."),
                vendor_gain=_("Complex projects done right the first time, fewer escalations to our support."),
                partner_gain=_("A higher average billable day rate than generalist work."),
                vendor_drivers=["licence revenue"],
                partner_drivers=["average billable day rate"],
                success_measure=_("Average day rate invoiced for work on our platform."),
                metric=(_("Average billable day rate"), "EUR"),
                trajectory=("950", "1150", "quarter", 4),
                commitments=(
                    _("Reference the partner's specialists in our proposals for complex migrations."),
                    _("Publish a specialist service catalogue with rates for platform work."),
                ),
            ),
        ],
    },
)

# --- Solution provider / reseller -------------------------------------------------------------------

RESELLER = Shipped(
    key="reseller",
    version=1,
    partner_type=TemplateType.RESELLER,
    name=_("Solution provider / reseller"),
    summary=_(
        "A reseller or solution provider that earns recurring margin: subscription revenue, active users, more "
        "products per customer, less discount."
    ),
    structure={
        "vision_prompts": {
            "why_together": _(
                "Which of your customers should buy our product from you rather than from us or a competitor, "
                "and what does it add to the stack you already sell them?"
            ),
            "what_we_hope": _(
                "In two years: how much recurring revenue through you, how many active users, how many of our "
                "products per customer, and at which average discount?"
            ),
            "how_we_work": _(
                "Who owns renewals, how do we share the renewal forecast, which campaigns do we plan a quarter "
                "ahead, and who approves a discount above the standard?"
            ),
        },
        "drivers": _drivers(
            [
                (_("subscription revenue"), "EUR k"),
                (_("net revenue retention"), "%"),
                (_("active users"), _("users")),
            ],
            [
                (_("subscription and licence revenue"), "EUR k"),
                (_("active users"), _("users")),
                (_("products per customer"), _("products")),
                (_("average discount"), "%"),
            ],
        ),
        "objectives": [
            _objective(
                "recurring-revenue",
                _("Grow recurring revenue sold through the partner"),
                description=_("Subscriptions the partner sells, bills and renews in its own customer base."),
                vendor_gain=_("Subscription revenue in a segment our direct sales team does not reach."),
                partner_gain=_("Recurring margin on subscription and licence revenue instead of one-off deals."),
                vendor_drivers=["subscription revenue"],
                partner_drivers=["subscription and licence revenue"],
                success_measure=_("Annual recurring revenue of the partner's customers on our product."),
                metric=(_("Annual recurring revenue"), "EUR k"),
                trajectory=("800", "1400", "quarter", 4),
                commitments=(
                    _("Name a channel sales engineer for the partner's opportunities."),
                    _("Add our product to every proposal for the partner's target segment."),
                ),
            ),
            _objective(
                "active-users",
                _("More active users in the partner's customers"),
                description=_("Licences that are used renew. Onboard and adopt, not just sell."),
                vendor_gain=_("Adoption that protects renewals and leads to expansion."),
                partner_gain=_("Renewals without a fight and expansion revenue from seats that are used."),
                vendor_drivers=["active users", "net revenue retention"],
                partner_drivers=["active users"],
                success_measure=_("Users active in the last 30 days across the partner's customers."),
                metric=(_("Monthly active users"), _("users")),
                trajectory=("2000", "3500", "quarter", 4),
                commitments=(
                    _("Give the partner adoption dashboards for each of its customers."),
                    _("Run an onboarding session for every new customer within 30 days of signature."),
                ),
            ),
            _objective(
                "products-per-customer",
                _("More of our products per customer"),
                description=_("Cross-sell the add-ons that fit the customers the partner already serves."),
                vendor_gain=_("Higher revenue per account and stickier customers."),
                partner_gain=_("More products per customer: more margin from the same relationship."),
                vendor_drivers=["subscription revenue"],
                partner_drivers=["products per customer"],
                success_measure=_("Average number of our products each of the partner's customers subscribes to."),
                metric=(_("Products per customer"), _("products")),
                trajectory=("1.3", "1.8", "quarter", 4),
                commitments=(
                    _("Enable the partner's inside sales on two add-ons with a cross-sell playbook."),
                    _("Review every renewal due in the next 90 days for a cross-sell."),
                ),
            ),
            _objective(
                "discount",
                _("Sell on value: less discount"),
                description=_("Win and renew on the value the customer gets, not on price."),
                vendor_gain=_("Healthier revenue per seat and net revenue retention."),
                partner_gain=_("A lower average discount means a better margin on every deal and renewal."),
                vendor_drivers=["net revenue retention"],
                partner_drivers=["average discount"],
                success_measure=_("Average discount granted on new deals and renewals."),
                metric=(_("Average discount"), "%"),
                trajectory=("18", "10", "quarter", 4),
                commitments=(
                    _("Give the partner value-selling material and two customer references."),
                    _("Ask for approval before any discount above the standard and say why."),
                ),
            ),
        ],
    },
)

# --- Referral partner -----------------------------------------------------------------------------

REFERRAL = Shipped(
    key="referral",
    version=1,
    partner_type=TemplateType.REFERRAL,
    name=_("Referral partner"),
    summary=_(
        "An adviser or firm that introduces customers and earns a fee: sourced pipeline, conversion, fees paid "
        "on time, little effort per referral."
    ),
    structure={
        "vision_prompts": {
            "why_together": _(
                "Which of your clients need our product, and why do they trust your recommendation more than "
                "our sales pitch?"
            ),
            "what_we_hope": _(
                "In a year: how many introductions, how many become customers, and how much you earn in referral fees?"
            ),
            "how_we_work": _(
                "How do you introduce a client, how fast do we follow up, how do you see the deal's progress, "
                "and when is the fee paid?"
            ),
        },
        "drivers": _drivers(
            [(_("new customers"), _("customers")), (_("sourced pipeline"), "EUR k")],
            [
                (_("referral fees earned"), "EUR k"),
                (_("introductions made"), _("introductions")),
                (_("conversion of introductions"), "%"),
            ],
        ),
        "objectives": [
            _objective(
                "sourced-pipeline",
                _("Grow the pipeline the partner sources"),
                description=_("Qualified introductions to decision makers who have the problem we solve."),
                vendor_gain=_("Sourced pipeline at a lower cost than our own demand generation."),
                partner_gain=_("Referral fees earned on every introduction that closes."),
                vendor_drivers=["sourced pipeline"],
                partner_drivers=["introductions made", "referral fees earned"],
                success_measure=_("Value of qualified opportunities from the partner's introductions."),
                metric=(_("Sourced pipeline"), "EUR k"),
                trajectory=("100", "400", "quarter", 4),
                commitments=(
                    _("Follow up every introduction within two working days and report back."),
                    _("Introduce five clients a quarter who match the profile we agreed."),
                ),
            ),
            _objective(
                "conversion",
                _("Convert more introductions into customers"),
                description=_("Introductions that fit close; better profiling on both sides means fewer wasted calls."),
                vendor_gain=_("Sales time spent on deals that close."),
                partner_gain=_("More fees for the same number of introductions."),
                vendor_drivers=["new customers"],
                partner_drivers=["conversion of introductions"],
                success_measure=_("Share of introductions that become customers within six months."),
                metric=(_("Conversion of introductions"), "%"),
                trajectory=("15", "30", "quarter", 4),
                commitments=(
                    _("Share a one-page profile of the clients who buy and why."),
                    _("Qualify every introduction against the profile before making it."),
                ),
            ),
            _objective(
                "fees-on-time",
                _("Pay referral fees fast and transparently"),
                description=_("A partner who sees the deal's progress and gets paid on time introduces again."),
                vendor_gain=_("Partners who keep introducing instead of moving to a competitor."),
                partner_gain=_("Referral fees earned and paid within the agreed time, without chasing."),
                vendor_drivers=["new customers"],
                partner_drivers=["referral fees earned"],
                success_measure=_("Days from the customer's first payment to the referral fee being paid."),
                metric=(_("Days to pay a referral fee"), _("days")),
                trajectory=("60", "30", "quarter", 3),
                commitments=(
                    _("Pay referral fees within 30 days of the customer's first payment."),
                    _("Invoice the fee as soon as the deal closes."),
                ),
            ),
        ],
    },
)

# --- Technology partner / ISV -----------------------------------------------------------------------

TECHNOLOGY = Shipped(
    key="technology",
    version=1,
    partner_type=TemplateType.TECHNOLOGY,
    name=_("Technology partner / ISV"),
    summary=_(
        "A software company whose product works with ours: integrations and listings, co-sell revenue, attach "
        "rate in joint accounts."
    ),
    structure={
        "vision_prompts": {
            "why_together": _(
                "Which job does the customer get done only when our two products work together, and what do "
                "they use today instead?"
            ),
            "what_we_hope": _(
                "In two years: which integrations are certified and listed, how much co-sell revenue, and how "
                "often is your product attached to ours in joint accounts?"
            ),
            "how_we_work": _(
                "How do our sales teams find joint accounts, who supports a customer when the integration "
                "breaks, and how do we plan the roadmaps together?"
            ),
        },
        "drivers": _drivers(
            [(_("attach rate of the integration"), "%"), (_("licence revenue in joint accounts"), "EUR k")],
            [
                (_("co-sell revenue"), "EUR k"),
                (_("certified integrations and listings"), _("integrations")),
                (_("attach rate to our platform"), "%"),
            ],
        ),
        "objectives": [
            _objective(
                "integrations",
                _("Certify and list the integrations customers ask for"),
                description=_("Integrations that pass our certification and are listed in our marketplace."),
                vendor_gain=_("A platform that fits more of the customer's stack, so it wins more deals."),
                partner_gain=_("Certified integrations and listings that put their product in front of our customers."),
                vendor_drivers=["attach rate of the integration"],
                partner_drivers=["certified integrations and listings"],
                success_measure=_("Integrations certified and live in the marketplace."),
                metric=(_("Certified integrations"), _("integrations")),
                trajectory=("1", "4", "quarter", 4),
                commitments=(
                    _("Give the partner's engineers early API access and a certification slot each quarter."),
                    _("Build and certify the integration on the roadmap we agreed."),
                ),
            ),
            _objective(
                "co-sell",
                _("Grow co-sell revenue in joint accounts"),
                description=_("Deals both sales teams work together, mapped account by account."),
                vendor_gain=_("Larger deals and licence revenue in accounts that need both products."),
                partner_gain=_("Co-sell revenue from our customers and sales team."),
                vendor_drivers=["licence revenue in joint accounts"],
                partner_drivers=["co-sell revenue"],
                success_measure=_("Revenue of deals both sales teams worked and closed."),
                metric=(_("Co-sell revenue"), "EUR k"),
                trajectory=("100", "500", "quarter", 4),
                commitments=(
                    _("Map joint target accounts with the partner every quarter."),
                    _("Name an account owner for every mapped account and join the first call."),
                ),
            ),
            _objective(
                "attach-rate",
                _("Raise the attach rate in our customers"),
                description=_("The share of our customers in the target segment who also run the partner's product."),
                vendor_gain=_("Customers who run the integration churn less."),
                partner_gain=_("A higher attach rate to our platform: growth from our installed base."),
                vendor_drivers=["attach rate of the integration"],
                partner_drivers=["attach rate to our platform"],
                success_measure=_("Share of target-segment customers using the integration."),
                metric=(_("Attach rate"), "%"),
                trajectory=("5", "15", "quarter", 4),
                commitments=(
                    _("Feature the integration in our onboarding for the target segment."),
                    _("Offer a trial for our customers and report the conversions."),
                ),
            ),
        ],
    },
)

# --- Managed service provider -----------------------------------------------------------------------

MSP = Shipped(
    key="msp",
    version=1,
    partner_type=TemplateType.MSP,
    name=_("Managed service provider"),
    summary=_(
        "A provider that runs our product for its customers every month: recurring managed revenue, seats under "
        "management, low churn."
    ),
    structure={
        "vision_prompts": {
            "why_together": _(
                "Which customers want our product run for them rather than run it themselves, and what do you "
                "take off their hands?"
            ),
            "what_we_hope": _(
                "In two years: how many seats under your management, how much recurring managed revenue, and "
                "which monthly churn do we accept?"
            ),
            "how_we_work": _(
                "How do you buy (monthly, per seat?), who supports the end customer at which level, and how do "
                "we spot an account at risk before it churns?"
            ),
        },
        "drivers": _drivers(
            [(_("seats billed monthly"), _("seats")), (_("gross churn"), "%")],
            [
                (_("recurring managed revenue"), "EUR k"),
                (_("seats under management"), _("seats")),
                (_("customer churn"), "%"),
            ],
        ),
        "objectives": [
            _objective(
                "seats",
                _("Grow seats under management"),
                description=_("End customers whose use of our product the MSP runs and bills every month."),
                vendor_gain=_("Seats billed monthly in small and mid-sized customers we do not serve directly."),
                partner_gain=_("More seats under management: recurring managed revenue that compounds."),
                vendor_drivers=["seats billed monthly"],
                partner_drivers=["seats under management", "recurring managed revenue"],
                success_measure=_("Seats the partner manages on our product at the end of each month."),
                metric=(_("Seats under management"), _("seats")),
                trajectory=("1500", "4000", "quarter", 4),
                commitments=(
                    _("Offer monthly per-seat pricing with no minimum term for the partner."),
                    _("Move every customer on a competing product to ours at renewal."),
                ),
            ),
            _objective(
                "managed-revenue",
                _("Grow recurring managed revenue on our product"),
                description=_("Managed services packaged around our product: monitoring, backup, support."),
                vendor_gain=_("Customers who are well looked after stay and expand."),
                partner_gain=_("Recurring managed revenue at a margin above reselling licences."),
                vendor_drivers=["seats billed monthly"],
                partner_drivers=["recurring managed revenue"],
                success_measure=_("Monthly recurring revenue of the partner's managed services on our product."),
                metric=(_("Recurring managed revenue"), "EUR k"),
                trajectory=("40", "90", "quarter", 4),
                commitments=(
                    _("Provide multi-tenant management tools and an API for the partner's automation."),
                    _("Launch a managed service bundle around our product."),
                ),
            ),
            _objective(
                "churn",
                _("Keep churn low"),
                description=_("Spot accounts at risk early and act together before they leave."),
                vendor_gain=_("Lower gross churn of seats billed through the partner."),
                partner_gain=_("Lower customer churn: revenue already won stays won."),
                vendor_drivers=["gross churn"],
                partner_drivers=["customer churn"],
                success_measure=_("Share of managed seats cancelled per quarter."),
                metric=(_("Quarterly seat churn"), "%"),
                trajectory=("6", "3", "quarter", 4),
                commitments=(
                    _("Send a monthly usage report per customer with the accounts at risk marked."),
                    _("Call every account at risk within a week and note what was agreed."),
                ),
            ),
        ],
    },
)

SHIPPED: dict[str, Shipped] = {t.key: t for t in (CONSULTING, RESELLER, REFERRAL, TECHNOLOGY, MSP)}


def shipped_for(partner_type: str) -> Shipped | None:
    """The shipped template written for a kind of partner (None for "other")."""
    return next((t for t in SHIPPED.values() if t.partner_type == partner_type), None)


def resolved(value: Any) -> Any:
    """A structure with its lazily translated texts turned into plain text (in the active language)."""
    if isinstance(value, dict):
        return {k: resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolved(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


# --- Validation -----------------------------------------------------------------------------------


def _fail(message: str, where: str) -> InvalidInput:
    return InvalidInput(message, fields={"structure": [f"{where}: {message}"]})


def _text(value: Any, where: str, limit: int, *, required: bool = False, multiline: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _fail("Expected text.", where)
    if "\x00" in value or control_character(value, multiline=multiline):
        raise _fail("Contains a control character.", where)
    cleaned: str = value.strip()
    if required and not cleaned:
        raise _fail("This is required.", where)
    if len(cleaned) > limit:
        raise _fail(f"At most {limit} characters.", where)
    return cleaned


def _number(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail("Expected a number.", where)
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise _fail("Expected a number.", where) from exc
    if not number.is_finite() or abs(number) >= Decimal("1e14") or number.as_tuple().exponent < -4:  # type: ignore[operator]
        raise _fail("Expected a number with at most 4 decimal places.", where)
    return format(number.normalize(), "f")


def _exact_keys(value: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail("Expected an object.", where)
    unknown = set(value) - allowed
    if unknown:
        raise _fail(f"Unknown field(s): {', '.join(sorted(map(str, unknown)))}.", where)
    return value


def clean_structure(data: Any) -> dict[str, Any]:
    """A template's structure, checked and normalised; ``InvalidInput`` (with a ``structure``
    field error saying where) for anything else. The shape:

    ``{"vision_prompts": {why_together, what_we_hope, how_we_work},
    "drivers": [{side, name, unit}], "objectives": [{key, title, description, vendor_gain,
    partner_gain, vendor_drivers, partner_drivers, success_measure, metric_name, metric_unit,
    vendor_commitment, partner_commitment, trajectory: null | {baseline, target, length, periods}}]}``

    An objective without a ``key`` (a new one, from the editor or the API) gets one from its title.
    """
    data = _exact_keys(resolved(data), {"vision_prompts", "drivers", "objectives"}, "template")
    prompts = _exact_keys(data.get("vision_prompts") or {}, set(VISION_PROMPTS), "vision_prompts")
    clean: dict[str, Any] = {
        "vision_prompts": {k: _text(prompts.get(k), f"vision_prompts.{k}", PROMPT_LIMIT) for k in VISION_PROMPTS}
    }
    drivers = data.get("drivers") or []
    if not isinstance(drivers, list):
        raise _fail("Expected a list.", "drivers")
    seen: set[tuple[str, str]] = set()
    clean["drivers"] = []
    for i, d in enumerate(drivers):
        where = f"drivers[{i}]"
        d = _exact_keys(d, {"side", "name", "unit"}, where)
        if d.get("side") not in Side.values:
            raise _fail("The side is vendor or partner.", where)
        name = _text(d.get("name"), f"{where}.name", DRIVER_NAME_LIMIT, required=True, multiline=False)
        if (d["side"], name.casefold()) in seen:
            raise _fail(f"The driver “{name}” is named twice.", where)
        seen.add((d["side"], name.casefold()))
        unit = _text(d.get("unit"), f"{where}.unit", DRIVER_UNIT_LIMIT, multiline=False)
        clean["drivers"].append({"side": d["side"], "name": name, "unit": unit})
    for side in Side.values:
        if sum(1 for d in clean["drivers"] if d["side"] == side) > MAX_DRIVERS_PER_SIDE:
            raise _fail(f"At most {MAX_DRIVERS_PER_SIDE} drivers per side.", "drivers")
    objectives = data.get("objectives") or []
    if not isinstance(objectives, list):
        raise _fail("Expected a list.", "objectives")
    if len(objectives) > MAX_OBJECTIVES:
        raise _fail(f"At most {MAX_OBJECTIVES} objectives.", "objectives")
    # The keys given come first: an objective without a key gets one from its title that none has.
    given = {str(o["key"]) for o in objectives if isinstance(o, dict) and isinstance(o.get("key"), str)}
    keys: set[str] = set()
    clean["objectives"] = [_clean_objective(o, i, clean["drivers"], keys, given) for i, o in enumerate(objectives)]
    return clean


def new_key(title: str, taken: set[Any]) -> str:
    """A key for a new objective: its title in lower-case letters, digits and dashes, numbered
    where another objective has it."""
    base = "".join(c if c.isascii() and c.isalnum() else "-" for c in title.lower())[:40]
    base = "-".join(part for part in base.split("-") if part) or "objective"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


OBJECTIVE_KEYS = {"key", "trajectory", "vendor_drivers", "partner_drivers", *TEXT_LIMITS}


def _clean_objective(o: Any, i: int, drivers: list[dict[str, str]], keys: set[str], given: set[str]) -> dict[str, Any]:
    where = f"objectives[{i}]"
    o = _exact_keys(o, OBJECTIVE_KEYS, where)
    item: dict[str, Any] = {"key": None}
    single_line = {"title", "metric_name", "metric_unit"}
    for name, limit in TEXT_LIMITS.items():
        item[name] = _text(
            o.get(name), f"{where}.{name}", limit, required=name == "title", multiline=name not in single_line
        )
    key = o.get("key")
    if key is None or key == "":
        key = new_key(item["title"], keys | given)
    if not isinstance(key, str) or not KEY.match(key):
        raise _fail("The key is 1 to 60 lower-case letters, digits and dashes.", f"{where}.key")
    if key in keys:
        raise _fail(f"The key “{key}” is used twice.", f"{where}.key")
    keys.add(key)
    item["key"] = key
    for side in Side.values:
        names = o.get(f"{side}_drivers") or []
        known = {d["name"] for d in drivers if d["side"] == side}
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _fail("Expected a list of driver names.", f"{where}.{side}_drivers")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise _fail(f"Not a {side} driver of this template: {', '.join(unknown)}.", f"{where}.{side}_drivers")
        item[f"{side}_drivers"] = list(dict.fromkeys(names))
    trajectory = o.get("trajectory")
    item["trajectory"] = None
    if trajectory is not None:
        t = _exact_keys(trajectory, {"baseline", "target", "length", "periods"}, f"{where}.trajectory")
        baseline = _number(t.get("baseline"), f"{where}.trajectory.baseline")
        target = _number(t.get("target"), f"{where}.trajectory.target")
        if Decimal(baseline) == Decimal(target):
            raise _fail("The target must differ from the baseline.", f"{where}.trajectory")
        if not item["metric_name"]:
            raise _fail("A trajectory needs a metric name.", f"{where}.metric_name")
        if t.get("length") not in PERIOD_MONTHS:
            raise _fail(f"The period length is one of {', '.join(PERIOD_MONTHS)}.", f"{where}.trajectory.length")
        periods = t.get("periods")
        if isinstance(periods, bool) or not isinstance(periods, int) or not 1 <= periods <= MAX_PERIODS:
            raise _fail(f"1 to {MAX_PERIODS} periods.", f"{where}.trajectory.periods")
        item["trajectory"] = {"baseline": baseline, "target": target, "length": t["length"], "periods": periods}
    return item


def clean_name(value: Any) -> str:
    """A template's name: one line of text, required."""
    return _text(value, "name", NAME_LIMIT, required=True, multiline=False)
