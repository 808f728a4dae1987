"""The pages of the action links in e-mails (``goals.actions``): ``/a/<token>/``.

GET shows the exact terms and the button and changes nothing (mail scanners prefetch links).
POST takes the action as the link's person and shows what happened (``/a/<token>/done/``). A
used, expired or stale link, or a person who lost access, gets a page saying so with a link to
the plan. No session is created: the person stays signed out."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods
from django_ratelimit.core import is_ratelimited

from alignment.access import Access
from alignment.models import Side
from core.errors import DomainError, NotAllowed, RateLimited
from core.web import refused

from . import actions
from .models import ActionLink

Action = ActionLink.Action
RATE = getattr(settings, "ACTION_LINK_RATE", "30/m")

TITLES = {
    "action_link.used": _("This link was used already"),
    "action_link.expired": _("This link has expired"),
    "action_link.stale_revision": _("The terms have changed since the e-mail"),
    "action_link.no_access": _("You no longer have access"),
    "action_link.other_person": _("This link is for someone else"),
}


class RequestChangesForm(forms.Form):
    comment = forms.CharField(
        label=_("What should change?"), max_length=10000, widget=forms.Textarea(attrs={"rows": 4})
    )


class CommitForm(forms.Form):
    text = forms.CharField(label=_("What your side will do"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    due_date = forms.DateField(
        label=_("Done by (optional)"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )


class FigureForm(forms.Form):
    """Confirm the figure, or dispute it with the person's number and why (both then required)."""

    decision = forms.ChoiceField(choices=[("confirm", _("Confirm")), ("dispute", _("Dispute"))])
    value = forms.DecimalField(label=_("Your side's number"), required=False, max_digits=18, decimal_places=4)
    note = forms.CharField(
        label=_("Why it differs"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") == "dispute":
            if data.get("value") is None and "value" not in self.errors:
                self.add_error("value", gettext("Give your side's number."))
            if not (data.get("note") or "").strip():
                self.add_error("note", gettext("Say why your side's number differs."))
        return data


FORMS: dict[str, type[forms.Form]] = {
    Action.REQUEST_CHANGES: RequestChangesForm,
    Action.COMMIT_AND_APPROVE: CommitForm,
    Action.CONFIRM_FIGURE: FigureForm,
}


def _rate_limited(request: HttpRequest) -> HttpResponse | None:
    if is_ratelimited(request, group="action-link", key="ip", rate=RATE, increment=True):
        return refused(
            request, RateLimited(gettext("Too many attempts from your network. Wait a minute and try again."))
        )
    return None


def _plan_url(link: ActionLink) -> str:
    if link.goal_id is not None:
        return reverse("goal-thread", args=[link.partnership_id, link.goal_id])
    return reverse("plan", args=[link.partnership_id])


def _invalid(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "actions/problem.html",
        {
            "title": gettext("This link does not work"),
            "message": gettext(
                "The link is not one Partnerplan sent, or it was cut short. Open the plan to act there."
            ),
        },
        status=404,
    )


def _problem(request: HttpRequest, link: ActionLink, error: DomainError) -> HttpResponse:
    title = TITLES.get(error.code or "", _("This cannot be done now") if error.status == 409 else _("Not allowed"))
    context = {"title": title, "message": error.message, "plan_url": _plan_url(link), "link": link}
    return render(request, "actions/problem.html", context, status=error.status)


def _other_person(request: HttpRequest, link: ActionLink) -> DomainError | None:
    """A link acts only as its own person: someone signed in as another person is refused."""
    user = request.user
    if user.is_authenticated and user.pk != link.user_id:
        return NotAllowed(
            gettext("This link was sent to someone else. Each action link works only for the person it was sent to."),
            code="action_link.other_person",
        )
    return None


def _terms(link: ActionLink) -> dict[str, Any]:
    goal = link.goal
    if goal is None:
        return {"vision": link.vision}
    if link.check_in is not None:
        return {"goal": goal, "check_in": link.check_in}
    commitments = [c for c in goal.commitments.all() if not c.placeholder and c.text.strip()]
    sides = [
        (Side(side).label, link.partnership.organisation_for(side).name, [c for c in commitments if c.side == side])
        for side in Side.values
    ]
    return {"goal": goal, "sides": sides}


def _page(
    request: HttpRequest, link: ActionLink, access: Access, form: forms.Form | None, status: int = 200
) -> HttpResponse:
    context = {
        "link": link,
        "access": access,
        "form": form,
        "token": request.resolver_match.kwargs["token"] if request.resolver_match else "",
        "plan_url": _plan_url(link),
        "organisation": link.partnership.organisation_for(access.side).name,
        "action_label": Action(link.action).label,
    } | _terms(link)
    return render(request, "actions/action.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def action_page(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the exact terms and the button (changes nothing). POST: take the action."""
    limited = _rate_limited(request)
    if limited:
        return limited
    link = actions.find(token)
    if link is None:
        return _invalid(request)
    other = _other_person(request, link)
    if other is not None:
        return _problem(request, link, other)
    try:
        access = actions.inspect(link)
    except DomainError as error:
        return _problem(request, link, error)
    form_class = FORMS.get(link.action)
    if request.method != "POST":
        return _page(request, link, access, form_class() if form_class else None)
    form = form_class(request.POST) if form_class else None
    if form is not None and not form.is_valid():
        return _page(request, link, access, form, status=400)
    data = form.cleaned_data if form is not None else {}
    try:
        actions.act(
            token,
            comment=data.get("comment", ""),
            text=data.get("text", ""),
            due_date=data.get("due_date"),
            decision=data.get("decision", ""),
            value=data.get("value"),
            note=data.get("note", ""),
        )
    except DomainError as error:
        if error.status == 400 and form is not None:  # the service's own check of the text
            form.add_error(None, error.message)
            return _page(request, link, access, form, status=400)
        fresh = actions.find(token) or link
        return _problem(request, fresh, error)
    return redirect("action-link-done", token=token)


@require_GET
def action_done(request: HttpRequest, token: str) -> HttpResponse:
    """What the link did (only once it was used; before, the link's own page)."""
    limited = _rate_limited(request)
    if limited:
        return limited
    link = actions.find(token)
    if link is None:
        return _invalid(request)
    if link.used_at is None:
        return redirect("action-link", token=token)
    return render(request, "actions/done.html", {"link": link, "plan_url": _plan_url(link)})
