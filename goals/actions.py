"""Action links in e-mails: approve this revision, request changes, add our commitment and approve,
endorse the vision, straight from the e-mail, without signing in.

A link is bound to one person, one object (a goal, or the vision) and one revision, works once and
expires after ``ACTION_LINK_MAX_AGE_DAYS`` (7 days). Its token is 256 random bits; only its SHA-256
is stored (``accounts.models.hash_token``), the raw token is only ever in the e-mail.

- Opening a link (``inspect``) shows the exact terms and changes nothing: mail scanners prefetch
  links, so a GET neither consumes the link nor writes anything.
- Using it (``act``) locks the link row, checks it is unused and unexpired, resolves the person's
  access *now* (someone who left the plan is refused), checks the revision is still the current
  one, and calls the same service as the plan page and the API, as that person: the change event
  names them as its actor. Twenty concurrent uses of one link make one change.
- E-mails get their links when the outbox renders them (``offered_links``), for that recipient,
  so no token travels through the broker. Only an action the recipient may take now is offered.
  A resend of the same e-mail makes new links; older links for the same person, object, revision
  and action stay valid until one of them is used (then all of them count as used) or they expire.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User, hash_token
from alignment.access import Access, resolve
from alignment.models import Side, Vision
from alignment.services import vision_endorse, vision_endorsed_sides
from core.errors import DomainError, NotAllowed, NotFound, RuleViolation

from . import services as goal_services
from .models import ActionLink, Approval, Goal, RevisionState
from .rules import approval_refusal, closed_refusal, committed_sides, waits_for

Action = ActionLink.Action
GOAL_ACTIONS = (Action.APPROVE, Action.COMMIT_AND_APPROVE, Action.REQUEST_CHANGES)


class LinkGone(DomainError):
    """The link was used already, or has expired (HTTP 410)."""

    status = 410


def max_age() -> dt.timedelta:
    return dt.timedelta(days=int(getattr(settings, "ACTION_LINK_MAX_AGE_DAYS", 7)))


# --- Creating links -----------------------------------------------------------------------------


def create_link(*, user: User, action: str, goal: Goal | None = None, vision: Vision | None = None) -> str:
    """A new link for ``user`` to take ``action`` on the current revision of ``goal`` (or, to
    endorse, of ``vision``); the raw token, which is stored only hashed."""
    if (action == Action.ENDORSE) != (vision is not None) or (goal is None) == (vision is None):
        raise ValueError("An endorse link is for the vision; every other action link is for a goal")
    raw = secrets.token_urlsafe(32)
    now = timezone.now()
    target: Goal | Vision = goal if goal is not None else vision  # type: ignore[assignment]
    ActionLink.objects.create(
        token_hash=hash_token(raw),
        user=user,
        partnership_id=target.partnership_id,
        action=action,
        goal=goal,
        vision=vision,
        revision=target.revision,
        created_at=now,
        expires_at=now + max_age(),
    )
    return raw


def link_url(raw: str) -> str:
    return str(settings.SITE_URL) + reverse("action-link", args=[raw])


@dataclass(frozen=True)
class Offer:
    """An action link offered in an e-mail."""

    action: str
    label: str
    url: str


def goal_offers(access: Access, goal: Goal, approved: set[str], committed: set[str]) -> list[str]:
    """The actions on ``goal`` that ``access`` may take now: only for the side the goal waits for,
    and only what the goal rules allow (``goals.rules``)."""
    if goal.negotiation_state != RevisionState.PROPOSED or not waits_for(goal, access.side, approved):
        return []
    offers: list[str] = []
    if access.can_approve:
        if access.side in committed:
            if approval_refusal(access, goal, approved_sides=approved, committed=committed) is None:
                offers.append(Action.APPROVE)
        elif approval_refusal(access, goal, approved_sides=approved, committed=committed | {access.side}) is None:
            offers.append(Action.COMMIT_AND_APPROVE)
    if access.can_edit and closed_refusal(goal) is None:
        offers.append(Action.REQUEST_CHANGES)
    return offers


def offered_links(user: User | None, goal: Goal) -> list[Offer]:
    """Fresh links for the actions ``user`` may take on ``goal`` now (none for someone without
    access, or when the goal does not wait for their side). Called as an e-mail is rendered."""
    if user is None:
        return []
    try:
        access = resolve(user, goal.partnership_id)
    except DomainError:
        return []
    approved = set(Approval.objects.filter(goal=goal, revision=goal.revision).values_list("side", flat=True))
    committed = committed_sides(goal.commitments.all())
    return [
        Offer(action, Action(action).label, link_url(create_link(user=user, action=action, goal=goal)))
        for action in goal_offers(access, goal, approved, committed)
    ]


def endorse_offer(user: User | None, vision: Vision) -> list[Offer]:
    """A fresh endorse link when ``user`` may endorse the vision now for a side that has not."""
    if user is None:
        return []
    try:
        access = resolve(user, vision.partnership_id)
    except DomainError:
        return []
    if vision_refusal(access, vision) is not None:
        return []
    return [
        Offer(
            Action.ENDORSE, Action.ENDORSE.label, link_url(create_link(user=user, action=Action.ENDORSE, vision=vision))
        )
    ]


# --- Opening and using links --------------------------------------------------------------------


def find(raw: str) -> ActionLink | None:
    """The link with this token (any state), or None for a token that was never issued."""
    if not raw or len(raw) > 100:
        return None
    return (
        ActionLink.objects.select_related("user", "partnership", "goal", "goal__objective", "vision")
        .filter(token_hash=hash_token(raw))
        .first()
    )


def _usable(link: ActionLink, now: dt.datetime) -> None:
    if link.used_at is not None:
        raise LinkGone(
            f"This link was used on {timezone.localtime(link.used_at):%d %B %Y at %H:%M}: {link.outcome} "
            "Each link works once.",
            code="action_link.used",
        )
    if now >= link.expires_at:
        raise LinkGone(
            f"This link expired on {timezone.localtime(link.expires_at):%d %B %Y}. Open the plan to act on the "
            "current terms.",
            code="action_link.expired",
        )


def _access(link: ActionLink) -> Access:
    """The person's access now: someone who left the plan (or was deactivated) is refused."""
    try:
        return resolve(link.user, link.partnership_id)
    except NotFound:
        raise NotAllowed(
            "You no longer have access to this plan, so this link no longer works.", code="action_link.no_access"
        ) from None


