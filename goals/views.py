"""Browser views of goals on the joint plan page: the goal cards, editing terms in place, the
negotiation (propose, approve, request changes, withdraw, amend), commitments of both sides,
check-ins, comments, the goal detail page and deriving interim goals from an objective.

Every view is a ``PlanView``: access is resolved first and domain errors are mapped in one place.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alignment.access import Access
from alignment.models import Objective, PartnershipMember, Side
from alignment.web import OPEN_HEADER, InPlaceForm, PlanView
from core.errors import DomainError, InvalidInput, NotAllowed, NotFound, RuleViolation
from core.templatetags.formatting import format_quantity, side_word

from . import check_ins as goal_check_ins
from . import comments as goal_comments
from . import commitments as goal_commitments
from . import services
from .cards import CHECK_INS_SHOWN, GoalCard, goal_cards
from .derive import Suggestion, goals_derive, period_containing, suggest_interim_goals
from .forms import (
    CheckInForm,
    CloseForm,
    CommentForm,
    CommitAndApproveForm,
    CommitmentCreateForm,
    CommitmentForm,
    CorrectionForm,
    DeriveOptionsForm,
    DisputeForm,
    GoalCreateForm,
    GoalTermsForm,
    RequestChangesForm,
    SuggestionFormSet,
)
from .fragments import card_response, goal_list_response
from .models import Approval, CheckIn, Comment, Commitment, Goal, GoalRevision, GoalStatus, RevisionState
from .rules import committed_sides, completes_revision


def _goal(access: Access, gid: Any) -> Goal:
    goal = Goal.objects.filter(partnership=access.partnership, pk=gid).first()
    if goal is None:
        raise NotFound(gettext("No such goal."))
    return goal


# --- Goals ------------------------------------------------------------------------------------


class GoalNew(InPlaceForm):
    form_class = GoalCreateForm
    title = _("New goal")
    submit_label = _("Add goal")

    def objective(self) -> Objective:
        o = Objective.objects.filter(partnership=self.access.partnership, pk=self.kwargs["oid"]).first()
        if o is None:
            raise NotFound(gettext("No such objective."))
        return o

    def get_initial(self) -> dict[str, Any]:
        o = self.objective()
        start, end = period_containing(timezone.localdate(), "quarter")
        return {
            "metric_name": o.metric_name,
            "metric_unit": o.metric_unit,
            "baseline": o.baseline,
            "period_start": start,
            "period_end": end,
        }

    def fragment_id(self) -> str:
        return f"goal-new-{self.kwargs['oid']}"

    def cancel_url(self) -> str:
        return reverse("goal_new_button", args=[self.access.partnership.pk, self.kwargs["oid"]])

    def save(self) -> HttpResponse:
        services.goal_create(access=self.access, objective_id=self.objective().pk, **self.form.service_changes())
        return goal_list_response(self.request, self.access, self.kwargs["oid"])


class GoalNewButton(PlanView):
    def get(self, request: HttpRequest, pid: uuid.UUID, oid: uuid.UUID) -> HttpResponse:
        objective = Objective.objects.filter(partnership=self.access.partnership, pk=oid).first()
        if objective is None:
            raise NotFound(gettext("No such objective."))
        return render(
            request,
            "goals/_goal_new_button.html",
            {"access": self.access, "partnership": self.access.partnership, "objective": objective},
        )


class GoalEdit(InPlaceForm):
    form_class = GoalTermsForm
    title = _("Edit goal")

    def get_initial(self) -> dict[str, Any]:
        g = _goal(self.access, self.kwargs["gid"])
        return {name: getattr(g, name) for name in GoalTermsForm.conflict_fields} | {"version": g.version}

    def fragment_id(self) -> str:
        return f"goal-{self.kwargs['gid']}"

    def cancel_url(self) -> str:
        return reverse("plan_fragment", args=[self.access.partnership.pk, self.fragment_id()])

    def notice(self) -> str:
        return terms_notice(_goal(self.access, self.kwargs["gid"]))

    def save(self) -> HttpResponse:
        services.goal_update(
            access=self.access,
            goal_id=self.kwargs["gid"],
            expected_version=self.form.cleaned_data["version"],
            **self.form.service_changes(),
        )
        return card_response(self.request, self.access, self.kwargs["gid"])


class GoalAction(PlanView):
    """A one-button step of the negotiation; answers with the refreshed card."""

    def post(self, request: HttpRequest, pid: uuid.UUID, gid: uuid.UUID, action: str) -> HttpResponse:
        version = _int(request.POST.get("version"))
        revision = _int(request.POST.get("revision"))
        if action == "propose":
            services.goal_propose(access=self.access, goal_id=gid, expected_version=version)
        elif action == "approve":
            if revision is None:
                raise InvalidInput(gettext("Say which revision you approve."))
            services.goal_approve(access=self.access, goal_id=gid, revision=revision)
        elif action == "withdraw":
            services.goal_withdraw(access=self.access, goal_id=gid, expected_version=version)
        elif action == "discard-amendment":
            services.goal_discard_amendment(access=self.access, goal_id=gid, expected_version=version)
        else:
            raise NotFound(gettext("No such action."))
        return card_response(request, self.access, gid)

    def refusal_fragment(self, exc: DomainError) -> HttpResponse | None:
        # The card the button is on, with the reason beside its buttons.
        return card_response(self.request, self.access, self.kwargs["gid"], refusal=exc.message)


def terms_notice(goal: Goal) -> str:
    """What a change of a goal's terms (commitments included) does to its negotiation."""
    state = goal.negotiation_state
    if goal.status == GoalStatus.AGREED and not state:
        return gettext(
            "This goal is agreed: saving a change opens an amendment (revision %(next)s); the agreed "
            "terms stay in force until both sides approve it."
        ) % {"next": goal.revision + 1}
    if state == RevisionState.PROPOSED:
        return gettext(
            "Revision %(n)s is proposed: saving a change makes revision %(next)s, a draft to "
            "propose again, and approvals given to revision %(n)s no longer count."
        ) % {"n": goal.revision, "next": goal.revision + 1}
    return ""


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class GoalPanel(InPlaceForm):
    """A small form inside a goal card (request changes, check in, comment, add commitment)."""

    in_card = True

    def fragment_id(self) -> str:
        return f"goal-{self.kwargs['gid']}-panel"

    def cancel_url(self) -> str:
        return reverse("goal_panel_close", args=[self.access.partnership.pk, self.kwargs["gid"]])

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = super().dispatch(request, *args, **kwargs)
        if request.method == "POST" and response.status_code == 200:
            # Saved: the whole card comes back, in place of the card rather than of the panel.
            response["HX-Retarget"] = f"#goal-{kwargs['gid']}"
            response["HX-Reswap"] = "outerHTML"
        return response


