"""Browser pages of the relationship and the long-term plan: the dashboard, a new partnership, the
joint plan page with its vision and objectives, and the fragments live updates refresh.

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

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Min, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views import View

from accounts.models import OrganisationMembership

from . import services
from .access import Access, resolve, resolve_many, visible_partnerships
from .changes import feed_queryset
from .errors import DomainError, NotAllowed, NotFound, StaleVersion
from .forms import (
    DashboardFilterForm,
    ObjectiveCreateForm,
    ObjectiveForm,
    PartnershipCreateForm,
    VisionForm,
)
from .health import cached_health_for, health_for
from .models import AlignmentReview, ChangeEvent, HealthSnapshot, Objective, Partnership, Side, Vision

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
        return render(self.request, "plan/error.html", {"message": exc.message, "access": self.access},
                      status=exc.status)

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
        return self.render_form(status=409, conflict={"rows": rows, "message": exc.message,
                                                      "version": current.version})

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
            "form": self.form, "access": self.access, "partnership": self.access.partnership,
            "conflict": conflict, "fragment_id": self.fragment_id(), "action": self.request.path,
            "cancel_url": self.cancel_url(), "title": self.title, "submit_label": self.submit_label,
            "label": "" if getattr(self, "in_card", False) else self.title,
        }
        return render(self.request, self.template_name, context, status=status)


# --- Dashboard ---------------------------------------------------------------------------------

PAGE_SIZE = 20


def _sparkline(scores: list[int], width: int = 96, height: int = 24) -> str:
    """SVG polyline points for a small trend of 0-100 scores."""
    if len(scores) < 2:
        return ""
    step = width / (len(scores) - 1)
    return " ".join(f"{i * step:.1f},{height - s * height / 100:.1f}" for i, s in enumerate(scores))


def _waiting_goals(partnership_ids: list[Any], sides: dict[Any, str]) -> dict[Any, list[dict[str, Any]]]:
    """Goals waiting for each partnership's viewer side: proposed by the other side and not yet
    approved by ours, or sent back to us with changes requested (two queries)."""
    from goals.models import Approval, Goal

    pending = list(
        Goal.objects.filter(partnership_id__in=partnership_ids)
        .filter(Q(status__in=["proposed", "changes_requested"])
                | Q(status="agreed", amendment__in=["proposed", "changes_requested"]))
        .values("id", "partnership_id", "title", "status", "amendment", "revision", "proposed_by_side")
    )
    approved = set(
        Approval.objects.filter(goal_id__in=[g["id"] for g in pending]).values_list("goal_id", "revision", "side")
    )
    waiting: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for g in pending:
        side = sides.get(g["partnership_id"])
        state = g["amendment"] or g["status"]
        if state == "proposed" and g["proposed_by_side"] != side and (g["id"], g["revision"], side) not in approved:
            waiting[g["partnership_id"]].append(g | {"why": "to approve"})
        elif state == "changes_requested" and g["proposed_by_side"] == side:
            waiting[g["partnership_id"]].append(g | {"why": "changes requested"})
    return waiting


def _overdue_commitments(partnership_ids: list[Any], today: dt.date) -> dict[Any, dict[str, int]]:
    from goals.models import Commitment

    counts: dict[Any, dict[str, int]] = defaultdict(lambda: {"vendor": 0, "partner": 0})
    for pid, side in Commitment.objects.filter(
        goal__partnership_id__in=partnership_ids, goal__status="agreed", done=False, placeholder=False,
        due_date__lt=today,
    ).values_list("goal__partnership_id", "side"):
        counts[pid][side] += 1
    return counts


def dashboard(request: HttpRequest) -> HttpResponse:
    """Every partnership the person can see, with health, trend, next review, goals waiting for their
    side and overdue commitments; filtered, sorted, paginated, in a constant number of queries."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    filters = DashboardFilterForm(request.GET or None)
    params = filters.cleaned_data if filters.is_valid() else {}
    qs = visible_partnerships(request.user).select_related("vendor", "partner").order_by("name")
    if params.get("q"):
        qs = qs.filter(Q(name__icontains=params["q"]) | Q(partner__name__icontains=params["q"])
                       | Q(vendor__name__icontains=params["q"]))
    if params.get("status"):
        qs = qs.filter(status=params["status"])
    partnerships = list(qs)
    accesses = resolve_many(request.user, partnerships)
    ids = [p.pk for p in partnerships]
    now = timezone.now()
    sides = {pid: a.side for pid, a in accesses.items()}
    health = cached_health_for(ids, now) if ids else {}
    waiting = _waiting_goals(ids, sides) if ids else {}
    next_reviews = dict(
        AlignmentReview.objects.filter(partnership_id__in=ids, status=AlignmentReview.Status.SCHEDULED,
                                       scheduled_for__gte=now - dt.timedelta(days=60))
        .values("partnership_id").annotate(first=Min("scheduled_for")).values_list("partnership_id", "first")
    ) if ids else {}
    overdue = _overdue_commitments(ids, timezone.localdate()) if ids else {}
    rows = []
    for p in partnerships:
        if p.pk not in accesses:
            continue
        side = sides[p.pk]
        late = overdue.get(p.pk, {"vendor": 0, "partner": 0})
        rows.append({
            "partnership": p, "access": accesses[p.pk], "health": health.get(p.pk),
            "waiting": waiting.get(p.pk, []), "next_review": next_reviews.get(p.pk),
            "review_overdue": bool(next_reviews.get(p.pk) and next_reviews[p.pk] < now),
            "overdue_ours": late[side], "overdue_theirs": late[Side.other(side)],
            "other_org": p.partner if side == Side.VENDOR else p.vendor,
        })
    if params.get("waiting"):
        rows = [r for r in rows if r["waiting"]]
    sort = params.get("sort") or "attention"
    far = now + dt.timedelta(days=36500)
    if sort == "health":
        rows.sort(key=lambda r: (r["health"].score if r["health"] else 0, r["partnership"].name))
    elif sort == "-health":
        rows.sort(key=lambda r: (-(r["health"].score if r["health"] else 0), r["partnership"].name))
    elif sort == "review":
        rows.sort(key=lambda r: (r["next_review"] or far, r["partnership"].name))
    elif sort == "attention":
        rows.sort(key=lambda r: (-(len(r["waiting"]) + r["overdue_ours"] + (3 if r["review_overdue"] else 0)),
                                 r["health"].score if r["health"] else 0, r["partnership"].name))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    page_ids = [r["partnership"].pk for r in page.object_list]
    trend: dict[Any, list[int]] = defaultdict(list)
    if page_ids:
        for pid, score in HealthSnapshot.objects.filter(
            partnership_id__in=page_ids, day__gte=timezone.localdate() - dt.timedelta(days=84)
        ).order_by("day").values_list("partnership_id", "score"):
            trend[pid].append(score)
    for r in page.object_list:
        scores = trend.get(r["partnership"].pk, [])
        r["trend"] = scores
        r["trend_points"] = _sparkline(scores)
        r["trend_delta"] = (scores[-1] - scores[0]) if len(scores) >= 2 else None
    organisations = [
        m.organisation for m in OrganisationMembership.objects.filter(user=request.user).select_related("organisation")
    ]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filters": filters, "page": page, "rows": page.object_list, "total": len(rows),
        "query": query.urlencode(), "create_form": PartnershipCreateForm(organisations=organisations)
        if organisations else None,
    }
    return render(request, "dashboard/index.html", context)


