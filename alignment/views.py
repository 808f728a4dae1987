"""Browser pages of the joint plan: the page with its vision and objectives, and the fragments
live updates refresh (the dashboard is in ``alignment.dashboard``).

``PlanView`` is the one place where a ``DomainError`` becomes an HTTP answer: outsiders get 404,
members without the role 403, and rule or input errors come back as errors on the form that was
submitted (a save against a newer version shows both versions side by side).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views import View

from . import services
from .access import Access, resolve
from .changes import feed_queryset
from .errors import DomainError, NotAllowed, NotFound, StaleVersion
from .forms import (
    ObjectiveCreateForm,
    ObjectiveForm,
    VisionForm,
)
from .health import cached_health_for
from .models import ChangeEvent, Objective, Partnership, Side, Vision

# --- Access and errors: the one mapping of DomainError to HTTP --------------------------------


class PlanView(View):
    """Base of every page and fragment of one partnership.

    Resolves the person's access (``self.access``) before anything else and turns the domain's
    errors into answers: ``NotFound`` → 404, ``NotAllowed`` → 403, ``StaleVersion`` → the conflict
    form, ``InvalidInput``/``RuleViolation`` → errors on the submitted form.
    """

    access: Access
    form: Any = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            self.access = resolve(request.user, kwargs["pid"])
            return super().dispatch(request, *args, **kwargs)
        except NotFound as exc:
            if request.htmx:  # an item deleted meanwhile: say so where messages go, keep the page
                return self.refusal(exc)
            raise Http404(exc.message) from exc
        except StaleVersion as exc:
            if self.form is not None:
                return self.conflict(exc)
            return self.refusal(exc)
        except DomainError as exc:
            if self.form is not None and not isinstance(exc, NotAllowed):
                return self.rejected(exc)
            return self.refusal(exc)

    def refusal(self, exc: DomainError) -> HttpResponse:
        """An error that belongs to no form: a message in the page's status area (or a page)."""
        if self.request.htmx or not hasattr(self, "access"):
            response = render(self.request, "plan/_flash.html", {"error": exc.message}, status=exc.status)
            response["HX-Retarget"] = "#flash"
            response["HX-Reswap"] = "innerHTML"
            return response
        return render(
            self.request, "plan/error.html", {"message": exc.message, "access": self.access}, status=exc.status
        )

    def rejected(self, exc: DomainError) -> HttpResponse:
        for name, problems in exc.fields.items():
            for problem in problems:
                self.form.add_error(name if name in self.form.fields else None, problem)
        if not exc.fields or not any(name in self.form.fields for name in exc.fields):
            self.form.add_error(None, exc.message)
        return self.render_form(status=exc.status)

    def conflict(self, exc: StaleVersion) -> HttpResponse:
        current = exc.current
        data = self.request.POST.copy()
        data["version"] = str(current.version)
        self.form = self.form.__class__(data=data, **self.form_options())
        self.form.is_valid()
        rows = []
        for name in getattr(self.form, "conflict_fields", ()):
            mine = self.form.cleaned_data.get(name) if hasattr(self.form, "cleaned_data") else data.get(name)
            theirs = getattr(current, name, None)
            if _plain(mine) != _plain(theirs):
                rows.append({"label": self.form.fields[name].label, "mine": _plain(mine), "theirs": _plain(theirs)})
        return self.render_form(status=409, conflict={"rows": rows, "message": exc.message, "version": current.version})

    # Form views override these.
    def form_kwargs(self) -> dict[str, Any]:
        return {}

    def form_options(self) -> dict[str, Any]:
        # Field ids unique on the page even with several forms open at once.
        return {"auto_id": f"{self.fragment_id()}-%s", **self.form_kwargs()}

    def fragment_id(self) -> str:
        return "form"

    def render_form(self, status: int = 200, conflict: dict[str, Any] | None = None) -> HttpResponse:
        raise NotImplementedError


# Sent by the page with a request about a goal card or goal list that is open there.
OPEN_HEADER = "X-Details-Open"


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "normalize") and hasattr(value, "to_integral"):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value).strip().replace("\r\n", "\n")