class RequestChanges(GoalPanel):
    form_class = RequestChangesForm
    title = _("Request changes")
    submit_label = _("Send back for changes")

    def save(self) -> HttpResponse:
        goal = _goal(self.access, self.kwargs["gid"])
        services.goal_request_changes(
            access=self.access, goal_id=goal.pk, revision=goal.revision, comment=self.form.cleaned_data["comment"]
        )
        return card_response(self.request, self.access, goal.pk)


class CheckInNew(GoalPanel):
    form_class = CheckInForm
    title = _("Check in")
    submit_label = _("Save check-in")

    def save(self) -> HttpResponse:
        goal_check_ins.check_in_create(access=self.access, goal_id=self.kwargs["gid"], **self.form.cleaned_data)
        return card_response(self.request, self.access, self.kwargs["gid"])


def _check_in(access: Access, gid: Any, cid: Any) -> CheckIn:
    ci = CheckIn.objects.filter(goal__partnership=access.partnership, goal_id=gid, pk=cid).first()
    if ci is None:
        raise NotFound(gettext("No such check-in."))
    return ci


class CheckInConfirm(PlanView):
    """The other side confirms a figure (two-key actuals); answers with the refreshed card."""

    def post(self, request: HttpRequest, pid: uuid.UUID, gid: uuid.UUID, cid: uuid.UUID) -> HttpResponse:
        ci = _check_in(self.access, gid, cid)
        goal_check_ins.check_in_confirm(
            access=self.access, check_in_id=ci.pk, expected_version=_int(request.POST.get("version"))
        )
        return card_response(request, self.access, gid)

    def refusal_fragment(self, exc: DomainError) -> HttpResponse | None:
        return card_response(self.request, self.access, self.kwargs["gid"], refusal=exc.message)


