"""Goal cards of the joint plan page, loaded in bulk.

A plan of hundreds of goals is read card by card: each card shows the goal compactly (terms,
status, where each side stands, progress and what needs attention, the next steps as buttons) and
loads its details (commitments, check-ins, comments, the rarer actions) when it is opened. Closed
goals are counted per objective and loaded when their section is opened; so are the goal lists of
the objectives a large plan shows collapsed. Every function here runs
a fixed number of queries, whatever the number of goals, check-ins or comments.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext, pgettext

from alignment.access import Access
from alignment.models import Objective, Side
from core.errors import DomainError
from core.templatetags.formatting import side_word

from .check_ins import may_correct, may_review, may_settle
from .models import (
    CLOSED,
    Approval,
    CheckIn,
    CheckInReview,
    Comment,
    Commitment,
    Goal,
    GoalRevision,
    GoalStatus,
    RevisionState,
)
from .queries import latest_check_ins
from .rules import approval_refusal, commitment_overdue, committed_sides, edit_refusal

# Check-ins an opened card lists (the goal's own page lists them all).
CHECK_INS_SHOWN = 10
_PLACEHOLDER = uuid.UUID(int=0)
SIDES = tuple(Side.values)  # read per card: ``Side.values`` builds its list on every access


def both_sides(sides: list[str]) -> str:
    """One side, or both, as they go into "the … side": "vendor", "vendor and the partner"."""
    words = [side_word(s) for s in sides]
    if len(words) == 1:
        return words[0]
    return gettext("%(first)s and the %(second)s") % {"first": words[0], "second": words[1]}


@dataclass
class GoalCard:
    """A goal as the plan page shows it, with everything loaded in bulk.

    ``detailed`` cards also carry their commitments' owners, comments and check-ins; compact cards
    carry only what their summary needs (comments are counted, not loaded).
    """

    goal: Goal
    access: Access
    url: str = ""
    commitments: dict[str, list[Commitment]] = field(default_factory=dict)
    approved: dict[str, Approval] = field(default_factory=dict)
    latest: dict[str, Any] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)
    comment_count: int = 0
    refusal: str = ""  # why the action just tried on this card was refused, shown beside its buttons
    agreed_terms: dict[str, Any] | None = None
    detailed: bool = False
    check_ins: list[CheckIn] = field(default_factory=list)
    more_check_ins: bool = False
    today: dt.date | None = None
    # The rendered card from the cache, or the key to store it under (``goals.card_cache``).
    html: str = ""
    cache_key: str = ""

    @property
    def period_label(self) -> str:
        g = self.goal
        return f"{g.period_start:%-d %b %Y} – {g.period_end:%-d %b %Y}"

    @property
    def sides(self) -> list[dict[str, Any]]:
        return [
            {
                "side": s,
                "label": Side(s).label,
                "commitments": self.commitments.get(s, []),
                "real": self._real(s),
                "approval": self.approved.get(s),
                "latest": self.latest.get(s),
            }
            for s in SIDES
        ]

    def _real(self, side: str) -> list[Commitment]:
        return [c for c in self.commitments.get(side, []) if not c.placeholder and c.text.strip()]

    @property
    def check_in_rows(self) -> list[dict[str, Any]]:
        """The listed check-ins, each with what this person may do about it (two-key actuals, and
        a correction after the close)."""
        return [
            {
                "check_in": c,
                "can_review": may_review(self.access, c),
                "can_settle": may_settle(self.access, c),
                "can_correct": may_correct(self.access, c, self.goal),
            }
            for c in self.check_ins
        ]

    @property
    def newest_check_in(self) -> Any:
        values = [c for c in self.latest.values() if c]
        return max(values, key=lambda c: (c.measured_on, c.created_at), default=None)

    @property
    def progress(self) -> float | None:
        newest = self.newest_check_in
        return self.goal.progress(newest.value if newest else None)

    @property
    def progress_percent(self) -> int | None:
        p = self.progress
        return None if p is None else round(p * 100)

    @property
    def confidence_gap(self) -> int | None:
        v, p = self.latest.get("vendor"), self.latest.get("partner")
        return abs(v.confidence - p.confidence) if v and p else None

    @property
    def state(self) -> str:
        return self.goal.negotiation_state

    @property
    def closed(self) -> bool:
        return self.goal.status in CLOSED

    @property
    def can_edit(self) -> bool:
        return edit_refusal(self.access, self.goal) is None

    @property
    def can_propose(self) -> bool:
        return self.can_edit and self.state in (RevisionState.DRAFT, RevisionState.CHANGES_REQUESTED)

    @property
    def approval_refusal(self) -> DomainError | None:
        """Why this person may not approve the goal now (``goals.rules.approval_refusal``)."""
        return approval_refusal(self.access, self.goal, approved_sides=self.approved, committed=self._committed())

    @property
    def can_approve(self) -> bool:
        return self.approval_refusal is None

    @property
    def can_commit_and_approve(self) -> bool:
        """This person's side is the one whose commitment the proposed revision lacks: it adds
        what it will do and approves in one step (``goal_commit_and_approve``)."""
        refusal = self.approval_refusal
        return refusal is not None and refusal.code == "goal.commitment_missing"

    @property
    def approve_label(self) -> str:
        other = Side.other(self.access.side)
        if self.access.side in self.approved or other in self._committed():
            return gettext("Approve revision %(n)s") % {"n": self.goal.revision}
        return gettext("Approve revision %(n)s, subject to the %(other)s's commitment") % {
            "n": self.goal.revision,
            "other": side_word(other),
        }

    @property
    def commit_label(self) -> str:
        return gettext("Add the %(side)s's commitment and approve") % {"side": side_word(self.access.side)}

    def _committed(self) -> set[str]:
        return committed_sides([c for cs in self.commitments.values() for c in cs])

    @property
    def waiting_note(self) -> str:
        """What the goal waits for, in words, for a proposed revision ("" otherwise)."""
        if self.state != RevisionState.PROPOSED:
            return ""
        committed = self._committed()
        missing = [s for s in SIDES if s not in committed]
        waiting = [s for s in SIDES if s not in self.approved]
        if missing and waiting:
            return gettext(
                "Waiting for a commitment from the %(missing)s side and the approval of the %(waiting)s side."
            ) % {"missing": both_sides(missing), "waiting": both_sides(waiting)}
        if missing:
            return gettext("Waiting for a commitment from the %(missing)s side.") % {"missing": both_sides(missing)}
        if waiting:
            return gettext("Waiting for the approval of the %(waiting)s side.") % {"waiting": both_sides(waiting)}
        return ""

    @property
    def can_request_changes(self) -> bool:
        return self.can_edit and self.state == RevisionState.PROPOSED

    @property
    def can_withdraw(self) -> bool:
        return self.can_edit and self.goal.status in (
            GoalStatus.DRAFT,
            GoalStatus.PROPOSED,
            GoalStatus.CHANGES_REQUESTED,
        )

    @property
    def can_discard_amendment(self) -> bool:
        return self.can_edit and self.goal.has_pending_amendment

    @property
    def can_check_in(self) -> bool:
        return self.access.can_edit and self.goal.status == GoalStatus.AGREED

    @property
    def can_close(self) -> bool:
        return self.access.can_approve and self.goal.status == GoalStatus.AGREED and not self.goal.has_pending_amendment

    @property
    def missing_sides(self) -> list[str]:
        committed = self._committed()
        return [str(Side(s).label) for s in SIDES if s not in committed]

    @property
    def overdue_commitments(self) -> int:
        """Open commitments of an agreed goal past their due date."""
        if self.today is None:
            return 0
        return sum(
            1 for cs in self.commitments.values() for c in cs if commitment_overdue(c, self.goal.status, self.today)
        )

    @property
    def period_over(self) -> bool:
        """An agreed goal whose period has ended waits for its outcome."""
        return self.goal.status == GoalStatus.AGREED and self.today is not None and self.goal.period_end < self.today

    @property
    def summary_label(self) -> str:
        """What opening the card shows (the count of comments, which compact cards load)."""
        n = self.comment_count
        if not n:
            return gettext("Commitments, check-ins and comments")
        return ngettext(
            "Commitments, check-ins and comments · %(n)s comment",
            "Commitments, check-ins and comments · %(n)s comments",
            n,
        ) % {"n": n}

    @property
    def label(self) -> str:
        return pgettext("what someone is editing: Anna is editing …", "goal “%(title)s”") % {"title": self.goal.title}


def _goal_url(partnership_id: Any) -> str:
    """The address of a goal's page with a placeholder id: one ``reverse`` for all the cards."""
    return reverse("goal_detail", args=[partnership_id, _PLACEHOLDER])


