"""The review queue of one side, the readable difference between two revisions of a goal, and the
negotiation thread of a goal. Reads only; changes go through ``goals.services``.

A goal waits for a side by the rule of ``goals.rules.waits_for``: its revision under negotiation is
proposed and that side has not approved it yet, or changes were requested on a revision that side
proposed (it is theirs to revise).

"What changed since the last revision they saw" compares the current terms with the latest earlier
revision the side proposed or approved (the one they knew and stood behind); without one, with
the revision just before; a goal never proposed before shows no difference.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alignment.access import Access
from alignment.models import PartnershipMember, Side, Vision, VisionEndorsement
from core.errors import DomainError
from core.templatetags.formatting import as_decimal, format_number, format_when, side_word

from .models import TERM_FIELDS, Approval, Comment, Commitment, Goal, GoalRevision, GoalStatus, RevisionState
from .rules import NEGOTIATING, approval_refusal, committed_sides, waits_for

TERM_LABELS = {
    "title": _("Title"),
    "description": _("Description"),
    "period_start": _("Period start"),
    "period_end": _("Period end"),
    "metric_name": _("Metric"),
    "metric_unit": _("Unit"),
    "baseline": _("Baseline"),
    "target": _("Target"),
    "direction": _("Direction"),
}


def _show(name: str, value: Any) -> str:
    if value in (None, ""):
        return "—"
    if name in ("baseline", "target"):
        return format_number(value) if as_decimal(value) is not None else str(value)
    if name in ("period_start", "period_end"):
        try:
            return format_when(dt.date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    return str(value)


@dataclass(frozen=True)
class Change:
    """One readable line of a diff: ``kind`` is term, added, removed or changed."""

    kind: str
    text: str
    side: str = ""


def diff_terms(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    for name in TERM_FIELDS:
        before, after = old.get(name), new.get(name)
        if _show(name, before) != _show(name, after):
            if name == "description":
                changes.append(Change("term", gettext("Description rewritten")))
            else:
                changes.append(Change("term", f"{TERM_LABELS[name]} {_show(name, before)} → {_show(name, after)}"))
    return changes


def diff_commitments(
    old: list[dict[str, Any]], new: list[dict[str, Any]], people: dict[Any, str] | None = None
) -> list[Change]:
    """Commitments added, removed or changed (matched by id; placeholders count as empty slots)."""
    people = people or {}
    before = {c["id"]: c for c in old}
    after = {c["id"]: c for c in new}
    changes = []
    for cid, c in after.items():
        side, label = Side(c["side"]).label, side_word(c["side"])
        if cid not in before:
            text = gettext("%(side)s commitment added: “%(text)s”") % {"side": side, "text": c["text"]}
            changes.append(Change("added", text, c["side"]))
            continue
        was = before[cid]
        if was["text"] != c["text"]:
            changes.append(
                Change(
                    "changed",
                    gettext("%(side)s commitment “%(before)s” → “%(after)s”")
                    % {"side": side, "before": was["text"], "after": c["text"]},
                    c["side"],
                )
            )
        if was.get("due_date") != c.get("due_date"):
            was_due, now_due = _show("period_end", was.get("due_date")), _show("period_end", c.get("due_date"))
            changes.append(
                Change(
                    "changed",
                    gettext("Due date of the %(side)s commitment “%(text)s” %(before)s → %(after)s")
                    % {"side": label, "text": c["text"], "before": was_due, "after": now_due},
                    c["side"],
                )
            )
        if was.get("owner") != c.get("owner"):
            changes.append(
                Change(
                    "changed",
                    gettext("Owner of the %(side)s commitment “%(text)s” %(before)s → %(after)s")
                    % {
                        "side": label,
                        "text": c["text"],
                        "before": people.get(was.get("owner"), "—"),
                        "after": people.get(c.get("owner"), "—"),
                    },
                    c["side"],
                )
            )
    for cid, c in before.items():
        if cid not in after:
            text = gettext("%(side)s commitment removed: “%(text)s”") % {
                "side": Side(c["side"]).label,
                "text": c["text"],
            }
            changes.append(Change("removed", text, c["side"]))
    return changes


def diff_revisions(
    old: tuple[dict[str, Any], list[dict[str, Any]]],
    new: tuple[dict[str, Any], list[dict[str, Any]]],
    people: dict[Any, str] | None = None,
) -> list[Change]:
    """A readable diff of two snapshots ``(terms, commitments)``: "Target 200 → 250", commitments
    added, removed or changed."""
    return diff_terms(old[0], new[0]) + diff_commitments(old[1], new[1], people)


@dataclass
class ThreadEntry:
    at: dt.datetime
    kind: str  # revision, approval, comment, change_request
    side: str
    who: str
    revision: int
    text: str = ""


@dataclass
class ReviewItem:
    goal: Goal
    action: str  # "approve" (decide on a proposal) or "revise" (changes were requested of this side)
    compared_with: int | None
    changes: list[Change]
    approved_sides: set[str]
    commitments: dict[str, list[Commitment]]
    thread: list[ThreadEntry] = field(default_factory=list)
    change_requests: list[Comment] = field(default_factory=list)
    access: Access | None = None  # whose queue the item is in

    @property
    def commitment_groups(self) -> list[tuple[str, list[Commitment]]]:
        return [(str(Side(side).label), self.commitments.get(side, [])) for side in Side.values]

    @property
    def committed(self) -> set[str]:
        return committed_sides([c for cs in self.commitments.values() for c in cs])

    @property
    def approval_refusal(self) -> DomainError | None:
        """Why the person may not approve this revision now (``goals.rules.approval_refusal``)."""
        if self.access is None:
            return None
        return approval_refusal(self.access, self.goal, approved_sides=self.approved_sides, committed=self.committed)

    @property
    def can_approve(self) -> bool:
        return self.access is not None and self.approval_refusal is None

    @property
    def can_commit_and_approve(self) -> bool:
        refusal = self.approval_refusal
        return refusal is not None and refusal.code == "goal.commitment_missing"

    @property
    def approve_label(self) -> str:
        assert self.access is not None
        other = Side.other(self.access.side)
        if other in self.committed:
            return gettext("Approve revision %(n)s") % {"n": self.goal.revision}
        return gettext("Approve revision %(n)s, subject to the %(other)s's commitment") % {
            "n": self.goal.revision,
            "other": side_word(other),
        }

    @property
    def requested_by_side(self) -> str:
        """The side that asked for the changes now requested ("" when none were)."""
        return self.change_requests[-1].side if self.change_requests else ""

    @property
    def is_amendment(self) -> bool:
        return self.goal.status == GoalStatus.AGREED


def _name(user: Any) -> str:
    return user.display_name if user is not None else gettext("someone")


def negotiation_thread(goal: Goal) -> list[ThreadEntry]:
    """Revisions proposed, approvals given and comments, oldest first (uses prefetched relations)."""
    entries = [
        ThreadEntry(
            r.created_at,
            "revision",
            r.proposed_by_side,
            _name(r.proposed_by),
            r.number,
            gettext("proposed revision %(n)s") % {"n": r.number},
        )
        for r in goal.revisions.all()
    ]
    entries += [
        ThreadEntry(
            a.created_at,
            "approval",
            a.side,
            _name(a.user),
            a.revision,
            gettext("approved revision %(n)s for the %(side)s side") % {"n": a.revision, "side": side_word(a.side)},
        )
        for a in goal.approvals.all()
    ]
    entries += [
        ThreadEntry(c.created_at, str(c.kind), c.side, _name(c.author), c.revision, c.body) for c in goal.comments.all()
    ]
    return sorted(entries, key=lambda e: e.at)


def goals_with_negotiation(qs: Any) -> Any:
    """A goal queryset with everything a review item or thread shows, in a constant number of queries."""
    return qs.select_related("objective", "created_by").prefetch_related(
        Prefetch(
            "commitments",
            queryset=Commitment.objects.select_related("owner").order_by("side", "position", "created_at"),
        ),
        Prefetch("revisions", queryset=GoalRevision.objects.select_related("proposed_by").order_by("number")),
        Prefetch("approvals", queryset=Approval.objects.select_related("user").order_by("created_at")),
        Prefetch("comments", queryset=Comment.objects.select_related("author").order_by("created_at")),
    )


def _baseline_revision(goal: Goal, side: str) -> GoalRevision | None:
    earlier = [r for r in goal.revisions.all() if r.number < goal.revision]
    if not earlier:
        return None
    acted = {a.revision for a in goal.approvals.all() if a.side == side}
    acted |= {r.number for r in earlier if r.proposed_by_side == side}
    known = [r for r in earlier if r.number in acted]
    return (known or earlier)[-1]


def review_item(goal: Goal, side: str, people: dict[Any, str], access: Access | None = None) -> ReviewItem:
    current_terms = goal.terms()
    current_commitments = [c.terms() for c in goal.commitments.all()]
    base = _baseline_revision(goal, side)
    changes = (
        diff_revisions((base.terms, base.commitments), (current_terms, current_commitments), people) if base else []
    )
    approved = {a.side for a in goal.approvals.all() if a.revision == goal.revision}
    state = goal.negotiation_state
    by_side: dict[str, list[Commitment]] = {Side.VENDOR: [], Side.PARTNER: []}
    for c in goal.commitments.all():
        by_side[c.side].append(c)
    requests = [c for c in goal.comments.all() if c.kind == Comment.Kind.CHANGE_REQUEST and c.revision == goal.revision]
    return ReviewItem(
        goal=goal,
        action="revise" if state == RevisionState.CHANGES_REQUESTED else "approve",
        compared_with=base.number if base else None,
        changes=changes,
        approved_sides=approved,
        commitments=by_side,
        thread=negotiation_thread(goal),
        change_requests=requests,
        access=access,
    )


def member_names(access: Access) -> dict[Any, str]:
    return {
        m.user_id: m.user.display_name
        for m in PartnershipMember.objects.filter(partnership=access.partnership).select_related("user")
    }


@dataclass
class ReviewQueue:
    access: Access
    vision: Vision | None
    items: list[ReviewItem]  # waiting for the caller's side
    theirs: list[ReviewItem]  # waiting for the other side
    recently_agreed: list[Goal]
    endorsed_sides: set[str] = field(default_factory=set)  # of the vision's current revision

    @property
    def vision_complete(self) -> bool:
        v = self.vision
        return bool(v and v.complete)

    @property
    def can_endorse_vision(self) -> bool:
        """Offered where the partner lands: the vision is written and this side has not endorsed it."""
        return self.vision_complete and self.access.can_approve and self.access.side not in self.endorsed_sides


RECENT_DAYS = 14


def review_queue(access: Access, *, now: dt.datetime | None = None) -> ReviewQueue:
    """The goals waiting for the caller's side (oldest proposal first), those waiting for the
    other side, and the goals agreed lately, with the vision they serve.

    A constant number of queries whatever the number of goals."""
    side = access.side
    goals = goals_with_negotiation(Goal.objects.filter(partnership=access.partnership).filter(NEGOTIATING)).order_by(
        "proposed_at", "created_at"
    )
    people = member_names(access)
    mine: list[ReviewItem] = []
    theirs: list[ReviewItem] = []
    for goal in goals:
        item = review_item(goal, side, people, access)
        (mine if waits_for(goal, side, item.approved_sides) else theirs).append(item)
    since = (now or timezone.now()) - dt.timedelta(days=RECENT_DAYS)
    recent = list(
        Goal.objects.filter(
            partnership=access.partnership, status=GoalStatus.AGREED, amendment="", agreed_at__gte=since
        )
        .select_related("objective")
        .order_by("-agreed_at")
    )
    vision = Vision.objects.filter(partnership=access.partnership).first()
    endorsed = (
        set(VisionEndorsement.objects.filter(vision=vision, revision=vision.revision).values_list("side", flat=True))
        if vision
        else set()
    )
    return ReviewQueue(
        access=access, vision=vision, items=mine, theirs=theirs, recently_agreed=recent, endorsed_sides=endorsed
    )


def goal_thread(access: Access, goal_id: Any) -> ReviewItem | None:
    """One goal of the partnership with its negotiation thread (None when not there)."""
    goal = goals_with_negotiation(Goal.objects.filter(partnership=access.partnership, pk=goal_id)).first()
    if goal is None:
        return None
    return review_item(goal, access.side, member_names(access), access)