def vision_refusal(access: Access, vision: Vision, revision: int | None = None) -> DomainError | None:
    if not access.can_approve:
        return NotAllowed(f"Only approvers endorse the vision; your role on the {access.side} side is {access.role}.")
    if revision is not None and revision != vision.revision:
        return _stale(revision, vision.revision, "vision")
    if not (vision.why_together.strip() and vision.what_we_hope.strip() and vision.how_we_work.strip()):
        return RuleViolation("The vision needs all three texts before it can be endorsed.", code="vision.incomplete")
    if access.side in vision_endorsed_sides(vision):
        return RuleViolation(
            f"The {access.side} side has endorsed this revision already.", code="vision.already_endorsed"
        )
    return None


def _stale(revision: int, current: int, what: str) -> RuleViolation:
    return RuleViolation(
        f"This link is for revision {revision}, but the {what} is now at revision {current}. "
        "Open the plan to read the current terms.",
        code="action_link.stale_revision",
    )


def _refusal(access: Access, link: ActionLink) -> DomainError | None:
    """Why the link's action cannot be taken now (read-only: for the page a GET shows)."""
    if link.vision is not None:
        return vision_refusal(access, link.vision, link.revision)
    goal = link.goal
    assert goal is not None  # a goal action (the table's constraint)
    if link.revision != goal.revision:
        return _stale(link.revision, goal.revision, "goal")
    approved = set(Approval.objects.filter(goal=goal, revision=goal.revision).values_list("side", flat=True))
    committed = committed_sides(goal.commitments.all())
    if link.action == Action.APPROVE:
        return approval_refusal(access, goal, approved_sides=approved, committed=committed, revision=link.revision)
    if link.action == Action.COMMIT_AND_APPROVE:
        if access.side in committed:
            return RuleViolation(
                f"The {access.side} side has committed to this goal already: approve the revision as it is.",
                code="goal.already_committed",
            )
        return approval_refusal(
            access, goal, approved_sides=approved, committed=committed | {access.side}, revision=link.revision
        )
    if not access.can_edit:
        return NotAllowed(f"Your role ({access.role}) may not request changes; editors and approvers may.")
    refusal = closed_refusal(goal)
    if refusal is None and goal.negotiation_state != RevisionState.PROPOSED:
        refusal = RuleViolation("Changes can only be requested on a proposed revision.", code="goal.not_proposed")
    return refusal


