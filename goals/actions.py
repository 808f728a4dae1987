"""Action links in e-mails: approve this revision, request changes, add our commitment and approve,
endorse the vision, confirm or dispute a figure the other side entered, straight from the e-mail,
without signing in.

A link is bound to one person, one object (a goal, the vision, or a goal's figure) and one revision
(of a figure: its version, so a changed figure is not confirmed blind), works once and expires
after ``ACTION_LINK_MAX_AGE_DAYS`` (7 days). Its token is 256 random bits; only its SHA-256
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
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.translation import gettext

from accounts.models import User, hash_token
from alignment.access import Access, resolve
from alignment.models import Side, Vision, VisionEndorsement
from alignment.services import vision_endorse, vision_endorsed_sides
from core.errors import DomainError, InvalidInput, NotAllowed, NotFound, RuleViolation
from core.templatetags.formatting import format_quantity, role_word, side_word

from . import check_ins as goal_check_ins
from . import services as goal_services
from .models import ActionLink, Approval, CheckIn, Goal, RevisionState
from .rules import approval_refusal, closed_refusal, committed_sides, waits_for

Action = ActionLink.Action
GOAL_ACTIONS = (Action.APPROVE, Action.COMMIT_AND_APPROVE, Action.REQUEST_CHANGES)


class LinkGone(DomainError):
    """The link was used already, or has expired (HTTP 410)."""

    status = 410


def max_age() -> dt.timedelta:
    return dt.timedelta(days=int(getattr(settings, "ACTION_LINK_MAX_AGE_DAYS", 7)))


# --- Creating links -----------------------------------------------------------------------------


def create_link(
    *,
    user: User,
    action: str,
    goal: Goal | None = None,
    vision: Vision | None = None,
    check_in: CheckIn | None = None,
) -> str:
    """A new link for ``user`` to take ``action`` on the current revision of ``goal`` (or, to
    endorse, of ``vision``; to confirm or dispute, on the current version of ``check_in``); the
    raw token, which is stored only hashed."""
    if check_in is not None:
        goal = check_in.goal
    if (action == Action.ENDORSE) != (vision is not None) or (goal is None) == (vision is None):
        raise ValueError("An endorse link is for the vision; every other action link is for a goal")
    if (action == Action.CONFIRM_FIGURE) != (check_in is not None):
        raise ValueError("A link to confirm or dispute is for a check-in")
    target: Goal | Vision = goal if goal is not None else vision  # type: ignore[assignment]
    link, raw = _new_link(
        user,
        target.partnership_id,
        action,
        timezone.now(),
        goal=goal,
        vision=vision,
        check_in=check_in,
        revision=check_in.version if check_in is not None else target.revision,
    )
    link.save(force_insert=True)
    return raw


def _new_link(user: User, partnership_id: Any, action: str, now: dt.datetime, **target: Any) -> tuple[ActionLink, str]:
    """An unsaved link (``target``: its goal, vision or check-in and revision) and its raw token,
    which is stored only hashed; it expires ``max_age()`` after ``now``."""
    raw = secrets.token_urlsafe(32)
    link = ActionLink(
        token_hash=hash_token(raw),
        user=user,
        partnership_id=partnership_id,
        action=action,
        created_at=now,
        expires_at=now + max_age(),
        **target,
    )
    return link, raw


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
        Offer(action, str(Action(action).label), link_url(create_link(user=user, action=action, goal=goal)))
        for action in goal_offers(access, goal, approved, committed)
    ]


def offered_links_many(
    user: User,
    goals: list[Goal],
    accesses: dict[Any, Access],
    approved: dict[Any, set[str]],
    committed: dict[Any, set[str]],
) -> dict[Any, list[Offer]]:
    """``offered_links`` for many goals of the person's partnerships at once (a digest): the
    caller loads their access (``resolve_many``), who approved and who committed; the links are
    written in one insert. Goals of partnerships missing from ``accesses`` get none."""
    now = timezone.now()
    links: list[ActionLink] = []
    offers: dict[Any, list[Offer]] = {}
    for goal in goals:
        access = accesses.get(goal.partnership_id)
        if access is None:
            continue
        for action in goal_offers(access, goal, approved.get(goal.pk, set()), committed.get(goal.pk, set())):
            link, raw = _new_link(user, goal.partnership_id, action, now, goal=goal, revision=goal.revision)
            links.append(link)
            offers.setdefault(goal.pk, []).append(Offer(action, str(Action(action).label), link_url(raw)))
    ActionLink.objects.bulk_create(links)
    return offers


def figure_links_many(user: User, check_ins: list[CheckIn], accesses: dict[Any, Access]) -> dict[Any, Offer]:
    """A "confirm or dispute" link for each figure ``user`` may confirm now (a digest), by the
    check-in's id, written in one insert. ``check_ins`` carry their goal (``select_related``)."""
    now = timezone.now()
    links: list[ActionLink] = []
    offers: dict[Any, Offer] = {}
    for ci in check_ins:
        access = accesses.get(ci.goal.partnership_id)
        if access is None or not goal_check_ins.may_review(access, ci):
            continue
        link, raw = _new_link(
            user,
            ci.goal.partnership_id,
            Action.CONFIRM_FIGURE,
            now,
            goal_id=ci.goal_id,
            check_in=ci,
            revision=ci.version,
        )
        links.append(link)
        offers[ci.pk] = Offer(Action.CONFIRM_FIGURE, str(Action.CONFIRM_FIGURE.label), link_url(raw))
    ActionLink.objects.bulk_create(links)
    return offers