class CheckInDispute(GoalPanel):
    """The other side disputes a figure: its own number and a note, in the card's panel."""

    form_class = DisputeForm
    title = _("Dispute the figure")
    submit_label = _("Dispute")

    def get_initial(self) -> dict[str, Any]:
        ci = _check_in(self.access, self.kwargs["gid"], self.kwargs["cid"])
        return {"version": ci.version}

    def notice(self) -> str:
        ci = _check_in(self.access, self.kwargs["gid"], self.kwargs["cid"])
        return gettext(
            "The %(side)s side entered %(value)s for %(date)s. Until both sides settle on one number, "
            "health and progress leave this figure out."
        ) % {
            "side": side_word(ci.side),
            "value": format_quantity(ci.value, ci.goal.metric_unit),
            "date": date_format(ci.measured_on, "j M Y"),
        }

    def save(self) -> HttpResponse:
        data = self.form.cleaned_data
        goal_check_ins.check_in_dispute(
            access=self.access,
            check_in_id=self.kwargs["cid"],
            value=data["value"],
            note=data["note"],
            expected_version=data["version"],
        )
        return card_response(self.request, self.access, self.kwargs["gid"])


class CheckInSettle(PlanView):
    """Either side settles a disputed figure on one of its two numbers."""

    def post(self, request: HttpRequest, pid: uuid.UUID, gid: uuid.UUID, cid: uuid.UUID) -> HttpResponse:
        ci = _check_in(self.access, gid, cid)
        goal_check_ins.check_in_settle(
            access=self.access,
            check_in_id=ci.pk,
            value=request.POST.get("value"),
            expected_version=_int(request.POST.get("version")),
        )
        return card_response(request, self.access, gid)

    def refusal_fragment(self, exc: DomainError) -> HttpResponse | None:
        return card_response(self.request, self.access, self.kwargs["gid"], refusal=exc.message)


class CheckInCorrect(GoalPanel):
    """A figure of a closed goal corrected after the close by the side that entered it: the value,
    the day and why, in the card's panel (``check_ins.check_in_update`` with ``correction``)."""

    form_class = CorrectionForm
    title = _("Correct the figure")
    submit_label = _("Save correction")

    def check_in(self) -> CheckIn:
        if not hasattr(self, "_check_in"):
            self._check_in = _check_in(self.access, self.kwargs["gid"], self.kwargs["cid"])
        return self._check_in

    def editable_check(self) -> None:
        self.access.require_edit("correct figures")
        ci = self.check_in()
        if ci.side != self.access.side:
            raise NotAllowed(
                gettext("The %(side)s side entered this figure; only that side corrects it.")
                % {"side": side_word(ci.side)},
                code="check_in.other_side",
            )
        refusal = goal_check_ins.correction_refusal(ci)
        if refusal is None:
            raise RuleViolation(
                gettext("This goal is open: a correction after the close is for the figures of a closed goal."),
                code="check_in.goal_open",
            )

    def get_initial(self) -> dict[str, Any]:
        ci = self.check_in()
        # The number as typed, not the column's scale ("8.9", not "8.9000").
        return {"value": f"{ci.value.normalize():f}", "measured_on": ci.measured_on, "version": ci.version}

    def notice(self) -> str:
        ci = self.check_in()
        which = gettext("The %(side)s side's figure of %(date)s: %(value)s.") % {
            "side": side_word(ci.side),
            "date": date_format(ci.measured_on, "j M Y"),
            "value": format_quantity(ci.value, ci.goal.metric_unit),
        }
        why = gettext(
            "This goal is %(status)s. The history shows a correction after the close with the value before "
            "and after, who made it and why; the %(other)s side confirms the corrected figure again."
        ) % {"status": ci.goal.get_status_display().lower(), "other": side_word(Side.other(ci.side))}
        return f"{which} {why}"

    def save(self) -> HttpResponse:
        data = self.form.cleaned_data
        goal_check_ins.check_in_update(
            access=self.access,
            check_in_id=self.check_in().pk,
            expected_version=data["version"],
            correction=True,
            reason=data["reason"],
            value=data["value"],
            measured_on=data["measured_on"],
        )
        return card_response(self.request, self.access, self.kwargs["gid"])


class GoalClose(GoalPanel):
    form_class = CloseForm
    title = _("Close the goal")
    submit_label = _("Close goal")

    def editable_check(self) -> None:
        self.access.require_approve("close goals")

    def get_initial(self) -> dict[str, Any]:
        return {"version": _goal(self.access, self.kwargs["gid"]).version}

    def save(self) -> HttpResponse:
        data = self.form.cleaned_data
        services.goal_close(
            access=self.access,
            goal_id=self.kwargs["gid"],
            outcome=data["outcome"],
            note=data["note"],
            expected_version=data["version"],
        )
        return card_response(self.request, self.access, self.kwargs["gid"])


