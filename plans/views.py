"""Browser pages of the joint plan: the page with its vision, objectives, getting-started checklist
and history, and the fragments live updates refresh (the dashboard is in ``plans.dashboard``).

``PlanView`` is the one place where a ``DomainError`` becomes an HTTP answer: outsiders get 404,
members without the role 403, and rule or input errors come back as errors on the form that was
submitted (a save against a newer version shows both versions side by side).
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, cast

from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alignment import services
from alignment.access import Access
from alignment.changes import feed_queryset
from alignment.forms import ObjectiveCreateForm, ObjectiveForm, VisionForm
from alignment.models import Invitation, Objective, Partnership, PartnershipMember, Side, Vision
from alignment.web import InPlaceForm, PlanView
from cadence.attention import attention_for
from cadence.health import cached_health_for
from core.errors import NotFound
from core.web import HtmxHttpRequest
from goals.card_cache import cached_goal_cards
from goals.cards import goal_counts, goal_list_context
from goals.fragments import goal_fragment
from goals.models import Goal

from . import templates_service
from .economics_views import panel_context
from .history import HistoryPage, history_page, parse_cursor

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
    complete = vision is not None and vision.complete
    return {
        "vision": vision,
        "complete": complete,
        "endorsements": [{"side": s, "label": Side(s).label, "endorsement": endorsements.get(s)} for s in Side.values],
        "can_endorse": bool(vision and complete and access.can_approve and access.side not in endorsements),
        "endorsed_by_both": len(endorsements) == 2,
        # The questions of the template the plan started from, shown while a text is empty.
        "vision_prompts": templates_service.vision_prompts(access.partnership) if not complete else {},
    }


# Open goals whose cards the plan page renders at once. The goal lists of the objectives past
# this budget start collapsed and load when opened, so a plan of hundreds of goals opens as fast
# as a small one; a plan within the budget shows every list open.
INLINE_GOALS = 60


def objectives_context(access: Access) -> list[dict[str, Any]]:
    """Objectives with their goal lists: the cards of their open goals grouped by period (for the
    objectives within ``INLINE_GOALS``, in order) and the counts of the others (a fixed number of
    queries)."""
    objectives = list(Objective.objects.filter(partnership=access.partnership).order_by("position", "created_at"))
    counts = goal_counts(access)
    loaded: list[uuid.UUID] = []
    budget = INLINE_GOALS
    for o in objectives:
        n_open = counts[o.pk].open if o.pk in counts else 0
        if loaded and n_open > budget:
            break
        loaded.append(o.pk)
        budget -= n_open
    by_objective: dict[Any, list[Any]] = defaultdict(list)
    for card in cached_goal_cards(access, objective_ids=loaded, open_only=True) if loaded else []:
        by_objective[card.goal.objective_id].append(card)
    return [
        goal_list_context(access, o, counts.get(o.pk), by_objective.get(o.pk, []) if o.pk in loaded else None)
        for o in objectives
    ]


def history_context(access: Access, before: str | None = None) -> HistoryPage:
    """A page of the plan's history as readable sentences (``plans.history``): the newest, or the
    one before the cursor ``before`` ("Show older")."""
    return history_page(access, parse_cursor(before))


# --- Getting started ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    done: bool
    example: str


@dataclass(frozen=True)
class Checklist:
    steps: list[Step]
    first_objective: Objective | None

    @property
    def done(self) -> int:
        return sum(1 for s in self.steps if s.done)

    @property
    def complete(self) -> bool:
        return all(s.done for s in self.steps)

    @property
    def next(self) -> Step | None:
        """The first step not done: its action is the checklist's one primary action."""
        return next((s for s in self.steps if not s.done), None)


DISMISSED = "checklists_dismissed"


def checklist_dismissed(request: HttpRequest, partnership: Partnership) -> bool:
    return str(partnership.pk) in request.session.get(DISMISSED, [])