def endorse_links_many(user: User, accesses: dict[Any, Access]) -> dict[Any, Offer]:
    """An endorse link for each of the person's partnerships whose vision waits for their side's
    endorsement (complete, this revision not endorsed by their side, and they are an approver), by
    partnership id: two queries and one insert, whatever the number of partnerships (a digest)."""
    approvers = [pid for pid, a in accesses.items() if a.can_approve]
    if not approvers:
        return {}
    visions = list(Vision.objects.filter(partnership_id__in=approvers))
    endorsed: dict[Any, set[str]] = {v.pk: set() for v in visions}
    for vision_id, side in VisionEndorsement.objects.filter(
        vision__in=visions, revision=F("vision__revision")
    ).values_list("vision_id", "side"):
        endorsed[vision_id].add(side)
    now = timezone.now()
    links: list[ActionLink] = []
    offers: dict[Any, Offer] = {}
    for vision in visions:
        if vision_refusal(accesses[vision.partnership_id], vision, endorsed=endorsed[vision.pk]) is not None:
            continue
        link, raw = _new_link(user, vision.partnership_id, Action.ENDORSE, now, vision=vision, revision=vision.revision)
        links.append(link)
        offers[vision.partnership_id] = Offer(Action.ENDORSE, str(Action.ENDORSE.label), link_url(raw))
    ActionLink.objects.bulk_create(links)
    return offers


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
            Action.ENDORSE,
            str(Action.ENDORSE.label),
            link_url(create_link(user=user, action=Action.ENDORSE, vision=vision)),
        )
    ]


# --- Opening and using links --------------------------------------------------------------------


def find(raw: str) -> ActionLink | None:
    """The link with this token (any state), or None for a token that was never issued."""
    if not raw or len(raw) > 100:
        return None
    return (
        ActionLink.objects.select_related(
            "user", "partnership", "goal", "goal__objective", "vision", "check_in", "check_in__author"
        )
        .filter(token_hash=hash_token(raw))
        .first()
    )


def _usable(link: ActionLink, now: dt.datetime) -> None:
    if link.used_at is not None:
        used = timezone.localtime(link.used_at)
        raise LinkGone(
            gettext("This link was used on %(day)s at %(time)s: %(outcome)s Each link works once.")
            % {
                "day": dateformat.format(used, "d F Y"),
                "time": dateformat.format(used, "H:i"),
                "outcome": link.outcome,
            },
            code="action_link.used",
        )
    if now >= link.expires_at:
        raise LinkGone(
            gettext("This link expired on %(day)s. Open the plan to act on the current terms.")
            % {"day": dateformat.format(timezone.localtime(link.expires_at), "d F Y")},
            code="action_link.expired",
        )


def _access(link: ActionLink) -> Access:
    """The person's access now: someone who left the plan (or was deactivated) is refused."""
    try:
        return resolve(link.user, link.partnership_id)
    except NotFound:
        raise NotAllowed(
            gettext("You no longer have access to this plan, so this link no longer works."),
            code="action_link.no_access",
        ) from None


