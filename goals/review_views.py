"""The review queue in the browser: what waits for your side, and the actions on it (approve,
request changes, counter-propose, propose a goal of your own). Every action is a goal service
call; the other side is told by e-mail after commit (``goals.notifications``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from alignment.access import Access, resolve
from alignment.models import Objective, Side
from alignment.services import vision_endorse
from core.errors import DomainError, InvalidInput, NotFound
from core.templatetags.formatting import side_word
from core.web import domain_errors, login_url, refused

from . import commitments as goal_commitments
from . import services as goals
from .models import Commitment, Direction, Goal, RevisionState
from .review import goal_thread, review_queue


def _queue_url(access: Access) -> str:
    return reverse("goal-review-queue", args=[access.partnership.pk])


class ApproveForm(forms.Form):
    revision = forms.IntegerField(min_value=1, max_value=1_000_000)


class CommitAndApproveForm(forms.Form):
    """The side a proposed goal lacks a commitment from: what it will do, given as it approves."""

    revision = forms.IntegerField(min_value=1, max_value=1_000_000)
    text = forms.CharField(label=_("What your side will do"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    due_date = forms.DateField(
        label=_("Done by (optional)"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )


class EndorseForm(forms.Form):
    revision = forms.IntegerField(min_value=1, max_value=1_000_000)


class RequestChangesForm(forms.Form):
    revision = forms.IntegerField(min_value=1, max_value=1_000_000)
    comment = forms.CharField(
        label=_("What should change?"), max_length=10000, widget=forms.Textarea(attrs={"rows": 3})
    )


class CounterForm(forms.Form):
    """Edit the target and the commitments, then propose the result as a new revision."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    target = forms.DecimalField(label=_("Target"), max_digits=18, decimal_places=4)
    new_commitment_side = forms.ChoiceField(label=_("Side of the new commitment"), choices=Side.choices, required=False)
    new_commitment = forms.CharField(
        label=_("Add a commitment"), max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    approve = forms.BooleanField(label=_("Approve it for my side too"), required=False)

    def __init__(self, *args: Any, goal: Goal, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.goal = goal
        self.commitment_fields: list[tuple[Commitment, str]] = []
        for c in goal.commitments.all():
            name = f"commitment-{c.pk}"
            self.fields[name] = forms.CharField(
                label=gettext("%(side)s commitment (empty to remove)") % {"side": Side(c.side).label},
                max_length=5000,
                required=False,
                initial=c.text,
                widget=forms.Textarea(attrs={"rows": 2}),
            )
            self.commitment_fields.append((c, name))

    def commitment_rows(self) -> list[tuple[Commitment, str, str]]:
        return [(c, name, self[name].value() or "") for c, name in self.commitment_fields]


class ProposeGoalForm(forms.Form):
    objective = forms.ModelChoiceField(queryset=Objective.objects.none(), label=_("Objective it serves"))
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(
        label=_("Description"), max_length=10000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    period_start = forms.DateField(
        label=_("Period start"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    period_end = forms.DateField(
        label=_("Period end"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    metric_name = forms.CharField(label=_("Metric"), max_length=120)
    metric_unit = forms.CharField(label=_("Unit"), max_length=40, required=False)
    baseline = forms.DecimalField(label=_("Baseline"), max_digits=18, decimal_places=4)
    target = forms.DecimalField(label=_("Target"), max_digits=18, decimal_places=4)
    direction = forms.ChoiceField(label=_("Direction"), choices=Direction.choices, initial=Direction.INCREASE)
    own_commitment = forms.CharField(
        label=_("What your side will do"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    other_commitment = forms.CharField(
        label=_("What you ask of the other side (optional)"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    approve = forms.BooleanField(label=_("Approve it for my side too"), required=False)

    def __init__(self, *args: Any, access: Access, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["objective"].queryset = Objective.objects.filter(  # type: ignore[attr-defined]
            partnership=access.partnership, status=Objective.Status.ACTIVE
        )


def _require_signed_in(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return redirect(login_url(request.get_full_path()))
    return None


def _render_queue(
    request: HttpRequest,
    access: Access,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    forms_by_goal: dict[str, Any] | None = None,
    commit_forms: dict[str, CommitAndApproveForm] | None = None,
    propose_form: ProposeGoalForm | None = None,
) -> HttpResponse:
    queue = review_queue(access)
    forms_by_goal = forms_by_goal or {}
    commit_forms = commit_forms or {}
    for item in queue.items + queue.theirs:
        key = str(item.goal.pk)
        item.commit_form = commit_forms.get(key) or CommitAndApproveForm(  # type: ignore[attr-defined]
            initial={"revision": item.goal.revision}, auto_id=f"commit-{key}-%s"
        )
        item.counter_form = forms_by_goal.get(key) or CounterForm(  # type: ignore[attr-defined]
            goal=item.goal,
            initial={
                "version": item.goal.version,
                "target": item.goal.target,
                "new_commitment_side": access.side,
                "approve": access.can_approve,
            },
        )
        item.error = (errors or {}).get(key)  # type: ignore[attr-defined]
    return render(
        request,
        "goals/review_queue.html",
        {
            "access": access,
            "partnership": access.partnership,
            "queue": queue,
            "propose_form": propose_form or ProposeGoalForm(access=access, initial={"approve": access.can_approve}),
            "page_error": (errors or {}).get("page"),
        },
        status=status,
    )


@domain_errors
@require_GET
def review_queue_page(request: HttpRequest, partnership_id: Any) -> HttpResponse:
    """Goals waiting for your side, each with its objective, the vision, metric and target, both
    sides' commitments and what changed since the revision your side last saw."""
    signed_out = _require_signed_in(request)
    if signed_out:
        return signed_out
    access = resolve(request.user, partnership_id)
    return _render_queue(request, access)


@domain_errors
@require_GET
def goal_thread_page(request: HttpRequest, partnership_id: Any, goal_id: Any) -> HttpResponse:
    """One goal's negotiation: revisions, who approved which, comments and change requests."""
    signed_out = _require_signed_in(request)
    if signed_out:
        return signed_out
    access = resolve(request.user, partnership_id)
    item = goal_thread(access, goal_id)
    if item is None:
        raise NotFound(gettext("No such goal."))
    return render(
        request,
        "goals/review_thread.html",
        {
            "access": access,
            "partnership": access.partnership,
            "item": item,
            "goal": item.goal,
        },
    )


def _action(view: Any) -> Any:
    """Shared frame of the goal actions: sign-in, access, one transaction, errors shown on the queue."""

    @domain_errors
    @require_POST
    def wrapper(request: HttpRequest, partnership_id: Any, goal_id: Any = None) -> HttpResponse:
        signed_out = _require_signed_in(request)
        if signed_out:
            return signed_out
        access = resolve(request.user, partnership_id)
        key = str(goal_id) if goal_id else "page"
        try:
            with transaction.atomic():
                result: HttpResponse = view(request, access, goal_id)
        except DomainError as error:
            if error.status == 404 or error.status == 403:
                return refused(request, error)
            return _render_queue(
                request, access, status=error.status, errors={key: error.message}, **getattr(error, "render_kwargs", {})
            )
        return result

    return wrapper


def _invalid(form: forms.Form, **render_kwargs: Any) -> InvalidInput:
    problems = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
    text = "; ".join(f"{'' if name == '__all__' else name + ': '}{' '.join(errs)}" for name, errs in problems.items())
    error = InvalidInput(gettext("Please correct: %(problems)s") % {"problems": text}, fields=problems)
    error.render_kwargs = render_kwargs  # type: ignore[attr-defined]
    return error


@_action
def approve_goal(request: HttpRequest, access: Access, goal_id: Any) -> HttpResponse:
    form = ApproveForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    goals.goal_approve(access=access, goal_id=goal_id, revision=form.cleaned_data["revision"])
    goal = Goal.objects.get(pk=goal_id)
    agreed = goal.agreed_revision == form.cleaned_data["revision"] and not goal.amendment
    messages.success(
        request,
        gettext("“%(title)s” is agreed by both sides.") % {"title": goal.title}
        if agreed
        else gettext("You approved “%(title)s” for the %(side)s side; it now waits for the other side.")
        % {"title": goal.title, "side": side_word(access.side)},
    )
    return redirect(_queue_url(access))


@_action
def commit_and_approve(request: HttpRequest, access: Access, goal_id: Any) -> HttpResponse:
    """The partner's (or the vendor's) one step: what our side will do, and our approval."""
    form = CommitAndApproveForm(request.POST, auto_id=f"commit-{goal_id}-%s")
    if not form.is_valid():
        raise _invalid(form, commit_forms={str(goal_id): form})
    data = form.cleaned_data
    try:
        goals.goal_commit_and_approve(
            access=access, goal_id=goal_id, revision=data["revision"], text=data["text"], due_date=data["due_date"]
        )
    except InvalidInput as error:
        error.render_kwargs = {"commit_forms": {str(goal_id): form}}  # type: ignore[attr-defined]
        raise
    goal = Goal.objects.get(pk=goal_id)
    agreed = goal.agreed_revision == data["revision"] and not goal.amendment
    messages.success(
        request,
        gettext("You committed and approved: “%(title)s” is agreed by both sides.") % {"title": goal.title}
        if agreed
        else gettext(
            "You committed and approved “%(title)s” for the %(side)s side; it now waits for the %(other)s side."
        )
        % {"title": goal.title, "side": side_word(access.side), "other": side_word(access.other_side)},
    )
    return redirect(_queue_url(access))


@_action
def endorse_vision(request: HttpRequest, access: Access, goal_id: Any = None) -> HttpResponse:
    form = EndorseForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    vision_endorse(access=access, revision=form.cleaned_data["revision"])
    messages.success(
        request, gettext("You endorsed the shared vision for the %(side)s side.") % {"side": side_word(access.side)}
    )
    return redirect(_queue_url(access))


@_action
def request_changes(request: HttpRequest, access: Access, goal_id: Any) -> HttpResponse:
    form = RequestChangesForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    note = goals.goal_request_changes(
        access=access, goal_id=goal_id, comment=form.cleaned_data["comment"], revision=form.cleaned_data["revision"]
    )
    messages.success(
        request, gettext("Your change request on “%(title)s” was sent to the other side.") % {"title": note.goal.title}
    )
    return redirect(_queue_url(access))


@_action
def counter_propose(request: HttpRequest, access: Access, goal_id: Any) -> HttpResponse:
    goal = Goal.objects.filter(partnership=access.partnership, pk=goal_id).prefetch_related("commitments").first()
    if goal is None:
        raise NotFound(gettext("No such goal."))
    form = CounterForm(request.POST, goal=goal)
    if not form.is_valid():
        raise _invalid(form, forms_by_goal={str(goal.pk): form})
    data = form.cleaned_data
    changed = False
    goals.goal_update(access=access, goal_id=goal.pk, expected_version=data["version"], target=data["target"])
    changed |= data["target"] != goal.target
    for c, name in form.commitment_fields:
        if name not in request.POST:
            continue  # not part of this form: left as it is (only an emptied field removes a commitment)
        text = (data.get(name) or "").strip()
        if text == c.text:
            continue
        changed = True
        if text:
            goal_commitments.commitment_update(access=access, commitment_id=c.pk, text=text)
        else:
            goal_commitments.commitment_delete(access=access, commitment_id=c.pk)
    if (data.get("new_commitment") or "").strip():
        changed = True
        goal_commitments.commitment_create(
            access=access,
            goal_id=goal.pk,
            side=data.get("new_commitment_side") or access.side,
            text=data["new_commitment"],
        )
    goal.refresh_from_db()
    if not changed and goal.negotiation_state == RevisionState.PROPOSED:
        error = InvalidInput(gettext("Change the target or a commitment to make a counter-proposal."))
        error.render_kwargs = {"forms_by_goal": {str(goal.pk): form}}  # type: ignore[attr-defined]
        raise error
    goal = goals.goal_propose(access=access, goal_id=goal.pk)
    if data.get("approve") and access.can_approve:
        goals.goal_approve(access=access, goal_id=goal.pk, revision=goal.revision)
    messages.success(
        request,
        gettext("Revision %(n)s of “%(title)s” was proposed to the other side.")
        % {"n": goal.revision, "title": goal.title},
    )
    return redirect(_queue_url(access))


@_action
def propose_goal(request: HttpRequest, access: Access, goal_id: Any = None) -> HttpResponse:
    form = ProposeGoalForm(request.POST, access=access)
    if not form.is_valid():
        raise _invalid(form, propose_form=form)
    data = form.cleaned_data
    commitments = [{"side": access.side, "text": data["own_commitment"]}]
    if (data.get("other_commitment") or "").strip():
        commitments.append({"side": access.other_side, "text": data["other_commitment"]})
    terms = {
        k: data[k]
        for k in (
            "title",
            "description",
            "period_start",
            "period_end",
            "metric_name",
            "metric_unit",
            "baseline",
            "target",
            "direction",
        )
    }
    try:
        goal = goals.goal_create(access=access, objective_id=data["objective"].pk, commitments=commitments, **terms)
    except InvalidInput as error:
        error.render_kwargs = {"propose_form": form}  # type: ignore[attr-defined]
        raise
    goal = goals.goal_propose(access=access, goal_id=goal.pk)
    if data.get("approve") and access.can_approve and (data.get("other_commitment") or "").strip():
        goals.goal_approve(access=access, goal_id=goal.pk, revision=goal.revision)
    messages.success(request, gettext("“%(title)s” was proposed to the other side.") % {"title": goal.title})
    return redirect(_queue_url(access))