class InPlaceForm(PlanView):
    """An edit-in-place form: GET shows it in the fragment's place, POST saves through a service and
    answers with the fragment (or with the form again, with its errors or a conflict)."""

    form_class: type[Any]
    template_name = "plan/_form.html"
    title = ""
    submit_label = "Save"

    def get_initial(self) -> dict[str, Any]:
        return {}

    def fragment_id(self) -> str:
        raise NotImplementedError

    def cancel_url(self) -> str:
        raise NotImplementedError

    def save(self) -> HttpResponse:
        raise NotImplementedError

    def editable_check(self) -> None:
        self.access.require_edit()

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        self.editable_check()
        initial = {k: _plain(v) if isinstance(v, Decimal) else v for k, v in self.get_initial().items()}
        self.form = self.form_class(initial=initial, **self.form_options())
        return self.render_form()

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        self.editable_check()
        self.form = self.form_class(data=request.POST, **self.form_options())
        if not self.form.is_valid():
            return self.render_form(status=400)
        return self.save()

    def render_form(self, status: int = 200, conflict: dict[str, Any] | None = None) -> HttpResponse:
        context = {
            "form": self.form,
            "access": self.access,
            "partnership": self.access.partnership,
            "conflict": conflict,
            "fragment_id": self.fragment_id(),
            "action": self.request.path,
            "cancel_url": self.cancel_url(),
            "title": self.title,
            "submit_label": self.submit_label,
            "label": "" if getattr(self, "in_card", False) else self.title,
            # Opened from an open goal card or list: saving or cancelling brings it back open.
            "details_open": self.request.headers.get(OPEN_HEADER) == "true",
        }
        return render(self.request, self.template_name, context, status=status)


# --- The joint plan page -----------------------------------------------------------------------


def latest_cursor(partnership: Partnership) -> str:
    """Where live updates of a freshly rendered page start: the newest event the feed serves now."""
    last = feed_queryset().filter(partnership=partnership).only("txid", "seq").last()
    return f"{last.txid}.{last.seq}" if last else "0.0"


def vision_context(access: Access) -> dict[str, Any]:
    vision = Vision.objects.filter(partnership=access.partnership).first()
    endorsements = {}
    if vision is not None:
        for e in vision.endorsements.filter(revision=vision.revision).select_related("user"):
            endorsements[e.side] = e
    complete = bool(
        vision and vision.why_together.strip() and vision.what_we_hope.strip() and vision.how_we_work.strip()
    )
    return {
        "vision": vision,
        "complete": complete,
        "endorsements": [{"side": s, "label": Side(s).label, "endorsement": endorsements.get(s)} for s in Side.values],
        "can_endorse": bool(vision and complete and access.can_approve and access.side not in endorsements),
        "endorsed_by_both": len(endorsements) == 2,
    }


# Open goals whose cards the plan page renders at once. The goal lists of the objectives past
# this budget start collapsed and load when opened, so a plan of hundreds of goals opens as fast
# as a small one; a plan within the budget shows every list open.
INLINE_GOALS = 60


def objectives_context(access: Access) -> list[dict[str, Any]]:
    """Objectives with their goal lists: the cards of their open goals grouped by period (for the
    objectives within ``INLINE_GOALS``, in order) and the counts of the others (a fixed number of
    queries)."""
    from goals.cards import goal_cards, goal_counts  # goals builds on alignment: imported when used

    objectives = list(Objective.objects.filter(partnership=access.partnership).order_by("position", "created_at"))
    counts = goal_counts(access)
    loaded, budget = [], INLINE_GOALS
    for o in objectives:
        n_open = counts[o.pk].open if o.pk in counts else 0
        if loaded and n_open > budget:
            break
        loaded.append(o.pk)
        budget -= n_open
    by_objective: dict[Any, list[Any]] = defaultdict(list)
    for card in goal_cards(access, objective_ids=loaded, open_only=True) if loaded else []:
        by_objective[card.goal.objective_id].append(card)
    return [
        goal_list_context(access, o, counts.get(o.pk), by_objective.get(o.pk, []) if o.pk in loaded else None)
        for o in objectives
    ]


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


