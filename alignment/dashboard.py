"""The dashboard: every partnership a person can see, with what needs their attention first, and
the form that starts a new partnership."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from accounts.models import OrganisationMembership

from . import services
from .access import resolve_many, visible_partnerships
from .errors import DomainError, NotFound
from .forms import DashboardFilterForm, PartnershipCreateForm
from .health import cached_health_for
from .models import AlignmentReview, HealthSnapshot, Side

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