def goal_cards(
    access: Access,
    *,
    objective: Objective | None = None,
    objective_ids: list[Any] | None = None,
    goal_ids: list[Any] | None = None,
    open_only: bool = False,
    closed_only: bool = False,
    detailed: bool = False,
    check_ins: int | None = CHECK_INS_SHOWN,
) -> list[GoalCard]:
    """Goal cards of the partnership (all, some objectives', or the given goals'), in six queries.

    ``detailed`` cards (one goal at a time: an opened card, the goal's page) take seven and list
    the newest ``check_ins`` check-ins (None: all of them)."""
    qs = Goal.objects.filter(partnership=access.partnership)
    if objective is not None:
        qs = qs.filter(objective=objective)
    if objective_ids is not None:
        qs = qs.filter(objective_id__in=objective_ids)
    if goal_ids is not None:
        qs = qs.filter(pk__in=goal_ids)
    if open_only:
        qs = qs.exclude(status__in=CLOSED)
    if closed_only:
        qs = qs.filter(status__in=CLOSED)
    commitments = Commitment.objects.order_by("position", "created_at")
    if detailed:
        commitments = commitments.select_related("owner", "drafted_by")
    # By period (start, then end, so goals of one period stay together under its heading).
    qs = qs.order_by("period_start", "period_end", "created_at")
    # A disputed figure counts nowhere until the sides settle: the card says one waits.
    disputed = CheckIn.objects.filter(goal=OuterRef("pk"), review=CheckInReview.DISPUTED)
    qs = qs.annotate(has_disputed_figure=Exists(disputed))
    goals = list(qs.prefetch_related(Prefetch("commitments", commitments)))
    if not goals:
        return []
    ids = [g.pk for g in goals]
    approvals: dict[Any, dict[str, Approval]] = defaultdict(dict)
    for a in Approval.objects.filter(goal_id__in=ids, revision=F("goal__revision")).select_related("user"):
        approvals[a.goal_id][a.side] = a
    latest = latest_check_ins(ids)
    # Looked up by a goal's agreed revision, which is None until a revision is agreed.
    agreed: dict[tuple[uuid.UUID, int | None], Any] = {
        (r.goal_id, r.number): r.terms
        for r in GoalRevision.objects.filter(goal_id__in=ids)
        .only("goal_id", "number", "terms")
        .filter(goal__amendment__in=["draft", "proposed", "changes_requested"])
    }
    comments: dict[Any, list[Comment]] = defaultdict(list)
    if detailed:
        for c in Comment.objects.filter(goal_id__in=ids).select_related("author").order_by("created_at"):
            comments[c.goal_id].append(c)
        comment_counts = {gid: len(cs) for gid, cs in comments.items()}
    else:
        comment_counts = dict(
            Comment.objects.filter(goal_id__in=ids).values_list("goal_id").annotate(n=Count("id")).order_by()
        )
    listed: dict[Any, list[CheckIn]] = defaultdict(list)
    if detailed:
        # Details open one card at a time: the newest check-ins of that goal (one more than shown,
        # to know whether there are older ones), in one query.
        rows = (
            CheckIn.objects.filter(goal_id__in=ids)
            .select_related("author", "reviewed_by")
            .order_by("-measured_on", "-created_at")
        )
        for check_in in rows[: check_ins + 1] if check_ins is not None and len(ids) == 1 else rows:
            listed[check_in.goal_id].append(check_in)
    url = _goal_url(access.partnership.pk)
    placeholder, today = str(_PLACEHOLDER), timezone.localdate()
    cards = []
    for g in goals:
        by_side: dict[str, list[Commitment]] = {s: [] for s in SIDES}
        for commitment in g.commitments.all():
            by_side[commitment.side].append(commitment)
        shown = listed.get(g.pk, [])
        cards.append(
            GoalCard(
                goal=g,
                access=access,
                url=url.replace(placeholder, str(g.pk)),
                commitments=by_side,
                approved=approvals.get(g.pk, {}),
                latest={s: latest.get((g.pk, s)) for s in SIDES},
                comments=comments.get(g.pk, []),
                comment_count=comment_counts.get(g.pk, 0),
                agreed_terms=agreed.get((g.pk, g.agreed_revision)) if g.has_pending_amendment else None,
                detailed=detailed,
                check_ins=shown if check_ins is None else shown[:check_ins],
                more_check_ins=check_ins is not None and len(shown) > check_ins,
                today=today,
            )
        )
    return cards