HISTORY_SIZE = 30
HIDDEN_KEYS = {"id", "version", "updated_at", "created_at", "partnership", "goal", "revision_open"}


def readable_changes(event: ChangeEvent) -> list[dict[str, str]]:
    """What changed in an update, as label: before → after (internal fields left out)."""
    if event.action != ChangeEvent.Action.UPDATE or not event.before or not event.after:
        return []
    rows = []
    for key, new in event.after.items():
        old = event.before.get(key)
        if key in HIDDEN_KEYS or old == new:
            continue
        rows.append({"field": key.replace("_", " "), "before": _short(old), "after": _short(new)})
    return rows


def _short(value: Any) -> str:
    if value in (None, "", []):
        return "—"
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= 160 else text[:157] + "…"


def history_context(access: Access, limit: int = HISTORY_SIZE) -> list[dict[str, Any]]:
    events = list(ChangeEvent.objects.filter(partnership=access.partnership).order_by("-txid", "-seq")[:limit])
    return [{"event": e, "changes": readable_changes(e)} for e in events]


def plan_health(partnership: Partnership) -> Any:
    """The plan's health as the dashboard shows it: computed once per change of the plan (and hour)
    and shared by everyone who opens it, instead of loading every goal of the plan on each view."""
    return cached_health_for([partnership.pk])[partnership.pk]


def plan_context(request: HttpRequest, access: Access) -> dict[str, Any]:
    p = access.partnership
    return {
        "access": access,
        "partnership": p,
        "health": plan_health(p),
        "objectives": objectives_context(access),
        "history": history_context(access),
        "cursor": latest_cursor(p),
        **vision_context(access),
    }