def vision_refusal(
    access: Access, vision: Vision, revision: int | None = None, *, endorsed: set[str] | None = None
) -> DomainError | None:
    """Why ``access`` may not endorse ``vision`` now (``endorsed``: the sides that endorsed its current
    revision, when the caller loaded them for many visions at once)."""
    if not access.can_approve:
        return NotAllowed(
            gettext("Only approvers endorse the vision; your role on the %(side)s side is %(role)s.")
            % {"side": side_word(access.side), "role": role_word(access.role)}
        )
    if revision is not None and revision != vision.revision:
        return _stale(revision, vision.revision, "vision")
    if not vision.complete:
        return RuleViolation(
            gettext("The vision needs all three texts before it can be endorsed."), code="vision.incomplete"
        )
    if access.side in (vision_endorsed_sides(vision) if endorsed is None else endorsed):
        return RuleViolation(
            gettext("The %(side)s side has endorsed this revision already.") % {"side": side_word(access.side)},
            code="vision.already_endorsed",
        )
    return None


def _stale(revision: int, current: int, what: str) -> RuleViolation:
    message = (
        gettext(
            "This link is for revision %(revision)s, but the vision is now at revision %(current)s. "
            "Open the plan to read the current terms."
        )
        if what == "vision"
        else gettext(
            "This link is for revision %(revision)s, but the goal is now at revision %(current)s. "
            "Open the plan to read the current terms."
        )
    )
    return RuleViolation(message % {"revision": revision, "current": current}, code="action_link.stale_revision")


def figure_refusal(access: Access, check_in: CheckIn, version: int | None = None) -> DomainError | None:
    """Why ``access`` may not confirm or dispute ``check_in`` now (None: they may)."""
    if not access.can_edit:
        return NotAllowed(
            gettext("Your role (%(role)s) may not confirm or dispute figures; editors and approvers may.")
            % {"role": role_word(access.role)}
        )
    if check_in.side == access.side:
        return NotAllowed(
            gettext("Your side entered this figure; the %(other)s side confirms or disputes it.")
            % {"other": side_word(access.other_side)},
            code="check_in.own_side",
        )
    refusal = goal_check_ins.review_refusal(check_in)
    if refusal is not None:
        return refusal
    if version is not None and version != check_in.version:
        return RuleViolation(
            gettext("The figure has changed since the e-mail. Open the plan to see it as it is now."),
            code="action_link.stale_revision",
        )
    return None


def _refusal(access: Access, link: ActionLink) -> DomainError | None:
    """Why the link's action cannot be taken now (read-only: for the page a GET shows)."""
    if link.vision is not None:
        return vision_refusal(access, link.vision, link.revision)
    if link.check_in is not None:
        return figure_refusal(access, link.check_in, link.revision)
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
                gettext("The %(side)s side has committed to this goal already: approve the revision as it is.")
                % {"side": side_word(access.side)},
                code="goal.already_committed",
            )
        return approval_refusal(
            access, goal, approved_sides=approved, committed=committed | {access.side}, revision=link.revision
        )
    if not access.can_edit:
        return NotAllowed(
            gettext("Your role (%(role)s) may not request changes; editors and approvers may.")
            % {"role": role_word(access.role)}
        )
    refusal = closed_refusal(goal)
    if refusal is None and goal.negotiation_state != RevisionState.PROPOSED:
        refusal = RuleViolation(
            gettext("Changes can only be requested on a proposed revision."), code="goal.not_proposed"
        )
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
def act(
    raw: str,
    *,
    comment: str = "",
    text: str = "",
    due_date: dt.date | None = None,
    decision: str = "",
    value: Any = None,
    note: str = "",
) -> ActionLink:
    """Use the link: take its action as its person through the goal (or vision) services, and mark
    it (and its siblings: same person, object, revision and action) used. One use only: the link
    row is locked first, so concurrent uses wait and then find it used."""
    locked = ActionLink.objects.select_for_update().filter(token_hash=hash_token(raw)).first() if raw else None
    if locked is None:
        raise NotFound(gettext("This link does not work."))
    link = find(raw)
    assert link is not None  # just locked
    now = timezone.now()
    _usable(link, now)
    access = _access(link)
    if link.check_in is not None:
        outcome = _perform_figure(access, link, decision=decision, value=value, note=note)
    else:
        outcome = _perform(access, link, comment=comment, text=text, due_date=due_date)
    siblings = ActionLink.objects.filter(
        user=link.user,
        action=link.action,
        goal=link.goal,
        vision=link.vision,
        check_in=link.check_in,
        revision=link.revision,
        used_at=None,
    )
    siblings.update(used_at=now, outcome=outcome)
    link.used_at, link.outcome = now, outcome
    return link