def getting_started(access: Access) -> Checklist:
    """The four steps of a first plan (the vision, an objective, goals derived from it, the
    partner invited), each ticked by what the plan holds (two queries)."""
    p = access.partnership
    now = timezone.now()
    partner_invited = Invitation.objects.filter(partnership=OuterRef("pk"), side=Side.PARTNER).filter(
        Q(accepted_at__isnull=False) | Q(revoked_at__isnull=True, declined_at__isnull=True, expires_at__gt=now)
    )
    row = (
        Partnership.objects.filter(pk=p.pk)
        .annotate(
            vision_written=Exists(
                Vision.objects.filter(partnership=OuterRef("pk"))
                .exclude(why_together="")
                .exclude(what_we_hope="")
                .exclude(how_we_work="")
            ),
            has_goal=Exists(Goal.objects.filter(partnership=OuterRef("pk"))),
            partner_here=Exists(PartnershipMember.objects.filter(partnership=OuterRef("pk"), side=Side.PARTNER)),
            partner_invited=Exists(partner_invited),
        )
        .values("vision_written", "has_goal", "partner_here", "partner_invited")
        .first()
    ) or {}
    first = Objective.objects.filter(partnership=p).order_by("position", "created_at").first()
    partner = p.partner.name
    return Checklist(
        steps=[
            Step(
                "vision",
                gettext("Write the shared vision"),
                bool(row.get("vision_written")),
                gettext(
                    "Why we are in business together: “Mid-market manufacturers need our platform and "
                    "%(partner)s's implementation know-how.”"
                )
                % {"partner": partner},
            ),
            Step(
                "objective",
                gettext("Add a mutual objective"),
                first is not None,
                gettext(
                    "“Build a certified migration practice” — for the vendor: more licences in the mid-market; "
                    "for the partner: billable implementation days. Give it a target, e.g. 30 certified "
                    "consultants by December."
                ),
            ),
            Step(
                "goals",
                gettext("Derive this quarter's goals"),
                bool(row.get("has_goal")),
                gettext(
                    "From “30 certified consultants by December”, Partnerplan proposes quarterly steps "
                    "(10 by March, 20 by June …) as drafts with a commitment from each side."
                ),
            ),
            Step(
                "invite",
                gettext("Invite %(partner)s") % {"partner": partner},
                bool(row.get("partner_here") or row.get("partner_invited")),
                gettext(
                    "Invite your counterpart at %(partner)s as an approver: they review the goals, add what "
                    "%(partner)s commits to, and approve."
                )
                % {"partner": partner},
            ),
        ],
        first_objective=first,
    )


def header_context(request: HttpRequest, access: Access) -> dict[str, Any]:
    """The plan header: the partnership, its health (or "Getting started") and, while the plan has
    not started, the getting-started checklist for the people who write it."""
    health = plan_health(access.partnership)
    show = access.can_edit and not health.started and not checklist_dismissed(request, access.partnership)
    return {"health": health, "checklist": getting_started(access) if show else None}


def plan_health(partnership: Partnership) -> Any:
    """The plan's health as the dashboard shows it: computed once per change of the plan (and hour)
    and shared by everyone who opens it, instead of loading every goal of the plan on each view."""
    return cached_health_for([partnership.pk])[partnership.pk]


def plan_context(request: HttpRequest, access: Access) -> dict[str, Any]:
    p = access.partnership
    return {
        "access": access,
        "partnership": p,
        **header_context(request, access),
        "objectives": objectives_context(access),
        "history": history_context(access),
        "cursor": latest_cursor(p),
        **vision_context(access),
        **panel_context(access),
    }


