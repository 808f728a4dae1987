"""The dashboard: every partnership a person can see, with what needs their attention first, and
the form that starts a new partnership."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from accounts.models import OrganisationMembership
from alignment import services
from alignment.access import Access, resolve_many, visible_partnerships
from alignment.models import Partnership, Side
from cadence.attention import attention_for
from cadence.models import HealthSnapshot
from core.errors import DomainError, NotFound
from core.web import form_errors
from goals.models import Goal, negotiation_state_of
from goals.rules import NEGOTIATING, approved_sides_of, waiting_reason, waiting_sides

from .forms import DashboardFilterForm, PartnershipCreateForm

PAGE_SIZE = 20


def _sparkline(scores: list[int], width: int = 96, height: int = 24) -> str:
    """SVG polyline points for a small trend of 0-100 scores."""
    if len(scores) < 2:
        return ""
    step = width / (len(scores) - 1)
    return " ".join(f"{i * step:.1f},{height - s * height / 100:.1f}" for i, s in enumerate(scores))


def _waiting_goals(partnership_ids: list[Any], sides: dict[Any, str]) -> dict[Any, list[dict[str, Any]]]:
    """Goals waiting for each partnership's viewer side (``goals.rules``), for the page's
    partnerships (two queries); ``cadence.attention`` counts the same goals for every partnership."""
    pending = list(
        Goal.objects.filter(NEGOTIATING, partnership_id__in=partnership_ids)
        .values("id", "partnership_id", "title", "status", "amendment", "revision", "proposed_by_side")
        .order_by("proposed_at", "created_at")
    )
    approved = approved_sides_of(g["id"] for g in pending)
    waiting: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for g in pending:
        state = negotiation_state_of(g["status"], g["amendment"])
        if sides.get(g["partnership_id"]) in waiting_sides(state, g["proposed_by_side"], approved.get(g["id"], ())):
            waiting[g["partnership_id"]].append(g | {"why": waiting_reason(state)})
    return waiting


def _sort_key(sort: str, far: dt.datetime) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    def score(r: dict[str, Any]) -> int:
        return r["score"] if r["score"] is not None else 0

    if sort == "health":
        return lambda r: (score(r), r["name"])
    if sort == "-health":
        return lambda r: (-score(r), r["name"])
    if sort == "review":
        return lambda r: (r["next_review"] or far, r["name"])
    if sort == "attention":
        return lambda r: (
            -(r["waiting_count"] + r["overdue_ours"] + (3 if r["review_overdue"] else 0)),
            score(r),
            r["name"],
        )
    return lambda r: (r["name"],)


def dashboard(request: HttpRequest) -> HttpResponse:
    """Every partnership the person can see, with health, trend, next review, goals waiting for their
    side and overdue commitments; filtered, sorted, paginated, in a constant number of queries.

    What the sorting and the "waiting" filter need is read for every visible partnership as a few
    cached numbers (``alignment.attention``); everything shown is loaded for the page only."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    filters = DashboardFilterForm(request.GET or None)
    params = filters.cleaned_data if filters.is_valid() else {}
    qs = visible_partnerships(request.user)
    if params.get("q"):
        qs = qs.filter(
            Q(name__icontains=params["q"])
            | Q(partner__name__icontains=params["q"])
            | Q(vendor__name__icontains=params["q"])
        )
    if params.get("status"):
        qs = qs.filter(status=params["status"])
    light = list(qs.only("id", "name", "vendor_id", "partner_id").order_by("name"))
    accesses = resolve_many(request.user, light)
    light = [p for p in light if p.pk in accesses]
    now = timezone.now()
    facts = attention_for([p.pk for p in light], now)
    keys = []
    for p in light:
        side, fact = accesses[p.pk].side, facts[p.pk]
        keys.append(
            {
                "pk": p.pk,
                "name": p.name,
                "score": fact.score,
                "next_review": fact.next_review,
                "review_overdue": bool(fact.next_review and fact.next_review < now),
                "waiting_count": fact.waiting[side],
                "overdue_ours": fact.overdue[side],
                "overdue_theirs": fact.overdue[Side.other(side)],
            }
        )
    if params.get("waiting"):
        keys = [k for k in keys if k["waiting_count"]]
    keys.sort(key=_sort_key(params.get("sort") or "attention", now + dt.timedelta(days=36500)))
    page = Paginator(keys, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = _page_rows(list(page.object_list), accesses)
    organisations = [
        m.organisation for m in OrganisationMembership.objects.filter(user=request.user).select_related("organisation")
    ]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filters": filters,
        "page": page,
        "rows": page.object_list,
        "total": len(keys),
        "query": query.urlencode(),
        "create_form": PartnershipCreateForm(organisations=organisations) if organisations else None,
    }
    return render(request, "dashboard/index.html", context)


def _page_rows(keys: list[dict[str, Any]], accesses: dict[Any, Access]) -> list[dict[str, Any]]:
    """What the page shows of its partnerships, in the order of ``keys`` (a fixed number of queries)."""
    page_ids = [k["pk"] for k in keys]
    if not page_ids:
        return []
    partnerships = Partnership.objects.select_related("vendor", "partner").in_bulk(page_ids)
    sides = {pid: accesses[pid].side for pid in page_ids}
    waiting = _waiting_goals(page_ids, sides)
    trend: dict[Any, list[int]] = defaultdict(list)
    for pid, score in (
        HealthSnapshot.objects.filter(
            partnership_id__in=page_ids, day__gte=timezone.localdate() - dt.timedelta(days=84)
        )
        .order_by("day")
        .values_list("partnership_id", "score")
    ):
        trend[pid].append(score)
    rows = []
    for k in keys:
        p, scores = partnerships[k["pk"]], trend.get(k["pk"], [])
        rows.append(
            k
            | {
                "partnership": p,
                "access": accesses[p.pk],
                "waiting": waiting.get(p.pk, []),
                "trend": scores,
                "trend_points": _sparkline(scores),
                "trend_delta": (scores[-1] - scores[0]) if len(scores) >= 2 else None,
                "other_org": p.partner if sides[p.pk] == Side.VENDOR else p.vendor,
            }
        )
    return rows


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
                form_errors(form, exc)
            else:
                messages.success(request, f"The partnership {p.name} is started. Write the vision together next.")
                return redirect("plan", pid=p.pk)
        status = 400
    return render(request, "dashboard/new_partnership.html", {"form": form}, status=status)