@dataclass(frozen=True)
class GoalCounts:
    """What a collapsed goal list says it holds."""

    open: int = 0
    closed: int = 0
    proposed: int = 0  # open goals (or amendments) waiting for approvals


def goal_counts(access: Access, objective: Objective | None = None) -> dict[Any, GoalCounts]:
    """The goal counts of each objective, in one query."""
    qs = Goal.objects.filter(partnership=access.partnership)
    if objective is not None:
        qs = qs.filter(objective=objective)
    closed = Q(status__in=CLOSED)
    proposed = Q(status=GoalStatus.PROPOSED) | Q(status=GoalStatus.AGREED, amendment=RevisionState.PROPOSED)
    rows = (
        qs.values_list("objective_id")
        .annotate(
            open=Count("id", filter=~closed),
            closed=Count("id", filter=closed),
            proposed=Count("id", filter=proposed),
        )
        .order_by()
    )
    return {oid: GoalCounts(n_open, n_closed, n_proposed) for oid, n_open, n_closed, n_proposed in rows}


def goal_list_context(access: Access, objective: Objective, counts: Any, cards: list[Any] | None) -> dict[str, Any]:
    """An objective's goal list: open with its cards, or collapsed (``cards`` None) with its counts
    (a ``goals.cards.GoalCounts``, None for an objective without goals)."""
    pid = access.partnership.pk
    return {
        "objective": objective,
        "cards": cards or [],
        "loaded": cards is not None,
        "counts": counts,
        "list_url": reverse("plan_fragment", args=[pid, f"goals-of-{objective.pk}"]),
        "closed_url": reverse("goals_closed", args=[pid, objective.pk]) if counts and counts.closed else "",
    }
