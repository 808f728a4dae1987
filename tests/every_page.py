"""Every page of Partnerplan, as the people who see it: the one list that both
``scripts/screenshots.py`` (screenshots and an axe report of the demo, ``make screenshots``) and
``tests/test_browser_every_page.py`` (the same checks in CI, on the test cast) walk.

A page is a name, the person who sees it (``WHO``), a path with ``{placeholders}`` filled from the
ids that ``prepare`` returns, the HTTP status it answers with, and what to do on it before the
screenshot (open the history, …). ``prepare`` adds to a plan that is already written (a vision,
objectives, agreed goals, reviews) what the remaining pages need: a goal waiting for the partner's
commitment, a new partnership still getting started, invitation links (fresh, used, expired), an
invitation waiting for the partner admins' confirmation, unsubscribe links (fresh and expired), a
password-reset link, a sign-up's confirmation link, a two-factor set-up begun, and a webhook and a
chat channel with their delivery logs. It goes through
the services, as the product would.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import signup as signups
from accounts import two_factor
from accounts.models import CalendarFeed, ReminderKind, SignupRequest, User, hash_token
from accounts.unsubscribe import SALT as UNSUBSCRIBE_SALT
from accounts.unsubscribe import make_token
from accounts.unsubscribe import max_age as unsubscribe_max_age
from alignment import economics, invitations
from alignment import services as plan
from alignment.access import resolve
from alignment.models import (
    AlignmentReview,
    FigureVisibility,
    Invitation,
    Objective,
    Partnership,
    Role,
    Side,
    Vision,
)
from api.webhook_feed import load_events
from cadence import pulse
from goals import actions as action_links
from goals import check_ins as goal_check_ins
from goals import imports as actuals_imports
from goals import services as goals
from goals.derive import period_containing
from goals.models import ActionLink, Goal, GoalStatus
from plans import chat, webhook_delivery, webhooks
from plans import templates_service as plan_templates
from plans.models import ChatChannel, ChatDelivery, WebhookDelivery
from plans.webhook_http import Outcome

WIDTHS = ((1280, 900), (390, 844))

# Who sees the pages, in the order the report lists them.
WHO = {
    "admin": "the vendor's admin",
    "manager": "the vendor's partner manager (approver)",
    "partner": "the partner's approver",
    "viewer": "a partner viewer",
    "anonymous": "someone signed out",
}

# What the goal that waits for the partner's commitment is called (the review queue shows it).
COMMITMENT_GOAL = "Co-marketing webinar leads"
NEW_PARTNER = "Contoso Services"


@dataclass(frozen=True)
class Page:
    name: str
    who: str
    path: str
    status: int = 200
    action: str = ""  # "history": open the plan's history before looking

    @property
    def key(self) -> str:
        return f"{self.who}-{self.name}"

    def url(self, ids: dict[str, str]) -> str:
        return self.path.format(**ids)


LISTS = ("waiting", "agreed", "on-track", "off-track", "overdue-ours", "overdue-theirs", "reviews")
P = "/p/{pid}"


def _signed_in_pages() -> list[Page]:
    pages: list[Page] = []
    # The vendor's admin sees everything of the vendor.
    pages += [Page("dashboard", "admin", "/")]
    pages += [Page(f"list-{name}", "admin", f"/lists/{name}/") for name in LISTS]
    pages += [
        Page("new-partnership", "admin", "/partnerships/new/"),
        Page("new-plan", "admin", "/p/{new_pid}/"),
        Page("plan", "admin", P + "/", action="history"),
        Page("goal", "admin", P + "/goals/{goal}/"),
        Page("review-queue", "admin", P + "/review/"),
        Page("thread", "admin", P + "/review/goals/{commitment_goal}/"),
        Page("reviews", "admin", P + "/reviews/"),
        Page("review", "admin", P + "/reviews/{review}/"),
        Page("review-held", "admin", P + "/reviews/{held_review}/"),
        Page("email-log", "admin", P + "/reviews/deliveries/"),
        Page("health", "admin", P + "/health/"),
        Page("print", "admin", P + "/print/"),
        Page("settings", "admin", P + "/settings/"),
        Page("invitations", "admin", "/invite/manage/{pid}/"),
        Page("user-settings", "admin", "/settings/"),
        Page("reminders", "admin", "/settings/reminders/"),
        Page("audit-exports", "admin", "/audit/"),
        # The organisation's webhooks, and one webhook's settings and delivery log.
        Page("webhooks", "admin", "/settings/organisations/{webhook_org}/webhooks/"),
        Page("webhook", "admin", "/settings/organisations/{webhook_org}/webhooks/{webhook}/"),
        # The vendor side's chat channels of the partnership, and one channel's settings and log.
        Page("chat-channels", "admin", P + "/chat/"),
        Page("chat-channel", "admin", P + "/chat/{chat_channel}/"),
        # Single sign-on of the admin's organisation: its provider, domains and rule.
        Page("organisation-sso", "admin", "/settings/organisations/{vendor_org}/sso/"),
        # Plan templates: starting the new plan from one (its preview), saving and cloning a written
        # plan's structure, the organisation's templates and one of its own in the editor.
        Page("start-from-template", "admin", "/p/{new_pid}/templates/"),
        Page("save-as-template", "admin", P + "/templates/save/"),
        Page("clone-structure", "admin", P + "/templates/clone/"),
        Page("plan-templates", "admin", "/settings/organisations/{vendor_org}/templates/"),
        Page("plan-template", "admin", "/settings/organisations/{vendor_org}/templates/{plan_template}/"),
    ]
    # The partner manager: an approver of the partnership, not an admin of the organisation.
    pages += [
        Page("dashboard", "manager", "/"),
        Page("plan", "manager", P + "/"),
        Page("review-queue", "manager", P + "/review/"),
        Page("invitations", "manager", "/invite/manage/{pid}/"),
        Page("settings", "manager", P + "/settings/"),
        # Importing check-ins from a file: the upload page and an import's preview with row errors.
        Page("imports", "manager", P + "/imports/"),
        # Editing one of the vendor side's figures without JavaScript (htmx edits it in the panel).
        Page("figure-edit", "manager", P + "/economics/figures/{vendor_figure}/edit/"),
        Page("import", "manager", P + "/imports/{actuals_import}/"),
        # Setting up two-factor sign-in: the QR code and the first code's form.
        Page("two-factor-setup", "manager", "/settings/two-factor/"),
    ]
    # The partner's approver (and admin of the partner organisation, in the demo).
    pages += [Page("dashboard", "partner", "/")]
    pages += [Page(f"list-{name}", "partner", f"/lists/{name}/") for name in LISTS]
    pages += [
        Page("plan", "partner", P + "/", action="history"),
        Page("goal", "partner", P + "/goals/{goal}/"),
        Page("review-queue", "partner", P + "/review/"),
        Page("thread", "partner", P + "/review/goals/{commitment_goal}/"),
        Page("reviews", "partner", P + "/reviews/"),
        Page("review", "partner", P + "/reviews/{review}/"),
        Page("review-held", "partner", P + "/reviews/{held_review}/"),
        Page("health", "partner", P + "/health/"),
        Page("print", "partner", P + "/print/"),
        Page("settings", "partner", P + "/settings/"),
        Page("invitations", "partner", "/invite/manage/{pid}/"),
        Page("user-settings", "partner", "/settings/"),
        Page("reminders", "partner", "/settings/reminders/"),
    ]
    # A viewer reads, where the pages differ (no actions), and is refused what is not theirs.
    pages += [
        Page("dashboard", "viewer", "/"),
        Page("plan", "viewer", P + "/"),
        Page("goal", "viewer", P + "/goals/{goal}/"),
        Page("review-queue", "viewer", P + "/review/"),
        Page("thread", "viewer", P + "/review/goals/{commitment_goal}/"),
        Page("review", "viewer", P + "/reviews/{review}/"),
        Page("settings", "viewer", P + "/settings/"),
        Page("chat-channels", "viewer", P + "/chat/"),
        Page("refused", "viewer", P + "/reviews/deliveries/", status=403),
    ]
    return pages


ANONYMOUS_PAGES = [
    Page("sign-in", "anonymous", "/accounts/login/"),
    Page("sign-up", "anonymous", "/accounts/signup/"),
    Page("sign-up-sent", "anonymous", "/accounts/signup/sent/"),
    # The e-mailed confirmation link, opened in another browser: it asks for the password again.
    Page("sign-up-confirm", "anonymous", "/accounts/signup/confirm/{signup}/"),
    Page("sign-up-invalid", "anonymous", "/accounts/signup/confirm/not-a-real-link/", status=404),
    # Single sign-on: the e-mail form, and the page of a callback that did not start here.
    Page("sso-start", "anonymous", "/accounts/login/sso/"),
    Page("sso-refused", "anonymous", "/accounts/login/sso/callback/?state=not-a-real-state", status=403),
    Page("password-reset", "anonymous", "/accounts/password-reset/"),
    Page("password-reset-sent", "anonymous", "/accounts/password-reset/sent/"),
    # The e-mailed link moves its token into the session and shows the new-password form.
    Page("password-reset-link", "anonymous", "/accounts/reset/{reset_uid}/{reset_token}/"),
    Page("password-reset-done", "anonymous", "/accounts/reset/done/"),
    Page("invitation", "anonymous", "/invite/{invitation}/"),
    # A used link sends someone signed out to sign in, saying so.
    Page("invitation-used", "anonymous", "/invite/{invitation_used}/"),
    Page("invitation-expired", "anonymous", "/invite/{invitation_expired}/", status=410),
    Page("invitation-invalid", "anonymous", "/invite/not-a-real-link/", status=404),
    Page("unsubscribe", "anonymous", "/reminders/unsubscribe/{unsubscribe}/"),
    Page("unsubscribe-invalid", "anonymous", "/reminders/unsubscribe/not-a-real-link/", status=400),
    Page("unsubscribe-expired", "anonymous", "/reminders/unsubscribe/{unsubscribe_expired}/", status=410),
    # Action links of e-mails: the exact terms and the button, what a used link did, and the refusals.
    Page("action-approve", "anonymous", "/a/{action_approve}/"),
    Page("action-request-changes", "anonymous", "/a/{action_changes}/"),
    Page("action-commit-and-approve", "anonymous", "/a/{action_commit}/"),
    Page("action-endorse", "anonymous", "/a/{action_endorse}/"),
    Page("action-confirm-figure", "anonymous", "/a/{action_figure}/"),
    Page("action-done", "anonymous", "/a/{action_used}/done/"),
    Page("action-used", "anonymous", "/a/{action_used}/", status=410),
    Page("action-expired", "anonymous", "/a/{action_expired}/", status=410),
    Page("action-invalid", "anonymous", "/a/not-a-real-link/", status=404),
]

PAGES: list[Page] = _signed_in_pages() + ANONYMOUS_PAGES


def prepare(*, partnership: Partnership, admin: User, manager: User, partner: User) -> dict[str, str]:
    """Add what the pages need to a written plan (see the module's docstring); the ids for ``PAGES``.

    The plan needs an objective, an agreed goal, a scheduled and a held review already."""
    p = partnership
    vendor, partner_access = resolve(manager, p.pk), resolve(partner, p.pk)
    # The partner's settings show a calendar link that is on (the admin's: none yet).
    CalendarFeed.issue(partner)
    # A webhook of the vendor organisation: it hears of the changes below (its delivery log is filled at the end).
    webhook, _secret = webhooks.webhook_create(
        user=admin,
        organisation_id=p.vendor_id,
        url="https://93.184.216.34/partnerplan/webhooks",
        description="CRM sync",
        event_types=["goal.proposed", "goal.approved", "goal.agreed", "invitation.created"],
    )
    # A Slack channel of the vendor side: it hears the goal steps below. Made directly rather than
    # through ``chat.channel_create``, whose check resolves hooks.slack.com (no network here).
    txid, seq = chat.feed_end()
    chat_channel = ChatChannel.objects.create(
        partnership=p,
        side=Side.VENDOR,
        kind=ChatChannel.Kind.SLACK,
        name="#partner-plan",
        url="https://hooks.slack.com/services/T0000/B0000/demo1234",
        event_kinds=["goal.proposed", "goal.approved", "goal.changes_requested", "review.upcoming"],
        after_txid=txid,
        after_seq=seq,
        owner=admin,
    )
    today = timezone.localdate()
    start, end = period_containing(today, "quarter")
    objective = Objective.objects.filter(partnership=p, status=Objective.Status.ACTIVE).order_by("created_at").first()
    assert objective is not None, "the plan needs an objective"
    # The vendor proposes and approves a goal with its own commitment only: it waits for the
    # partner's "Add our commitment and approve".
    goal = goals.goal_create(
        access=vendor,
        objective_id=objective.pk,
        title=COMMITMENT_GOAL,
        period_start=start,
        period_end=end,
        metric_name="Webinar leads",
        metric_unit="leads",
        baseline=Decimal("0"),
        target=Decimal("120"),
        commitments=[
            {"side": Side.VENDOR, "text": "Produce and promote three webinars", "due_date": end - dt.timedelta(14)}
        ],
    )
    goals.goal_propose(access=vendor, goal_id=goal.pk)
    goals.goal_approve(access=vendor, goal_id=goal.pk, revision=1)

    # Each side's economics on the plan page: figures of the last two quarters, one private and one
    # shared per driver, and the objective that moves them.
    figures: dict[str, Any] = {}  # each side's last figure recorded (its edit form is a page)
    for side_access, drivers in (
        (vendor, [(Side.VENDOR, "licence revenue", "EUR k"), (Side.VENDOR, "active users", "")]),
        (partner_access, [(Side.PARTNER, "services revenue", "EUR k"), (Side.PARTNER, "utilisation", "%")]),
    ):
        for n, driver in enumerate(economics.ensure_drivers(access=side_access, partnership=p, drivers=drivers)):
            economics.objective_link_driver(access=side_access, objective_id=objective.pk, driver_id=driver.pk)
            for back, visibility in ((2, FigureVisibility.PRIVATE), (1, FigureVisibility.SHARED)):
                q_start, q_end = period_containing(start - dt.timedelta(days=1 + 92 * (back - 1)), "quarter")
                figures[side_access.side] = economics.figure_record(
                    access=side_access,
                    driver_id=driver.pk,
                    period_start=q_start,
                    period_end=q_end,
                    value=Decimal(60 + 7 * n + 3 * back),
                    note="From the quarterly report" if back == 1 else "",
                    visibility=visibility,
                )

    # A partnership that has just started: its plan shows the getting-started checklist.
    organisation = admin.vendor_organisations().first()
    assert organisation is not None, "the admin's organisation must act as a vendor"
    fresh = plan.partnership_create(actor=admin, vendor=organisation, partner_name=NEW_PARTNER)
    # The organisation's own copy of a shipped template (the template editor shows it).
    plan_template = plan_templates.template_customise(user=admin, organisation_id=organisation.pk, key="consulting")

    # Invitation links to the partner side, by the partner's approver: one to open, one used, one expired.
    domain = partner.email.rsplit("@", 1)[1]

    def invite(local: str, role: str = Role.VIEWER) -> str:
        _invitation, raw = invitations.invitation_create(
            access=partner_access, email=f"{local}@{domain}", side=Side.PARTNER, role=role
        )
        return raw

    fresh_link = invite("new.colleague", Role.EDITOR)
    used_link = invite("joined.colleague")
    joined = invitations.invitation_accept_as_new_person(
        raw_token=used_link, full_name="Jo Joined", password="a-long-demo-password-1"
    ).user
    expired_link = invite("late.colleague")
    Invitation.objects.filter(email=f"late.colleague@{domain}", partnership=p).update(
        expires_at=timezone.now() - dt.timedelta(days=2)
    )
    # The vendor invites a partner colleague: where the partner has admins, they confirm it first.
    invitations.invitation_create(
        access=resolve(admin, p.pk), email=f"sales.lead@{domain}", side=Side.PARTNER, role=Role.APPROVER
    )

    # Someone signing up a new vendor workspace: the confirmation link of the e-mail.
    signup = SignupRequest.objects.get(
        pk=signups.signup_request(
            organisation="Fabrikam Software",
            email="fay@fabrikam.test",
            password="a-long-demo-password-1",
            full_name="Fay Fabrikam",
        )
    )
    # The manager has begun setting up two-factor sign-in (the code is not confirmed yet).
    two_factor.setup_begin(manager)

    _webhook_log(webhook.pk)
    _chat_log(chat_channel.pk)

    agreed = Goal.objects.filter(partnership=p, status=GoalStatus.AGREED).order_by("created_at").first()
    upcoming = AlignmentReview.objects.filter(partnership=p, status=AlignmentReview.Status.SCHEDULED).first()
    held = (
        AlignmentReview.objects.filter(partnership=p, status=AlignmentReview.Status.HELD)
        .order_by("-scheduled_for")
        .first()
    )
    assert agreed is not None and upcoming is not None and held is not None, "the plan needs goals and reviews"
    # The vendor's pulse at the next review: the partner's review page keeps its numbers hidden until
    # the partner answers, and shows the form.
    pulse.pulse_answer(
        access=vendor, review_id=upcoming.pk, answers=dict.fromkeys(pulse.QUESTIONS, 4), note="A good quarter so far"
    )
    # An uploaded file of actuals, checked but not imported yet: one good row and one with an error.
    actuals = (
        f"Goal,Date,Value,Confidence,Note\n{agreed.pk},{today.isoformat()},42,4,From the CRM\n"
        f"{agreed.pk},31/12/2025,1.5,3,\n"
    ).encode()
    actuals_import = actuals_imports.actuals_import_preview(
        access=vendor, file_name="crm-actuals.csv", stream=io.BytesIO(actuals)
    )
    # Two-key actuals: a figure the vendor entered waits for the partner (the goal page offers
    # Confirm and Dispute, and an e-mail's link leads to its page); another one the partner
    # disputed shows both numbers and the buttons to settle on one.
    waiting_figure = goal_check_ins.check_in_create(
        access=vendor, goal_id=agreed.pk, value=Decimal("42"), note="From the CRM"
    )
    disputed_figure = goal_check_ins.check_in_create(
        access=vendor, goal_id=agreed.pk, value=Decimal("40"), measured_on=today - dt.timedelta(days=7)
    )
    goal_check_ins.check_in_dispute(
        access=partner_access, check_in_id=disputed_figure.pk, value=Decimal("38"), note="Two deals slipped"
    )
    links = _action_links(p, fresh, objective, admin=admin, manager=manager, partner=partner, waiting=goal)
    links["action_figure"] = action_links.create_link(
        user=partner, action=ActionLink.Action.CONFIRM_FIGURE, check_in=waiting_figure
    )
    return links | {
        "pid": str(p.pk),
        "webhook_org": str(p.vendor_id),
        "webhook": str(webhook.pk),
        "chat_channel": str(chat_channel.pk),
        "vendor_org": str(organisation.pk),
        "new_pid": str(fresh.pk),
        "plan_template": str(plan_template.pk),
        "vendor_figure": str(figures[Side.VENDOR].pk),
        "goal": str(agreed.pk),
        "commitment_goal": str(goal.pk),
        "review": str(upcoming.pk),
        "held_review": str(held.pk),
        "actuals_import": str(actuals_import.pk),
        "invitation": fresh_link,
        "invitation_used": used_link,
        "invitation_expired": expired_link,
        "unsubscribe": make_token(partner, ReminderKind.APPROVAL_WAITING),
        "unsubscribe_expired": _expired_unsubscribe_token(partner),
        "signup": signup.link_token(),
        # For someone who never signs in here: signing in changes the person's reset tokens.
        "reset_uid": urlsafe_base64_encode(force_bytes(joined.pk)),
        "reset_token": default_token_generator.make_token(joined),
    }


def _action_links(
    p: Partnership,
    fresh: Partnership,
    objective: Objective,
    *,
    admin: User,
    manager: User,
    partner: User,
    waiting: Goal,
) -> dict[str, str]:
    """Action links of e-mails (``goals.actions``): to approve (a goal the partner proposed and
    approved through a link, now the used one), to request changes and to commit and approve (the
    goal waiting for the partner's commitment), one expired, and one to endorse the vision of the
    new partnership (its vision written for it)."""
    partner_access = resolve(partner, p.pk)
    proposed = goals.goal_create(
        access=partner_access,
        objective_id=objective.pk,
        title="Joint case study",
        period_start=waiting.period_start,
        period_end=waiting.period_end,
        metric_name="Published case studies",
        baseline=Decimal("0"),
        target=Decimal("2"),
        commitments=[
            {"side": Side.PARTNER, "text": "Interview two joint customers"},
            {"side": Side.VENDOR, "text": "Design and publish the case studies"},
        ],
    )
    goals.goal_propose(access=partner_access, goal_id=proposed.pk)
    used = action_links.create_link(user=partner, action=ActionLink.Action.APPROVE, goal=proposed)
    action_links.act(used)
    expired = action_links.create_link(user=partner, action=ActionLink.Action.REQUEST_CHANGES, goal=waiting)
    ActionLink.objects.filter(token_hash=hash_token(expired)).update(expires_at=timezone.now() - dt.timedelta(days=1))
    plan.vision_update(
        access=resolve(admin, fresh.pk),
        why_together="Our platform and their services win together.",
        what_we_hope="Ten joint customers in the first year.",
        how_we_work="A monthly call and a quarterly review.",
    )
    vision = Vision.objects.get(partnership=fresh)
    return {
        "action_approve": action_links.create_link(user=manager, action=ActionLink.Action.APPROVE, goal=proposed),
        "action_changes": action_links.create_link(
            user=partner, action=ActionLink.Action.REQUEST_CHANGES, goal=waiting
        ),
        "action_commit": action_links.create_link(
            user=partner, action=ActionLink.Action.COMMIT_AND_APPROVE, goal=waiting
        ),
        "action_endorse": action_links.create_link(user=admin, action=ActionLink.Action.ENDORSE, vision=vision),
        "action_used": used,
        "action_expired": expired,
    }


def _webhook_log(subscription_id: Any) -> None:
    """The webhook's deliveries of the changes made since it was added, with attempts answered as a
    receiver might (no request leaves the machine): one delivered, one refused, one timed out."""
    webhooks.webhooks_sweep(load=load_events, send=False)
    answers = [
        Outcome(status=200, body='{"received": true}', duration_ms=84),
        Outcome(status=500, body="Internal Server Error", duration_ms=212),
        Outcome(error="Timed out (no complete answer within 10 s).", duration_ms=10003),
    ]
    deliveries = WebhookDelivery.objects.filter(subscription_id=subscription_id).select_related("subscription")
    for delivery, outcome in zip(deliveries.order_by("event_seq"), answers, strict=False):
        webhook_delivery.record_outcome(delivery, outcome, now=timezone.now())


def _chat_log(channel_id: Any) -> None:
    """The chat channel's messages of the goal steps since it was added, answered as Slack might."""
    chat.chat_sweep(send=False)
    answers = [Outcome(status=200, body="ok", duration_ms=95), Outcome(status=500, body="", duration_ms=310)]
    deliveries = ChatDelivery.objects.filter(channel_id=channel_id).select_related("channel").order_by("event_key")
    for delivery, outcome in zip(deliveries, answers, strict=False):
        chat.record_outcome(delivery, outcome, now=timezone.now())


class _SignedLongAgo(signing.TimestampSigner):
    """Signs as if a day past the unsubscribe links' lifetime ago."""

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time() - (unsubscribe_max_age() + dt.timedelta(days=1)).total_seconds()))


def _expired_unsubscribe_token(user: User) -> str:
    payload = {"u": str(user.public_id), "k": ReminderKind.APPROVAL_WAITING}
    return str(_SignedLongAgo(salt=UNSUBSCRIBE_SALT).sign_object(payload))


# --- Looking at a page ------------------------------------------------------------------------------


def open_page(page: Any, spec: Page, ids: dict[str, str]) -> int:
    """Go to the page, do its action, wait until it is settled; its HTTP status."""
    response = page.goto(spec.url(ids))
    status = response.status if response is not None else 0
    if spec.action == "history":
        page.locator("#history summary").click()
        page.locator("#history .events").wait_for(state="visible")
    page.wait_for_load_state("networkidle")
    return int(status)


def sideways(page: Any) -> int:
    """How many pixels the page scrolls sideways (0 when it fits its width)."""
    return int(page.evaluate("Math.max(0, document.documentElement.scrollWidth - window.innerWidth)"))


def serious(results: Any) -> list[str]:
    """The serious and critical violations of an axe run, one line each."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
