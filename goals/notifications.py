"""Telling the other side about the negotiation of a goal: approved, changes requested, or a
(counter-)proposal to review. One e-mail per person, sent by Celery after the change commits.

The goal services call ``announce`` (so the browser and the API notify alike), inside the
same transaction: nothing is sent if the transaction rolls back. The tasks take ids and reload.
"""

from __future__ import annotations

import smtplib
from typing import Any

from celery import shared_task
from django.db import transaction
from django.urls import reverse

from accounts.models import User
from alignment.access import Access
from alignment.invitations import send_once
from alignment.mail import send_templated
from alignment.models import PartnershipMember, ReminderKind, Role, Side
from alignment.unsubscribe import list_unsubscribe_headers, unsubscribe_url

from .models import Comment, Goal, GoalStatus

APPROVED, CHANGES_REQUESTED, PROPOSED = "approved", "changes-requested", "proposed"
KINDS = (APPROVED, CHANGES_REQUESTED, PROPOSED)
# Users mute these e-mails with this kind in ``User.muted_reminder_kinds``.
MUTE_KIND = ReminderKind.GOAL_NEGOTIATION


def announce(*, access: Access, goal: Goal, kind: str, comment: Comment | None = None) -> None:
    """Queue the e-mails to the other side once the current transaction commits."""
    if kind not in KINDS:
        raise ValueError(f"Unknown goal notification {kind!r}")
    # What makes this event unique: an approval is once per (revision, side), a change request is
    # its comment, and a proposal its moment (a revision can be proposed again after a change request).
    detail = (
        str(comment.pk) if comment else (goal.proposed_at.isoformat() if kind == PROPOSED and goal.proposed_at else "")
    )
    event = f"{kind}:{goal.pk}:{goal.revision}:{access.side}:{detail}"
    args = (kind, str(goal.pk), goal.revision, access.user.pk, access.side, str(comment.pk) if comment else None)
    transaction.on_commit(lambda: notify_goal_event.delay(*args, event=event))


def recipients(goal: Goal, side: str) -> list[User]:
    """The people of one side who take part in the negotiation (editors and approvers)."""
    members = (
        PartnershipMember.objects.filter(
            partnership_id=goal.partnership_id,
            side=side,
            role__in=[Role.EDITOR, Role.APPROVER],
            user__is_active=True,
        )
        .select_related("user")
        .order_by("user__email")
    )
    return [m.user for m in members if MUTE_KIND not in (m.user.muted_reminder_kinds or [])]


@shared_task
def notify_goal_event(
    kind: str,
    goal_id: str,
    revision: int,
    actor_id: Any,
    actor_side: str,
    comment_id: str | None = None,
    event: str = "",
) -> int:
    """Fan out: one e-mail task per person on the other side. Returns how many were queued."""
    goal = Goal.objects.filter(pk=goal_id).first()
    if goal is None:
        return 0
    people = recipients(goal, Side.other(actor_side))
    for person in people:
        send_goal_email.delay(kind, goal_id, revision, actor_id, actor_side, person.pk, comment_id, event=event)
    return len(people)


@shared_task(
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def send_goal_email(
    kind: str,
    goal_id: str,
    revision: int,
    actor_id: Any,
    actor_side: str,
    recipient_id: Any,
    comment_id: str | None = None,
    event: str = "",
) -> bool:
    """Send one person one e-mail about one event; a repeated run for the same event sends nothing."""
    goal = Goal.objects.select_related("partnership", "objective").filter(pk=goal_id).first()
    recipient = User.objects.filter(pk=recipient_id, is_active=True).first()
    if goal is None or recipient is None:
        return False
    # Still a member of this partnership on the other side? (people can leave meanwhile)
    if not PartnershipMember.objects.filter(partnership_id=goal.partnership_id, user=recipient).exists():
        return False
    actor = User.objects.filter(pk=actor_id).first()
    comment = Comment.objects.filter(pk=comment_id, goal=goal).first() if comment_id else None
    send = {
        APPROVED: goal_approved_email,
        CHANGES_REQUESTED: goal_changes_requested_email,
        PROPOSED: goal_proposed_email,
    }[kind]
    return send_once(
        f"goal-mail:{event}:{recipient.pk}" if event else "",
        lambda: send(goal, revision, actor, actor_side, recipient, comment),
    )


def _context(
    goal: Goal, revision: int, actor: User | None, actor_side: str, recipient: User, comment: Comment | None
) -> dict[str, Any]:
    p = goal.partnership
    from django.conf import settings

    return {
        "goal": goal,
        "partnership": p,
        "revision": revision,
        "recipient": recipient,
        "actor_name": actor.display_name if actor else "Someone",
        "actor_organisation": p.organisation_for(actor_side).name,
        "comment": comment,
        "agreed": goal.status == GoalStatus.AGREED and goal.agreed_revision == revision and not goal.amendment,
        "url": settings.SITE_URL + reverse("goal-review-queue", args=[p.pk]),
        "thread_url": settings.SITE_URL + reverse("goal-thread", args=[p.pk, goal.pk]),
        "unsubscribe_url": unsubscribe_url(recipient, MUTE_KIND),
    }


def _send(name: str, recipient: User, context: dict[str, Any]) -> None:
    headers = list_unsubscribe_headers(context["unsubscribe_url"]) | {"Auto-Submitted": "auto-generated"}
    send_templated(name, [recipient.email], context, headers=headers)


def goal_approved_email(
    goal: Goal, revision: int, actor: User | None, actor_side: str, recipient: User, comment: Comment | None = None
) -> None:
    _send("goal-approved", recipient, _context(goal, revision, actor, actor_side, recipient, comment))


def goal_changes_requested_email(
    goal: Goal, revision: int, actor: User | None, actor_side: str, recipient: User, comment: Comment | None = None
) -> None:
    _send("goal-changes-requested", recipient, _context(goal, revision, actor, actor_side, recipient, comment))


def goal_proposed_email(
    goal: Goal, revision: int, actor: User | None, actor_side: str, recipient: User, comment: Comment | None = None
) -> None:
    _send("goal-proposed", recipient, _context(goal, revision, actor, actor_side, recipient, comment))
