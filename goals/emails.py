"""Telling the other side about the negotiation of a goal: a (counter-)proposal to review, an
approval, or a request for changes. One e-mail per person of the other side who negotiates
(editors and approvers), through the outbox.

The goal services call ``announce`` inside their transaction (so the browser and the API notify
alike): the outbox rows commit with the change, or not at all. Each row is unique per event and
recipient, so an event announced twice is e-mailed once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import shared_task
from django.conf import settings
from django.urls import reverse

from accounts.emails import send_to_person
from accounts.models import ReminderKind, User
from alignment.access import Access
from alignment.models import PartnershipMember, Role, Side
from core import outbox
from core.models import MailKind, OutboxMessage

from . import actions
from .models import Approval, Comment, Commitment, Goal, GoalStatus

PROPOSED, APPROVED, CHANGES_REQUESTED = MailKind.GOAL_PROPOSED, MailKind.GOAL_APPROVED, MailKind.GOAL_CHANGES_REQUESTED
# People mute all three with this kind in ``User.muted_reminder_kinds``.
MUTE_KIND = ReminderKind.GOAL_NEGOTIATION


def negotiators(partnership_id: Any, side: str) -> list[int]:
    """The people of one side who take part in the negotiation (editors and approvers)."""
    return list(
        PartnershipMember.objects.filter(
            partnership_id=partnership_id, side=side, role__in=[Role.EDITOR, Role.APPROVER], user__is_active=True
        )
        .order_by("user__email")
        .values_list("user_id", flat=True)
    )


def _event(kind: str, goal: Goal, approval: Approval | None, comment: Comment | None) -> tuple[str, str, dt.datetime]:
    """What makes an event unique: an approval is once per (revision, side), a change request is
    its comment, and a proposal its moment (a revision can be proposed again after a change request)."""
    if kind == APPROVED and approval is not None:
        return "approval", str(approval.pk), approval.created_at
    if kind == CHANGES_REQUESTED and comment is not None:
        return "comment", str(comment.pk), comment.created_at
    if kind == PROPOSED and goal.proposed_at is not None:
        return "goal", str(goal.pk), goal.proposed_at
    raise ValueError(f"Cannot announce {kind!r} without its approval, comment or proposal")


def announce(
    *,
    access: Access,
    goal: Goal,
    kind: str,
    approval: Approval | None = None,
    comment: Comment | None = None,
    commitment: Commitment | None = None,
) -> None:
    """Queue the e-mails to the other side; they go out once the current transaction commits.
    ``commitment``: what the approving side committed to as it approved (it completed the revision)."""
    subject_type, subject_id, occurrence = _event(kind, goal, approval, comment)
    context = {
        "goal": str(goal.pk),
        "revision": goal.revision,
        "actor": access.user.pk,
        "actor_side": access.side,
        "comment": str(comment.pk) if comment else None,
        "commitment": str(commitment.pk) if commitment else None,
    }
    outbox.queue(
        outbox.Message(
            kind,
            subject_type,
            subject_id,
            occurrence,
            recipient_id=uid,
            partnership_id=goal.partnership_id,
            context=context,
        )
        for uid in negotiators(goal.partnership_id, Side.other(access.side))
    )


def _send(name: str, row: OutboxMessage) -> bool:
    ctx = row.context
    goal = Goal.objects.select_related("partnership", "objective").filter(pk=ctx.get("goal")).first()
    if goal is None or row.recipient is None:
        return False
    # Still a member of this partnership? (people can leave meanwhile)
    if not PartnershipMember.objects.filter(partnership_id=goal.partnership_id, user=row.recipient).exists():
        return False
    p = goal.partnership
    revision, actor_side = ctx["revision"], ctx["actor_side"]
    actor = User.objects.filter(pk=ctx.get("actor")).first()
    comment = Comment.objects.filter(pk=ctx["comment"], goal=goal).first() if ctx.get("comment") else None
    commitment = Commitment.objects.filter(pk=ctx["commitment"], goal=goal).first() if ctx.get("commitment") else None
    return send_to_person(
        name,
        row,
        {
            "goal": goal,
            "partnership": p,
            "revision": revision,
            "actor_name": actor.display_name if actor else "Someone",
            "actor_organisation": p.organisation_for(actor_side).name,
            "comment": comment,
            "commitment": commitment,
            "agreed": goal.status == GoalStatus.AGREED and goal.agreed_revision == revision and not goal.amendment,
            "url": settings.SITE_URL + reverse("goal-review-queue", args=[p.pk]),
            "thread_url": settings.SITE_URL + reverse("goal-thread", args=[p.pk, goal.pk]),
            # Made now, for this recipient: what they may do on the goal now, from the e-mail.
            "actions": actions.offered_links(row.recipient, goal),
            "action_days": actions.max_age().days,
        },
        reply_about=("goal", goal.pk),
    )


@outbox.sender(PROPOSED, mute_kind=MUTE_KIND)
def goal_proposed_email(row: OutboxMessage) -> bool:
    return _send("goal-proposed", row)


@outbox.sender(APPROVED, mute_kind=MUTE_KIND)
def goal_approved_email(row: OutboxMessage) -> bool:
    return _send("goal-approved", row)


@outbox.sender(CHANGES_REQUESTED, mute_kind=MUTE_KIND)
def goal_changes_requested_email(row: OutboxMessage) -> bool:
    return _send("goal-changes-requested", row)


# --- Tasks of earlier releases ------------------------------------------------------------------
# Messages queued by a release that sent these e-mails from tasks may still be in the broker when
# this one starts: they are turned into outbox rows (still exactly once per event and person).

LEGACY_KINDS = {"approved": APPROVED, "changes-requested": CHANGES_REQUESTED, "proposed": PROPOSED}


def _legacy_messages(
    kind: str,
    goal_id: str,
    revision: int,
    actor_id: Any,
    actor_side: str,
    comment_id: str | None,
    recipients: list[int] | None,
) -> int:
    goal = Goal.objects.filter(pk=goal_id).first()
    if goal is None or kind not in LEGACY_KINDS or actor_side not in Side.values:
        return 0
    kind = LEGACY_KINDS[kind]
    approval = Approval.objects.filter(goal=goal, revision=revision, side=actor_side).first()
    comment = Comment.objects.filter(pk=comment_id, goal=goal).first() if comment_id else None
    try:
        subject_type, subject_id, occurrence = _event(kind, goal, approval, comment)
    except ValueError:
        return 0
    context = {
        "goal": str(goal.pk),
        "revision": revision,
        "actor": actor_id,
        "actor_side": actor_side,
        "comment": str(comment.pk) if comment else None,
    }
    people = negotiators(goal.partnership_id, Side.other(actor_side))
    if recipients is not None:
        people = [uid for uid in people if uid in recipients]
    return len(
        outbox.queue(
            outbox.Message(
                kind,
                subject_type,
                subject_id,
                occurrence,
                recipient_id=uid,
                partnership_id=goal.partnership_id,
                context=context,
            )
            for uid in people
        )
    )


@shared_task(name="goals.notifications.notify_goal_event")  # type: ignore[untyped-decorator]
def notify_goal_event(
    kind: str,
    goal_id: str,
    revision: int,
    actor_id: Any,
    actor_side: str,
    comment_id: str | None = None,
    event: str = "",
) -> int:
    return _legacy_messages(kind, goal_id, revision, actor_id, actor_side, comment_id, None)


@shared_task(name="goals.notifications.send_goal_email")  # type: ignore[untyped-decorator]
def send_goal_email(
    kind: str,
    goal_id: str,
    revision: int,
    actor_id: Any,
    actor_side: str,
    recipient_id: Any,
    comment_id: str | None = None,
    event: str = "",
) -> int:
    return _legacy_messages(kind, goal_id, revision, actor_id, actor_side, comment_id, [recipient_id])