class CommentNew(GoalPanel):
    form_class = CommentForm
    title = _("Comment")
    submit_label = _("Post comment")

    def editable_check(self) -> None:
        """Everyone on the plan, viewers included, may comment."""

    def save(self) -> HttpResponse:
        goal_comments.comment_create(
            access=self.access, goal_id=self.kwargs["gid"], body=self.form.cleaned_data["body"]
        )
        return card_response(self.request, self.access, self.kwargs["gid"])


def _members(access: Access) -> list[PartnershipMember]:
    return list(
        PartnershipMember.objects.filter(partnership=access.partnership)
        .select_related("user")
        .order_by("side", "user__full_name")
    )


class CommitmentNew(GoalPanel):
    form_class = CommitmentCreateForm
    title = _("Add a commitment")
    submit_label = _("Add commitment")

    def form_kwargs(self) -> dict[str, Any]:
        return {"members": _members(self.access)}

    def get_initial(self) -> dict[str, Any]:
        side = self.request.GET.get("side")
        return {"side": side if side in Side.values else self.access.side}

    def save(self) -> HttpResponse:
        data = self.form.service_changes()
        goal_commitments.commitment_create(access=self.access, goal_id=self.kwargs["gid"], **data)
        return card_response(self.request, self.access, self.kwargs["gid"])


class CommitmentEdit(GoalPanel):
    form_class = CommitmentForm
    title = _("Edit commitment")

    def commitment(self) -> Commitment:
        c = Commitment.objects.filter(
            goal__partnership=self.access.partnership, goal_id=self.kwargs["gid"], pk=self.kwargs["cid"]
        ).first()
        if c is None:
            raise NotFound(gettext("No such commitment."))
        return c

    def form_kwargs(self) -> dict[str, Any]:
        return {"members": _members(self.access)}

    def notice(self) -> str:
        c = self.commitment()
        goal = c.goal
        if c.placeholder and completes_revision(goal, c.side, committed_sides(goal.commitments.all())):
            return ""  # writing a missing commitment completes the proposed revision
        return terms_notice(goal)

    def get_initial(self) -> dict[str, Any]:
        c = self.commitment()
        return {
            "version": c.version,
            "side": c.side,
            "text": "" if c.placeholder else c.text,
            "owner": str(c.owner_id or ""),
            "due_date": c.due_date,
        }

    def save(self) -> HttpResponse:
        data = self.form.service_changes()
        version = self.form.cleaned_data["version"]
        goal_commitments.commitment_update(
            access=self.access, commitment_id=self.kwargs["cid"], expected_version=version, **data
        )
        return card_response(self.request, self.access, self.kwargs["gid"])


class CommitAndApprove(GoalPanel):
    """The one step of the side a proposed goal still lacks a commitment from: say what this side
    will do, and approve (``goals.services.goal_commit_and_approve``)."""

    form_class = CommitAndApproveForm
    title = _("Add our commitment and approve")
    submit_label = _("Commit and approve")

    def editable_check(self) -> None:
        self.access.require_approve("approve goals")

    def form_kwargs(self) -> dict[str, Any]:
        return {"members": [m for m in _members(self.access) if m.side == self.access.side]}

    def get_initial(self) -> dict[str, Any]:
        return {"revision": _goal(self.access, self.kwargs["gid"]).revision}

    def save(self) -> HttpResponse:
        services.goal_commit_and_approve(access=self.access, goal_id=self.kwargs["gid"], **self.form.service_kwargs())
        return card_response(self.request, self.access, self.kwargs["gid"])


class CommitmentDone(PlanView):
    def post(self, request: HttpRequest, pid: uuid.UUID, gid: uuid.UUID, cid: uuid.UUID) -> HttpResponse:
        c = Commitment.objects.filter(goal__partnership=self.access.partnership, goal_id=gid, pk=cid).first()
        if c is None:
            raise NotFound(gettext("No such commitment."))
        goal_commitments.commitment_update(
            access=self.access,
            commitment_id=cid,
            expected_version=_int(request.POST.get("version")),
            done=request.POST.get("done") == "1",
        )
        return card_response(request, self.access, gid)

    def refusal_fragment(self, exc: DomainError) -> HttpResponse | None:
        return card_response(self.request, self.access, self.kwargs["gid"], refusal=exc.message)


class PanelClose(PlanView):
    def get(self, request: HttpRequest, pid: uuid.UUID, gid: uuid.UUID) -> HttpResponse:
        return HttpResponse(f'<div id="goal-{gid}-panel" class="panel"></div>')