def partnership_new(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    organisations = [
        m.organisation for m in OrganisationMembership.objects.filter(user=request.user).select_related("organisation")
    ]
    if not organisations:
        raise Http404("You belong to no organisation that could start a partnership.")
    form = PartnershipCreateForm(request.POST or None, organisations=organisations)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                p = services.partnership_create(actor=request.user, **form.service_kwargs())
            except NotFound as exc:
                raise Http404(exc.message) from exc
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"The partnership {p.name} is started. Write the vision together next.")
                return redirect("plan", pid=p.pk)
        status = 400
    return render(request, "dashboard/new_partnership.html", {"form": form}, status=status)


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
    complete = bool(vision and vision.why_together.strip() and vision.what_we_hope.strip()
                    and vision.how_we_work.strip())
    return {
        "vision": vision, "complete": complete,
        "endorsements": [{"side": s, "label": Side(s).label, "endorsement": endorsements.get(s)} for s in Side.values],
        "can_endorse": bool(vision and complete and access.can_approve and access.side not in endorsements),
        "endorsed_by_both": len(endorsements) == 2,
    }


def objectives_context(access: Access) -> list[dict[str, Any]]:
    """Objectives with their goal cards grouped by period (a fixed number of queries)."""
    from goals.views import goal_cards

    objectives = list(Objective.objects.filter(partnership=access.partnership).order_by("position", "created_at"))
    cards = goal_cards(access, partnership_goals=True)
    by_objective: dict[Any, list[Any]] = defaultdict(list)
    for card in cards:
        by_objective[card.goal.objective_id].append(card)
    return [{"objective": o, "cards": by_objective.get(o.pk, [])} for o in objectives]


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


