"""The dashboard, an inbox: what waits for the person across all their partnerships first (goals
waiting for their side, their overdue commitments, reviews to record), the totals of their
portfolio (each a link to the list it counts, ``dashboard_list``), then every partnership they can
see with its health, trend and next review. Starting a new partnership has its own page, offered
only to people whose organisation acts as a vendor (``User.vendor_organisations``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alignment import services
from alignment.access import Access, resolve_many, visible_partnerships
from alignment.models import Partnership, Side
from cadence.agenda import off_track
from cadence.attention import attention_for
from cadence.health import cached_health_for
from cadence.models import HealthSnapshot
from core.errors import DomainError, NotFound
from core.web import form_errors
from goals.models import Goal, GoalStatus, negotiation_state_of
from goals.queries import latest_check_ins
from goals.rules import NEGOTIATING, approved_sides_of, waiting_reason, waiting_sides

from . import dashboard_rows, inbox
from .forms import DashboardFilterForm, PartnershipCreateForm

PAGE_SIZE = 20
LIST_PAGE_SIZE = 50


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


def _matches(p: Partnership, q: str, status: str) -> bool:
    """The dashboard's search (name, partner or vendor) and status filter, on loaded partnerships."""
    needle = q.strip().casefold()
    if status and p.status != status:
        return False
    return not needle or any(needle in name.casefold() for name in (p.name, p.partner.name, p.vendor.name))


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
    user = request.user
    filters = DashboardFilterForm(request.GET or None)
    params = filters.cleaned_data if filters.is_valid() else {}
    now = timezone.now()
    # The inbox and the totals are of every partnership the person sees, whatever the filters.
    everything = list(
        visible_partnerships(user)
        .select_related("vendor", "partner")
        .only("id", "name", "status", "partner_type", "vendor_id", "partner_id", "vendor__name", "partner__name")
        .order_by("name")
    )
    all_accesses = resolve_many(user, everything)
    everything = [p for p in everything if p.pk in all_accesses]
    all_facts = attention_for([p.pk for p in everything], now)
    names = {p.pk: p.name for p in everything}
    light = [p for p in everything if _matches(p, params.get("q") or "", params.get("status") or "")]
    accesses = {p.pk: all_accesses[p.pk] for p in light}
    facts = {p.pk: all_facts[p.pk] for p in light}
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
    by_id = {p.pk: p for p in light}
    page.object_list = dashboard_rows.page_rows(list(page.object_list), by_id, accesses, now, _page_rows)
    query = request.GET.copy()
    query.pop("page", None)
    today = timezone.localdate(now)
    totals = inbox.portfolio_totals(names, all_accesses, all_facts, inbox.goal_totals(list(all_facts), now, today), now)
    waiting, overdue = inbox.inbox_items(user.pk, all_accesses, all_facts, today, overdue_ours=totals.overdue_ours)
    context = {
        "filters": filters,
        "filtered": bool(params.get("q") or params.get("status") or params.get("waiting")),
        "page": page,
        "rows": page.object_list,
        "total": len(keys),
        "query": query.urlencode(),
        "totals": totals,
        "waiting": waiting,
        "overdue": overdue,
        "reviews_overdue": sorted(
            (
                {"pid": pid, "name": names[pid], "at": f.next_review}
                for pid, f in all_facts.items()
                if f.next_review is not None and f.next_review < now
            ),
            key=lambda r: r["at"],
        )[: inbox.INBOX_SIZE],
        "acts_as_vendor": user.acts_as_vendor,
        "upcoming_days": inbox.UPCOMING_DAYS,
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
    # Cached with the attention facts just read: "Getting started" or the score (no query when warm).
    health = cached_health_for(page_ids)
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
                "started": health[p.pk].started,
                "other_org": p.partner if sides[p.pk] == Side.VENDOR else p.vendor,
                "other_role": "partner" if sides[p.pk] == Side.VENDOR else "vendor",
            }
        )
    return rows


def partnership_new(request: HttpRequest) -> HttpResponse:
    """Start a partnership, as the vendor: only for people of an organisation that acts as one."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    organisations = list(request.user.vendor_organisations())
    if not organisations:
        raise Http404("You belong to no organisation that acts as a vendor.")
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
                messages.success(
                    request,
                    gettext("The partnership %(name)s is started. Four steps to your first joint plan:")
                    % {"name": p.name},
                )
                return redirect("plan", pid=p.pk)
        status = 400
    return render(request, "dashboard/new_partnership.html", {"form": form}, status=status)


# --- The lists the dashboard's numbers count ------------------------------------------------------

LISTS = {
    "waiting": _("Goals waiting for your side"),
    "agreed": _("Agreed goals"),
    "on-track": _("Goals on track this period"),
    "off-track": _("Goals off track this period"),
    "overdue-ours": _("Your side's overdue commitments"),
    "overdue-theirs": _("The other side's overdue commitments"),
    "reviews": _("Next reviews"),
}


def dashboard_list(request: HttpRequest, name: str) -> HttpResponse:
    """``/lists/<name>/``: what one number of the dashboard counts, across every partnership the
    person sees (or one, with ``?p=<id>``), a page at a time, in a fixed number of queries."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if name not in LISTS:
        raise Http404("No such list.")
    user = request.user
    visible = list(visible_partnerships(user).only("id", "name", "vendor_id", "partner_id").order_by("name"))
    accesses = resolve_many(user, visible)
    names = {p.pk: p.name for p in visible if p.pk in accesses}
    scope = None
    only = request.GET.get("p", "")
    for pid in accesses:
        if str(pid) == only:
            scope, accesses = {"pid": pid, "name": names[pid]}, {pid: accesses[pid]}
            break
    now = timezone.now()
    today = timezone.localdate(now)
    ids = list(accesses)
    rows: Any
    if name == "waiting":
        rows = inbox.waiting_goals(accesses) if ids else Goal.objects.none()
    elif name == "agreed":
        rows = (
            Goal.objects.filter(partnership_id__in=ids, status=GoalStatus.AGREED)
            .select_related("partnership")
            .order_by("period_end", "title", "pk")
        )
    elif name in ("on-track", "off-track"):
        current = list(
            Goal.objects.filter(
                partnership_id__in=ids, status=GoalStatus.AGREED, period_start__lte=today, period_end__gte=today
            )
            .select_related("partnership")
            .order_by("period_end", "title", "pk")
        )
        latest = latest_check_ins(g.pk for g in current)
        rows = [i for i in (off_track(g, latest, today) for g in current) if bool(i.reasons) == (name == "off-track")]
    elif name in ("overdue-ours", "overdue-theirs"):
        rows = inbox.overdue_commitments(accesses, today, ours=name == "overdue-ours")
    else:
        rows = [{"review": r, "name": names[r.partnership_id]} for r in inbox.upcoming_reviews(ids, now)]
    page = Paginator(rows, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    shown = inbox.with_reason(page.object_list) if name == "waiting" else list(page.object_list)
    return render(
        request,
        "dashboard/list.html",
        {
            "kind": name,
            "title": LISTS[name],
            "page": page,
            "items": shown,
            "scope": scope,
            "now": now,
        },
    )