class GoalCardView(PlanView):
    def get(self, request: HttpRequest, pid: uuid.UUID, gid: uuid.UUID) -> HttpResponse:
        return card_response(request, self.access, gid)


def _detailed_card(access: Access, gid: Any, check_ins: int | None = CHECK_INS_SHOWN) -> GoalCard:
    cards = goal_cards(access, goal_ids=[gid], detailed=True, check_ins=check_ins)
    if not cards:
        raise NotFound(gettext("No such goal."))
    return cards[0]


class GoalDetails(PlanView):
    """What an opened goal card shows below its summary: commitments, check-ins, comments and the
    rarer steps (loaded when the card is opened; refreshed with the card while it stays open)."""

    def get(self, request: HttpRequest, pid: uuid.UUID, gid: uuid.UUID) -> HttpResponse:
        return render(
            request,
            "goals/_goal_details.html",
            {"access": self.access, "partnership": self.access.partnership, "card": _detailed_card(self.access, gid)},
        )


class ClosedGoals(PlanView):
    """The cards of an objective's closed goals, loaded when their section of the plan is opened."""

    def get(self, request: HttpRequest, pid: uuid.UUID, oid: uuid.UUID) -> HttpResponse:
        objective = Objective.objects.filter(partnership=self.access.partnership, pk=oid).first()
        if objective is None:
            raise NotFound(gettext("No such objective."))
        return render(
            request,
            "goals/_closed_goals.html",
            {
                "access": self.access,
                "partnership": self.access.partnership,
                "objective": objective,
                "cards": goal_cards(self.access, objective=objective, closed_only=True),
            },
        )


# --- Goal detail: the negotiation thread ------------------------------------------------------


def negotiation_thread(goal: Goal) -> list[dict[str, Any]]:
    """Revisions, approvals and comments in the order they happened (three queries)."""
    items: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for r in GoalRevision.objects.filter(goal=goal).select_related("proposed_by").order_by("number"):
        changes = []
        if previous is not None:
            changes = [
                {"field": k.replace("_", " "), "before": previous.get(k), "after": v}
                for k, v in r.terms.items()
                if previous.get(k) != v
            ]
        items.append(
            {"kind": "revision", "at": r.created_at, "revision": r, "changes": changes, "commitments": r.commitments}
        )
        previous = r.terms
    for a in Approval.objects.filter(goal=goal).select_related("user"):
        items.append({"kind": "approval", "at": a.created_at, "approval": a})
    for c in Comment.objects.filter(goal=goal).select_related("author"):
        items.append({"kind": "comment", "at": c.created_at, "comment": c})
    items.sort(key=lambda item: item["at"])
    return items


class GoalDetail(PlanView):
    def get(self, request: HttpRequest, pid: uuid.UUID, gid: uuid.UUID) -> HttpResponse:
        card = _detailed_card(self.access, gid, check_ins=None)  # the goal's own page lists every check-in
        return render(
            request,
            "goals/detail.html",
            {
                "access": self.access,
                "partnership": self.access.partnership,
                "card": card,
                "thread": negotiation_thread(card.goal),
            },
        )


# --- Deriving interim goals -------------------------------------------------------------------

CHART_W, CHART_H, PAD = 560, 180, 36


def trajectory_chart(objective: Objective, suggestions: list[Suggestion]) -> dict[str, Any]:
    """Coordinates of a small SVG line chart: the straight line from the baseline to the long-term
    target, and the suggested interim targets on it."""
    start = objective.baseline_date or timezone.localdate()
    end = objective.target_date or start
    first = min([start] + [s.period_start for s in suggestions])
    last = max([end] + [s.period_end for s in suggestions])
    span_days = max(1, (last - first).days)
    values = [
        v
        for v in (
            objective.baseline,
            objective.target,
            *(s.target for s in suggestions),
            *(s.baseline for s in suggestions),
        )
        if v is not None
    ]
    low, high = min(values), max(values)
    if high == low:
        high = low + 1

    def x(day: dt.date) -> float:
        return round(PAD + (CHART_W - 2 * PAD) * (day - first).days / span_days, 1)

    def y(value: Decimal) -> float:
        return round(CHART_H - PAD / 2 - (CHART_H - PAD) * float((value - low) / (high - low)), 1)

    points = [
        {"x": x(s.period_end), "y": y(s.target), "label": f"{s.target.normalize():f}", "date": s.period_end}
        for s in suggestions
    ]
    # Goals are derived only from an objective with a baseline and a target (``suggest_interim_goals``).
    assert objective.baseline is not None and objective.target is not None
    return {
        "width": CHART_W,
        "height": CHART_H,
        "line": {"x1": x(start), "y1": y(objective.baseline), "x2": x(end), "y2": y(objective.target)},
        "steps": " ".join(f"{x(s.period_start)},{y(s.baseline)} {x(s.period_end)},{y(s.target)}" for s in suggestions),
        "points": points,
        "low": f"{low.normalize():f}",
        "high": f"{high.normalize():f}",
        "axis_y": CHART_H - PAD / 2,
        "first": first,
        "last": last,
    }