def plan_context(request: HttpRequest, access: Access) -> dict[str, Any]:
    p = access.partnership
    return {
        "access": access, "partnership": p, "health": health_for([p.pk])[p.pk],
        "objectives": objectives_context(access), "history": history_context(access),
        "cursor": latest_cursor(p), **vision_context(access),
    }


class PlanPage(PlanView):
    def get(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        return render(request, "plan/page.html", plan_context(request, self.access))


FRAGMENT = re.compile(r"^(?P<kind>plan-header|vision|objectives|history|objective|goals-of|goal)"
                      r"(?:-(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}))?$")


def render_fragment(request: HttpRequest, access: Access, name: str) -> HttpResponse:
    """One named piece of the plan page, as the page renders it (live updates fetch these)."""
    match = FRAGMENT.match(name)
    if not match:
        raise NotFound("No such part of the plan.")
    kind, ident = match["kind"], match["id"]
    base = {"access": access, "partnership": access.partnership}
    if kind == "plan-header":
        return render(request, "plan/_header.html", base | {"health": health_for([access.partnership.pk])[
            access.partnership.pk]})
    if kind == "vision":
        return render(request, "plan/_vision.html", base | vision_context(access))
    if kind == "objectives":
        return render(request, "plan/_objectives.html", base | {"objectives": objectives_context(access)})
    if kind == "history":
        return render(request, "plan/_history.html", base | {"history": history_context(access)})
    if kind == "objective" and ident:
        objective = Objective.objects.filter(partnership=access.partnership, pk=ident).first()
        if objective is None:
            return HttpResponse(f'<div id="{name}" hidden></div>')
        return render(request, "plan/_objective_head.html", base | {"objective": objective})
    if kind == "goals-of" and ident:
        from goals.views import goal_cards

        objective = Objective.objects.filter(partnership=access.partnership, pk=ident).first()
        if objective is None:
            return HttpResponse(f'<div id="{name}" hidden></div>')
        cards = goal_cards(access, objective=objective)
        return render(request, "goals/_goal_list.html", base | {"objective": objective, "cards": cards})
    if kind == "goal" and ident:
        from goals.views import goal_cards

        cards = goal_cards(access, goal_ids=[ident])
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
        return {"version": v.version, "why_together": v.why_together, "what_we_hope": v.what_we_hope,
                "how_we_work": v.how_we_work, "horizon": v.horizon}

    def fragment_id(self) -> str:
        return "vision"

    def cancel_url(self) -> str:
        return reverse("plan_fragment", args=[self.access.partnership.pk, "vision"])

    def save(self) -> HttpResponse:
        data = self.form.cleaned_data
        services.vision_update(access=self.access, expected_version=data["version"],
                               **self.form.service_changes())
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
        response.content += render_to_string("plan/_objective_new.html", {
            "access": self.access, "partnership": self.access.partnership, "oob": True}, request=self.request).encode()
        response["HX-Retarget"] = "#objectives"
        response["HX-Reswap"] = "outerHTML"
        response["HX-Trigger"] = "objective-created"
        return response


class ObjectiveNewButton(PlanView):
    def get(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        return render(request, "plan/_objective_new.html",
                      {"access": self.access, "partnership": self.access.partnership})


class ObjectiveEdit(InPlaceForm):
    form_class = ObjectiveForm
    title = "Edit objective"

    def form_kwargs(self) -> dict[str, Any]:
        return {"partnership": self.access.partnership}

    def get_initial(self) -> dict[str, Any]:
        o = self.objective()
        return {name: getattr(o, name) for name in ObjectiveForm.base_fields if name != "version"} | {
            "version": o.version}

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
        services.objective_update(access=self.access, objective_id=self.kwargs["oid"],
                                  expected_version=data["version"], **self.form.service_changes())
        return render_fragment(self.request, self.access, self.fragment_id())