class PlanPage(PlanView):
    def get(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        return render(request, "plan/page.html", plan_context(request, self.access))


FRAGMENT = re.compile(
    r"^(?P<kind>plan-header|vision|objectives|economics|history|queue-count|objective|goals-of|goals-count|goal)"
    r"(?:-(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}))?$"
)


def render_fragment(request: HttpRequest, access: Access, name: str) -> HttpResponse:
    """One named piece of the plan page, as the page renders it (live updates fetch these)."""
    match = FRAGMENT.match(name)
    if not match:
        raise NotFound(gettext("No such part of the plan."))
    kind, ident = match["kind"], match["id"]
    base = {"access": access, "partnership": access.partnership}
    if kind == "plan-header":
        return render(request, "plan/_header.html", base | header_context(request, access))
    if kind == "vision":
        return render(request, "plan/_vision.html", base | vision_context(access))
    if kind == "objectives":
        return render(request, "plan/_objectives.html", base | {"objectives": objectives_context(access)})
    if kind == "economics":
        return render(request, "plan/_economics.html", panel_context(access))
    if kind == "queue-count":  # the count on the "Review queue" tab (plans.templatetags.partnership_nav)
        pid = access.partnership.pk
        waiting = attention_for([pid])[pid].waiting[access.side]
        return render(request, "plan/_queue_count.html", {"waiting": waiting})
    if kind == "history":
        before = request.GET.get("before")
        if before and parse_cursor(before):  # "Show older": the next page of events, as list items
            page = history_context(access, before)
            return render(request, "plan/_history_items.html", base | {"history": page, "page_start": before})
        return render(request, "plan/_history.html", base | {"history": history_context(access)})
    if kind == "objective" and ident:
        objective = Objective.objects.filter(partnership=access.partnership, pk=ident).first()
        if objective is None:  # gone meanwhile, or never of this plan: an empty placeholder
            return HttpResponse(f'<div id="{name}" hidden></div>')
        return render(request, "plan/_objective_head.html", base | {"objective": objective})
    if kind in ("goal", "goals-of", "goals-count") and ident:
        return goal_fragment(request, access, kind, ident)
    raise NotFound(gettext("No such part of the plan."))


class Fragment(PlanView):
    def get(self, request: HttpRequest, pid: uuid.UUID, name: str) -> HttpResponse:
        return render_fragment(request, self.access, name)


class ChecklistDismiss(PlanView):
    """Hide the getting-started checklist of this plan for this person (once every step is done)."""

    def post(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        if getting_started(self.access).complete:
            dismissed = [d for d in request.session.get(DISMISSED, []) if d != str(pid)][-49:]
            request.session[DISMISSED] = [*dismissed, str(pid)]
        if cast(HtmxHttpRequest, request).htmx:
            return render_fragment(request, self.access, "plan-header")
        return redirect("plan", pid=pid)


# --- Vision -----------------------------------------------------------------------------------


class VisionEdit(InPlaceForm):
    form_class = VisionForm
    title = _("Edit the vision")

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

    def render_form(self, status: int = 200, conflict: dict[str, Any] | None = None) -> HttpResponse:
        # The template's questions as placeholders: prompts to answer, never text of the vision.
        for name, prompt in templates_service.vision_prompts(self.access.partnership).items():
            if prompt and name in self.form.fields:
                self.form.fields[name].widget.attrs["placeholder"] = prompt
        return super().render_form(status, conflict)

    def save(self) -> HttpResponse:
        data = self.form.cleaned_data
        services.vision_update(access=self.access, expected_version=data["version"], **self.form.service_changes())
        return render_fragment(self.request, self.access, "vision")


class VisionEndorse(PlanView):
    def post(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        try:
            revision = int(request.POST.get("revision", ""))
        except ValueError:
            return HttpResponse(gettext("Which revision do you endorse?"), status=400)
        services.vision_endorse(access=self.access, revision=revision)
        return render_fragment(request, self.access, "vision")


# --- Objectives -------------------------------------------------------------------------------


class ObjectiveNew(InPlaceForm):
    form_class = ObjectiveCreateForm
    title = _("New objective")
    submit_label = _("Add objective")
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
    title = _("Edit objective")

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
            raise NotFound(gettext("No such objective."))
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