def inspect(link: ActionLink, *, now: dt.datetime | None = None) -> Access:
    """Check that ``link`` can be used now, changing nothing; the person's access. Raises
    ``LinkGone`` (used, expired), ``NotAllowed`` (no access, or no longer the role) or
    ``RuleViolation`` (a stale revision, or the action is no longer open)."""
    _usable(link, now or timezone.now())
    access = _access(link)
    refusal = _refusal(access, link)
    if refusal is not None:
        raise refusal
    return access


@transaction.atomic
def act(raw: str, *, comment: str = "", text: str = "", due_date: dt.date | None = None) -> ActionLink:
    """Use the link: take its action as its person through the goal (or vision) services, and mark
    it (and its siblings: same person, object, revision and action) used. One use only: the link
    row is locked first, so concurrent uses wait and then find it used."""
    locked = ActionLink.objects.select_for_update().filter(token_hash=hash_token(raw)).first() if raw else None
    if locked is None:
        raise NotFound("This link does not work.")
    link = find(raw)
    assert link is not None  # just locked
    now = timezone.now()
    _usable(link, now)
    access = _access(link)
    outcome = _perform(access, link, comment=comment, text=text, due_date=due_date)
    siblings = ActionLink.objects.filter(
        user=link.user, action=link.action, goal=link.goal, vision=link.vision, revision=link.revision, used_at=None
    )
    siblings.update(used_at=now, outcome=outcome)
    link.used_at, link.outcome = now, outcome
    return link


def _perform(access: Access, link: ActionLink, *, comment: str, text: str, due_date: dt.date | None) -> str:
    """Call the service of the link's action; what happened, in words."""
    if link.action == Action.ENDORSE:
        vision_endorse(access=access, revision=link.revision)
        return f"You endorsed revision {link.revision} of the shared vision for the {access.side} side."
    goal = link.goal
    assert goal is not None
    if link.revision != goal.revision:  # the services check it too; said here in the link's words
        raise _stale(link.revision, goal.revision, "goal")
    if link.action == Action.REQUEST_CHANGES:
        goal_services.goal_request_changes(access=access, goal_id=goal.pk, comment=comment, revision=link.revision)
        return f"You requested changes to revision {link.revision} of “{goal.title}”; the other side was told."
    if link.action == Action.COMMIT_AND_APPROVE:
        goal_services.goal_commit_and_approve(
            access=access, goal_id=goal.pk, revision=link.revision, text=text, due_date=due_date
        )
    else:
        goal_services.goal_approve(access=access, goal_id=goal.pk, revision=link.revision)
    goal.refresh_from_db()
    what = "added your side's commitment and approved" if link.action == Action.COMMIT_AND_APPROVE else "approved"
    if goal.agreed_revision == link.revision and not goal.amendment:
        return f"You {what} revision {link.revision} of “{goal.title}”: it is agreed by both sides."
    return (
        f"You {what} revision {link.revision} of “{goal.title}” for the {access.side} side; it now waits for the "
        f"{Side.other(access.side)} side."
    )
