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
from django.views.decorators.http import require_GET, require_POST

from alignment.access import Access, resolve
from alignment.models import Objective, Side
from alignment.services import vision_endorse
from core.errors import DomainError, InvalidInput, NotFound
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
    text = forms.CharField(label="What your side will do", max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    due_date = forms.DateField(
        label="Done by (optional)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class EndorseForm(forms.Form):
    revision = forms.IntegerField(min_value=1, max_value=1_000_000)


class RequestChangesForm(forms.Form):
    revision = forms.IntegerField(min_value=1, max_value=1_000_000)
    comment = forms.CharField(label="What should change?", max_length=10000, widget=forms.Textarea(attrs={"rows": 3}))


class CounterForm(forms.Form):
    """Edit the target and the commitments, then propose the result as a new revision."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    target = forms.DecimalField(label="Target", max_digits=18, decimal_places=4)
    new_commitment_side = forms.ChoiceField(label="Side of the new commitment", choices=Side.choices, required=False)
    new_commitment = forms.CharField(
        label="Add a commitment", max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    approve = forms.BooleanField(label="Approve it for my side too", required=False)

    def __init__(self, *args: Any, goal: Goal, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.goal = goal
        self.commitment_fields: list[tuple[Commitment, str]] = []
        for c in goal.commitments.all():
            name = f"commitment-{c.pk}"
            self.fields[name] = forms.CharField(
                label=f"{Side(c.side).label} commitment (empty to remove)",
                max_length=5000,
                required=False,
                initial=c.text,
                widget=forms.Textarea(attrs={"rows": 2}),
            )
            self.commitment_fields.append((c, name))

    def commitment_rows(self) -> list[tuple[Commitment, str, str]]:
        return [(c, name, self[name].value() or "") for c, name in self.commitment_fields]


class ProposeGoalForm(forms.Form):
    objective = forms.ModelChoiceField(queryset=Objective.objects.none(), label="Objective it serves")
    title = forms.CharField(max_length=200)
    description = forms.CharField(max_length=10000, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    period_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    metric_name = forms.CharField(label="Metric", max_length=120)
    metric_unit = forms.CharField(label="Unit", max_length=40, required=False)
    baseline = forms.DecimalField(max_digits=18, decimal_places=4)
    target = forms.DecimalField(max_digits=18, decimal_places=4)
    direction = forms.ChoiceField(choices=Direction.choices, initial=Direction.INCREASE)
    own_commitment = forms.CharField(
        label="What your side will do", max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    other_commitment = forms.CharField(
        label="What you ask of the other side (optional)",
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    approve = forms.BooleanField(label="Approve it for my side too", required=False)

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
        raise NotFound("No such goal.")
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
    error = InvalidInput(f"Please correct: {text}", fields=problems)
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
        f"“{goal.title}” is agreed by both sides."
        if agreed
        else f"You approved “{goal.title}” for the {access.side} side; it now waits for the other side.",
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
        f"You committed and approved: “{goal.title}” is agreed by both sides."
        if agreed
        else f"You committed and approved “{goal.title}” for the {access.side} side; it now waits for the "
        f"{access.other_side} side.",
    )
    return redirect(_queue_url(access))


@_action
def endorse_vision(request: HttpRequest, access: Access, goal_id: Any = None) -> HttpResponse:
    form = EndorseForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    vision_endorse(access=access, revision=form.cleaned_data["revision"])
    messages.success(request, f"You endorsed the shared vision for the {access.side} side.")
    return redirect(_queue_url(access))


@_action
def request_changes(request: HttpRequest, access: Access, goal_id: Any) -> HttpResponse:
    form = RequestChangesForm(request.POST)
    if not form.is_valid():
        raise _invalid(form)
    note = goals.goal_request_changes(
        access=access, goal_id=goal_id, comment=form.cleaned_data["comment"], revision=form.cleaned_data["revision"]
    )
    messages.success(request, f"Your change request on “{note.goal.title}” was sent to the other side.")
    return redirect(_queue_url(access))


@_action
def counter_propose(request: HttpRequest, access: Access, goal_id: Any) -> HttpResponse:
    goal = Goal.objects.filter(partnership=access.partnership, pk=goal_id).prefetch_related("commitments").first()
    if goal is None:
        raise NotFound("No such goal.")
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
        error = InvalidInput("Change the target or a commitment to make a counter-proposal.")
        error.render_kwargs = {"forms_by_goal": {str(goal.pk): form}}  # type: ignore[attr-defined]
        raise error
    goal = goals.goal_propose(access=access, goal_id=goal.pk)
    if data.get("approve") and access.can_approve:
        goals.goal_approve(access=access, goal_id=goal.pk, revision=goal.revision)
    messages.success(request, f"Revision {goal.revision} of “{goal.title}” was proposed to the other side.")
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
    messages.success(request, f"“{goal.title}” was proposed to the other side.")
    return redirect(_queue_url(access))