class PlanPage(PlanView):
    def get(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        return render(request, "plan/page.html", plan_context(request, self.access))


FRAGMENT = re.compile(
    r"^(?P<kind>plan-header|vision|objectives|history|objective|goals-of|goals-count|goal)"
    r"(?:-(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}))?$"
)


def render_fragment(request: HttpRequest, access: Access, name: str) -> HttpResponse:
    """One named piece of the plan page, as the page renders it (live updates fetch these)."""
    from goals.cards import goal_cards, goal_counts

    match = FRAGMENT.match(name)
    if not match:
        raise NotFound("No such part of the plan.")
    kind, ident = match["kind"], match["id"]
    base = {"access": access, "partnership": access.partnership}
    if kind == "plan-header":
        return render(request, "plan/_header.html", base | {"health": plan_health(access.partnership)})
    if kind == "vision":
        return render(request, "plan/_vision.html", base | vision_context(access))
    if kind == "objectives":
        return render(request, "plan/_objectives.html", base | {"objectives": objectives_context(access)})
    if kind == "history":
        return render(request, "plan/_history.html", base | {"history": history_context(access)})
    # A list or card open on the page comes back open, with its contents (see static/js/live.js).
    is_open = request.headers.get(OPEN_HEADER) == "true"
    if kind in ("objective", "goals-count", "goals-of") and ident:
        objective = Objective.objects.filter(partnership=access.partnership, pk=ident).first()
        if objective is None:  # gone meanwhile, or never of this plan: an empty placeholder
            return HttpResponse(
                f'<span id="{name}"></span>' if kind == "goals-count" else f'<div id="{name}" hidden></div>'
            )
        if kind == "objective":
            return render(request, "plan/_objective_head.html", base | {"objective": objective})
        counts = goal_counts(access, objective).get(objective.pk)
        if kind == "goals-count":
            return render(request, "goals/_goal_counts.html", base | {"objective": objective, "counts": counts})
        cards = goal_cards(access, objective=objective, open_only=True) if is_open else None
        return render(request, "goals/_goal_list.html", base | goal_list_context(access, objective, counts, cards))
    if kind == "goal" and ident:
        cards = goal_cards(access, goal_ids=[ident], detailed=is_open)
        if not cards:
            return HttpResponse(f'<div id="{name}" hidden></div>')
        return render(request, "goals/_goal_card.html", base | {"card": cards[0]})
    raise NotFound("No such part of the plan.")


class Fragment(PlanView):
    def get(self, request: HttpRequest, pid: uuid.UUID, name: str) -> HttpResponse:
        return render_fragment(request, self.access, name)


# --- Vision -----------------------------------------------------------------------------------


class VisionEdit(InPlaceForm):
    form_class = VisionForm
    title = "Edit the vision"

    def get_initial(self) -> dict[str, Any]:
        v = Vision.objects.get(partnership=self.access.partnership)
        return {
            "version": v.version,
            "why_together": v.why_together,
            "what_we_hope": v.what_we_hope,
            "how_we_work": v.how_we_work,
            "horizon": v.horizon,
        }

    def fragment_id(self) -> str:
        return "vision"

    def cancel_url(self) -> str:
        return reverse("plan_fragment", args=[self.access.partnership.pk, "vision"])

    def save(self) -> HttpResponse:
        data = self.form.cleaned_data
        services.vision_update(access=self.access, expected_version=data["version"], **self.form.service_changes())
        return render_fragment(self.request, self.access, "vision")


class VisionEndorse(PlanView):
    def post(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        try:
            revision = int(request.POST.get("revision", ""))
        except ValueError:
            return HttpResponse("Which revision do you endorse?", status=400)
        services.vision_endorse(access=self.access, revision=revision)
        return render_fragment(request, self.access, "vision")


# --- Objectives -------------------------------------------------------------------------------


class ObjectiveNew(InPlaceForm):
    form_class = ObjectiveCreateForm
    title = "New objective"
    submit_label = "Add objective"
    template_name = "plan/_objective_new.html"

    def form_kwargs(self) -> dict[str, Any]:
        return {"partnership": self.access.partnership}

    def fragment_id(self) -> str:
        return "objective-new"

    def cancel_url(self) -> str:
        return reverse("objective_new_button", args=[self.access.partnership.pk])

    def save(self) -> HttpResponse:
        changes = {k: v for k, v in self.form.service_changes().items() if v not in (None, "", [])}
        services.objective_create(access=self.access, **changes)
        # The new objective is part of the refreshed list (outside this form): swap both.
        response = render_fragment(self.request, self.access, "objectives")
        # The form closes: the add button comes back in its place (out of band).
        response.content += render_to_string(
            "plan/_objective_new.html",
            {"access": self.access, "partnership": self.access.partnership, "oob": True},
            request=self.request,
        ).encode()
        response["HX-Retarget"] = "#objectives"
        response["HX-Reswap"] = "outerHTML"
        response["HX-Trigger"] = "objective-created"
        return response


class ObjectiveNewButton(PlanView):
    def get(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        return render(
            request, "plan/_objective_new.html", {"access": self.access, "partnership": self.access.partnership}
        )


class ObjectiveEdit(InPlaceForm):
    form_class = ObjectiveForm
    title = "Edit objective"

    def form_kwargs(self) -> dict[str, Any]:
        return {"partnership": self.access.partnership}

    def get_initial(self) -> dict[str, Any]:
        o = self.objective()
        return {name: getattr(o, name) for name in ObjectiveForm.base_fields if name != "version"} | {
            "version": o.version
        }

    def objective(self) -> Objective:
        o = Objective.objects.filter(partnership=self.access.partnership, pk=self.kwargs["oid"]).first()
        if o is None:
            raise NotFound("No such objective.")
        return o

    def fragment_id(self) -> str:
        return f"objective-{self.kwargs['oid']}"

    def cancel_url(self) -> str:
        return reverse("plan_fragment", args=[self.access.partnership.pk, self.fragment_id()])

    def save(self) -> HttpResponse:
        data = self.form.cleaned_data
        services.objective_update(
            access=self.access,
            objective_id=self.kwargs["oid"],
            expected_version=data["version"],
            **self.form.service_changes(),
        )
        return render_fragment(self.request, self.access, self.fragment_id())