class Derive(PlanView):
    """Show suggested interim goals for the coming periods on a chart, editable, then create them
    as drafts for both sides to agree."""

    def objective(self) -> Objective:
        o = Objective.objects.filter(partnership=self.access.partnership, pk=self.kwargs["oid"]).first()
        if o is None:
            raise NotFound(gettext("No such objective."))
        return o

    def ids(self) -> dict[str, Any]:
        """Field ids unique on the page (several objectives may derive at once)."""
        return {"auto_id": f"derive-{self.kwargs['oid']}-%s"}

    def render_derive(
        self, options: Any, formset: Any, suggestions: list[Suggestion], status: int = 200, error: str = ""
    ) -> HttpResponse:
        objective = self.objective()
        rows = list(zip(formset.forms, suggestions, strict=False))
        return render(
            self.request,
            "goals/_derive.html",
            {
                "access": self.access,
                "partnership": self.access.partnership,
                "objective": objective,
                "options": options,
                "formset": formset,
                "rows": rows,
                "error": error,
                "chart": trajectory_chart(objective, suggestions) if suggestions else None,
                "fragment_id": f"goal-new-{objective.pk}",
                "details_open": self.request.headers.get(OPEN_HEADER) == "true",
            },
            status=status,
        )

    def get(self, request: HttpRequest, pid: uuid.UUID, oid: uuid.UUID) -> HttpResponse:
        self.access.require_edit("derive goals")
        objective = self.objective()
        ids = self.ids()
        options = DeriveOptionsForm(request.GET if "length" in request.GET else None, **ids)
        # Without a count, the periods reach the objective's target date (``suggest_interim_goals``).
        length, count = "quarter", None
        if options.is_bound and options.is_valid():
            length, count = options.cleaned_data["length"], options.cleaned_data["count"]
        elif not options.is_bound:
            options = DeriveOptionsForm(initial={"length": length}, **ids)
        suggestions = [s for s in suggest_interim_goals(objective, length=length, count=count) if s.is_new]
        formset = SuggestionFormSet(
            **ids,
            initial=[
                {
                    "include": True,
                    "title": s.title,
                    "period_start": s.period_start,
                    "period_end": s.period_end,
                    "baseline": s.baseline,
                    "target": s.target,
                }
                for s in suggestions
            ],
        )
        error = "" if suggestions else gettext("Every one of these periods has a goal for this objective already.")
        return self.render_derive(options, formset, suggestions, error=error)

    def post(self, request: HttpRequest, pid: uuid.UUID, oid: uuid.UUID) -> HttpResponse:
        self.access.require_edit("derive goals")
        objective = self.objective()
        options = DeriveOptionsForm(initial={"length": "quarter"}, **self.ids())
        formset = SuggestionFormSet(data=request.POST, **self.ids())
        if not formset.is_valid():
            return self.render_derive(options, formset, self._from_forms(formset), status=400)
        chosen = [s for s, f in zip(self._from_forms(formset), formset.forms, strict=True) if f.cleaned_data["include"]]
        if not chosen:
            return self.render_derive(
                options,
                formset,
                self._from_forms(formset),
                status=400,
                error=gettext("Tick at least one period to create."),
            )
        template = suggest_interim_goals(objective, length="quarter", count=1)[0]
        for s in chosen:
            s.commitments = template.commitments
        goals_derive(access=self.access, objective_id=objective.pk, suggestions=chosen)
        return goal_list_response(request, self.access, objective.pk)

    @staticmethod
    def _from_forms(formset: Any) -> list[Suggestion]:
        result = []
        for f in formset.forms:
            data = getattr(f, "cleaned_data", None) or {}
            if not all(data.get(k) is not None for k in ("period_start", "period_end", "baseline", "target")):
                continue
            result.append(
                Suggestion(
                    period_start=data["period_start"],
                    period_end=data["period_end"],
                    baseline=data["baseline"],
                    target=data["target"],
                    title=data.get("title", ""),
                )
            )
        return result