def _perform(access: Access, link: ActionLink, *, comment: str, text: str, due_date: dt.date | None) -> str:
    """Call the service of the link's action; what happened, in words."""
    if link.action == Action.ENDORSE:
        vision_endorse(access=access, revision=link.revision)
        return gettext("You endorsed revision %(revision)s of the shared vision for the %(side)s side.") % {
            "revision": link.revision,
            "side": side_word(access.side),
        }
    goal = link.goal
    assert goal is not None
    if link.revision != goal.revision:  # the services check it too; said here in the link's words
        raise _stale(link.revision, goal.revision, "goal")
    if link.action == Action.REQUEST_CHANGES:
        goal_services.goal_request_changes(access=access, goal_id=goal.pk, comment=comment, revision=link.revision)
        return gettext("You requested changes to revision %(revision)s of “%(title)s”; the other side was told.") % {
            "revision": link.revision,
            "title": goal.title,
        }
    if link.action == Action.COMMIT_AND_APPROVE:
        goal_services.goal_commit_and_approve(
            access=access, goal_id=goal.pk, revision=link.revision, text=text, due_date=due_date
        )
    else:
        goal_services.goal_approve(access=access, goal_id=goal.pk, revision=link.revision)
    goal.refresh_from_db()
    words = {
        "revision": link.revision,
        "title": goal.title,
        "side": side_word(access.side),
        "other": side_word(Side.other(access.side)),
    }
    committed = link.action == Action.COMMIT_AND_APPROVE
    if goal.agreed_revision == link.revision and not goal.amendment:
        if committed:
            return (
                gettext(
                    "You added your side's commitment and approved revision %(revision)s of “%(title)s”: "
                    "it is agreed by both sides."
                )
                % words
            )
        return gettext("You approved revision %(revision)s of “%(title)s”: it is agreed by both sides.") % words
    if committed:
        return (
            gettext(
                "You added your side's commitment and approved revision %(revision)s of “%(title)s” for the "
                "%(side)s side; it now waits for the %(other)s side."
            )
            % words
        )
    return (
        gettext(
            "You approved revision %(revision)s of “%(title)s” for the %(side)s side; it now waits for the "
            "%(other)s side."
        )
        % words
    )


FIGURE_DECISIONS = ("confirm", "dispute")


def _perform_figure(access: Access, link: ActionLink, *, decision: str, value: Any, note: str) -> str:
    """Confirm the link's figure, or dispute it with the person's number and note, through the
    check-in services (which check the figure's version: a changed figure is not decided blind)."""
    ci = link.check_in
    assert ci is not None and link.goal is not None
    if decision not in FIGURE_DECISIONS:
        raise InvalidInput(gettext("Choose: confirm the figure, or dispute it."), fields={"decision": [""]})
    words = {
        "value": format_quantity(ci.value, link.goal.metric_unit),
        "title": link.goal.title,
        "date": dateformat.format(ci.measured_on, "j M Y"),
    }
    if decision == "confirm":
        goal_check_ins.check_in_confirm(access=access, check_in_id=ci.pk, expected_version=link.revision)
        return gettext("You confirmed the figure %(value)s of %(date)s for “%(title)s”.") % words
    disputed = goal_check_ins.check_in_dispute(
        access=access, check_in_id=ci.pk, value=value, note=note, expected_version=link.revision
    )
    words["other"] = format_quantity(disputed.disputed_value, link.goal.metric_unit)
    return (
        gettext(
            "You disputed the figure %(value)s of %(date)s for “%(title)s” with %(other)s. Until the sides "
            "settle on one of the two numbers in the plan, it does not count."
        )
        % words
    )
