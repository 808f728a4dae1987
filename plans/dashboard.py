"""The dashboard, an inbox: what waits for the person across all their partnerships first (goals
waiting for their side, their overdue commitments, reviews to record), the totals of their
portfolio (each a link to the list it counts, ``dashboard_list``), then every partnership they can
see with its health, trend and next review. Starting a new partnership has its own page, offered
only to people whose organisation acts as a vendor (``User.vendor_organisations``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Expression,
    F,
    FilteredRelation,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Collate
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alignment.access import (
    Access,
    read_standing,
    resolve_many,
    standing_filter,
    standing_ids,
    viewer_side,
    visible_partnerships,
)
from alignment.models import Partnership, Side
from cadence import attention
from cadence.agenda import off_track
from cadence.models import HealthSnapshot, PartnershipAttention
from core.errors import DomainError, NotFound
from core.web import form_errors
from goals.models import Commitment, Goal, GoalStatus, negotiation_state_of
from goals.queries import latest_check_ins
from goals.rules import NEGOTIATING, approved_sides_at, overdue_filter, waiting_reason, waiting_sides

from . import dashboard_rows, inbox, templates_service
from .forms import DashboardFilterForm, PartnershipCreateForm
from .template_forms import template_field

PAGE_SIZE = 20
LIST_PAGE_SIZE = 50


def _sparkline(scores: list[int], width: int = 96, height: int = 24) -> str:
    """SVG polyline points for a small trend of 0-100 scores."""
    if len(scores) < 2:
        return ""
    step = width / (len(scores) - 1)
    return " ".join(f"{i * step:.1f},{height - s * height / 100:.1f}" for i, s in enumerate(scores))


def _waiting_goals(partnership_ids: list[Any], sides: dict[Any, str]) -> dict[Any, list[dict[str, Any]]]:
    """Goals waiting for each partnership's viewer side (``goals.rules``), for a few partnerships
    (two queries), each partnership's in the order of ``inbox.WAITING_ORDER``;
    ``cadence.attention`` counts the same goals for every partnership."""
    pending = list(
        Goal.objects.filter(NEGOTIATING, partnership_id__in=partnership_ids)
        .values(
            "id",
            "partnership_id",
            "title",
            "status",
            "amendment",
            "revision",
            "proposed_by_side",
            "proposed_at",
            "created_at",
        )
        .order_by(*inbox.WAITING_ORDER)
    )
    approved = approved_sides_at({g["id"]: g["revision"] for g in pending})
    waiting: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for g in pending:
        state = negotiation_state_of(g["status"], g["amendment"])
        if sides.get(g["partnership_id"]) in waiting_sides(state, g["proposed_by_side"], approved.get(g["id"], ())):
            waiting[g["partnership_id"]].append(g | {"why": waiting_reason(state)})
    return waiting


def with_membership(user: Any, rows: QuerySet[Any], path: str = "members") -> QuerySet[Any]:
    """The person's membership of each partnership as a join (at most one: unique per person), not a
    subquery run once per partnership, for ``viewer_side`` without the request's standing (joined
    only where the side is read from it). ``path``: the partnership's members from the rows."""
    joined: QuerySet[Any] = rows.alias(membership=FilteredRelation(path, condition=Q(**{f"{path}__user": user})))
    return joined


def _for_viewer(if_vendor: str, if_partner: str) -> Expression:
    """A stored number chosen by the viewer's side: ``if_vendor`` where they are on the vendor
    side, ``if_partner`` where they are on the partner side."""
    return Case(
        When(viewer_side=Side.VENDOR, then=F(if_vendor)),
        default=F(if_partner),
        output_field=IntegerField(),
    )


def sort_name() -> Collate:
    """A partnership's name in Python's order of strings (code points), as before: "C" on
    PostgreSQL (with an index in that order and by id, ``alignment 0013``), SQLite's BINARY."""
    return Collate("name", "C" if connection.vendor == "postgresql" else "BINARY")


def ranked(user: Any, now: dt.datetime) -> QuerySet[Any]:
    """Every partnership the person sees (``visible_partnerships``), as its stored attention row
    (``cadence.models.PartnershipAttention``: every partnership has one), with what the dashboard
    sorts, filters and adds up from it as the person's side sees them. Rows of that table alone:
    each names its partnership's organisations and name, so whom it is visible to, on which side
    and in which order are read without the partnerships (at 10,000 partnerships, EXPLAIN ANALYZE:
    the totals 11.3 ms joined, 5.0 alone; the ranked page 13.4 and 7.5)."""
    standing = standing_ids(user)
    if standing is not None:
        rows = PartnershipAttention.objects.filter(standing_filter(**standing))
    else:  # more memberships than a standing holds: the resolver's subqueries, the membership joined
        rows = with_membership(
            user,
            PartnershipAttention.objects.filter(pk__in=visible_partnerships(user).values("pk")),
            "partnership__members",
        )
    return rows.alias(viewer_side=viewer_side(user)).annotate(
        waiting_count=_for_viewer("waiting_vendor", "waiting_partner"),
        overdue_ours=_for_viewer("overdue_vendor", "overdue_partner"),
        overdue_theirs=_for_viewer("overdue_partner", "overdue_vendor"),
        score=F("health"),
        review_overdue=Case(When(next_review__lt=now, then=Value(True)), default=Value(False)),
        # Python's order of strings (code points), as before: "C" on PostgreSQL, SQLite's BINARY
        sort_name=sort_name(),
    )


def _order(sort: str) -> list[Any]:
    """The SQL of each sort the page offers, most pressing first; the name, then the id break ties."""
    attention = F("waiting_count") + F("overdue_ours") + Case(When(review_overdue=True, then=3), default=0)
    orders: dict[str, list[Any]] = {
        "health": [F("score").asc(), "sort_name"],
        "-health": [F("score").desc(), "sort_name"],
        "review": [F("next_review").asc(nulls_last=True), "sort_name"],
        "attention": [attention.desc(), F("score").asc(), "sort_name"],
    }
    return [*orders.get(sort, ["sort_name"]), "pk"]


def _search(q: str, status: str) -> Q:
    """The dashboard's search (name, partner or vendor) and status filter, of ``ranked``'s rows:
    the partnership's name and status as they are now (the row's copy of the name only sorts)."""
    found = Q()
    needle = q.strip()
    if needle:
        found &= (
            Q(partnership__name__icontains=needle)
            | Q(partner__name__icontains=needle)
            | Q(vendor__name__icontains=needle)
        )
    if status:
        found &= Q(partnership__status=status)
    return found


KEY_FIELDS = ("pk", "name", "score", "next_review", "review_overdue", "waiting_count", "overdue_ours", "overdue_theirs")


def _totals(
    user: Any, portfolio: QuerySet[Any], now: dt.datetime
) -> tuple[inbox.Totals, tuple[Any, ...], list[dict[str, Any]]]:
    """The portfolio's numbers, added up in SQL from the stored rows (two queries), what they
    were read from (when the newest of its rows was stored, how many partnerships and on which
    side: the inbox is cached under it; with the goals waiting for the viewer and their overdue
    commitments where they stand on each side), and the first overdue reviews."""
    soon = now + dt.timedelta(days=inbox.UPCOMING_DAYS)
    # Grouped by the viewer's side, so that the side is worked out once a partnership (two rows):
    # choosing each number by side in SQL cost a CASE per number and partnership.
    by_side = {
        row.pop("side"): row
        for row in portfolio.order_by()
        .annotate(side=F("viewer_side"))
        .values("side")
        .annotate(
            stamp=Max("computed_at"),
            partnerships=Count("pk"),
            **{f"{n}_{side}": Coalesce(Sum(f"{n}_{side}"), 0) for n in ("waiting", "overdue") for side in Side.values},
            agreed=Coalesce(Sum("agreed_goals"), 0),
            current=Coalesce(Sum("current_goals"), 0),
            on_track=Coalesce(Sum("on_track_goals"), 0),
            reviews_overdue=Count("pk", filter=Q(next_review__lt=now)),
            reviews_soon=Count("pk", filter=Q(next_review__gte=now, next_review__lte=soon)),
        )
        .values(
            "side",
            "stamp",
            "partnerships",
            *(f"{n}_{side}" for n in ("waiting", "overdue") for side in Side.values),
            "agreed",
            "current",
            "on_track",
            "reviews_overdue",
            "reviews_soon",
        )
    }
    groups = list(by_side.items())
    sums = {
        key: sum(row[key] for _, row in groups)
        for key in ("partnerships", "agreed", "current", "on_track", "reviews_overdue", "reviews_soon")
    }
    sums["waiting"] = sum(row[f"waiting_{side}"] for side, row in groups)
    sums["overdue_ours"] = sum(row[f"overdue_{side}"] for side, row in groups)
    sums["overdue_theirs"] = sum(row[f"overdue_{Side.other(side)}"] for side, row in groups)
    stamps = [row["stamp"] for _, row in groups if row["stamp"] is not None]
    sums["stamp"] = max(stamps) if stamps else None
    sums["vendor_side"] = by_side.get(Side.VENDOR, {}).get("partnerships", 0)
    soonest = _soonest_reviews(user)
    first = soonest[0] if soonest else None
    state = (sums.pop("stamp"), sums.pop("vendor_side"), sums["partnerships"])
    totals = inbox.Totals(
        **sums,
        next_review={"at": first["next_review"], "pid": first["pk"], "name": first["name"]} if first else None,
    )
    overdue = [{"pid": r["pk"], "name": r["name"], "at": r["next_review"]} for r in soonest if r["next_review"] < now]
    # What waits for the viewer where they stand on each side: the inbox searches only those sides.
    ours = {n: {side: row[f"{n}_{side}"] for side, row in groups} for n in ("waiting", "overdue")}
    return totals, (*state, ours), overdue


def _soonest_reviews(user: Any) -> list[dict[str, Any]]:
    """The next reviews, soonest first (then by name and id): the first is the portfolio's next
    review, and the overdue ones come first. Read off indexes instead of sorting every visible
    partnership: the times of the first ``INBOX_SIZE`` (the next review's index, walked in order
    until that many visible ones are found); the few due before the last of those times; and as
    many of those due at it as are missing, in the order of names (an index in that order on
    PostgreSQL: reviews fall on one instant in many plans, a cadence's day at its time). On
    10,000 partnerships, 5,000 of them due at the first instant: 19 ms of SQL for the sort, under 1 ms
    for the three reads (4 ms with building them)."""
    # Of the visible partnerships, without ``ranked``'s numbers by side: building those into each of
    # the three statements cost more than running them.
    reviewed = (
        visible_partnerships(user)
        .filter(attention__next_review__isnull=False)
        .annotate(next_review=F("attention__next_review"), sort_name=sort_name())
    )
    times = list(
        reviewed.order_by("attention__next_review").values_list("attention__next_review", flat=True)[: inbox.INBOX_SIZE]
    )
    if not times:
        return []
    last = times[-1]
    fields = ("pk", "name", "next_review")
    before = list(
        reviewed.filter(attention__next_review__lt=last).order_by("next_review", "sort_name", "pk").values(*fields)
    )
    at_last = reviewed.filter(attention__next_review=last).order_by("sort_name", "pk").values(*fields)
    return before + list(at_last[: len(times) - len(before)])


INBOX_FORMAT = 1


def _cached_inbox(
    user: Any, portfolio: QuerySet[Any], totals: inbox.Totals, state: tuple[Any, ...], today: dt.date
) -> tuple[list[dict[str, Any]], list[Commitment]]:
    """``_inbox`` through the cache, keyed by the person, the state of their portfolio's stored rows
    (every change of a plan stores its row again after the commit, with a newer ``computed_at``;
    beat stores every row hourly), the day and the language. The state is read before the inbox's
    data, so an inbox cached under it is never older than the rows it names."""
    seconds = getattr(settings, "HEALTH_CACHE_SECONDS", 3600)
    stamp, vendor_side, count, ours = state
    if seconds <= 0:
        return _inbox(portfolio, totals, today, ours)
    moment = stamp.isoformat() if stamp else "-"
    key = f"dashboard-inbox:{INBOX_FORMAT}:{user.pk}:{moment}:{vendor_side}:{count}:{today.isoformat()}"
    key += f":{translation.get_language()}"
    found = cache.get(key)
    if found is None:
        found = _inbox(portfolio, totals, today, ours)
        cache.set(key, found, seconds)
    return cast(tuple[list[dict[str, Any]], list[Commitment]], found)


def _waiting_key(goal: dict[str, Any]) -> tuple[Any, ...]:
    """``inbox.WAITING_ORDER`` of a goal's values: never proposed last."""
    proposed = goal["proposed_at"]
    return (
        proposed is None,
        proposed or dt.datetime.min.replace(tzinfo=dt.UTC),
        goal["partnership_id"],
        goal["created_at"],
        goal["id"],
    )


def _first_partnerships(portfolio: QuerySet[Any], count: str, first: str, ours: dict[str, int]) -> dict[str, list[Any]]:
    """The partnerships to search for the first ``INBOX_SIZE`` items across the portfolio, by the
    viewer's side: for each side where something is theirs (``ours``: the totals' counts by side),
    of the partnerships where they stand on it and its ``count`` is not zero, the ``INBOX_SIZE``
    whose stored ``first`` is earliest (the partnership breaking ties, as in the items' order: six
    partnerships that come before an item's partnership each hold an item before it; a side's six
    with the other's are more than needed, never fewer), and those whose first is unknown (only
    goals under negotiation that were never proposed, edited by hand: rare, and last in the order,
    so searched without ranking them). Per side the numbers are plain columns, so the earliest are
    read off an index in order (``cadence 0006``, partial on ``count > 0``) until six visible ones
    on that side are found, instead of ranking every visible partnership (35 ms a kind at 10,000,
    a cold dashboard's largest cost). Two short queries a side that has any."""
    by_side: dict[str, list[Any]] = {side: [] for side in Side.values}
    for side in Side.values:
        if not ours.get(side):
            continue
        column = f"{first}_{side}"
        mine = portfolio.filter(viewer_side=side, **{f"{count}_{side}__gt": 0})
        earliest = mine.filter(**{f"{column}__isnull": False}).order_by(column, "pk")[: inbox.INBOX_SIZE]
        unknown = mine.filter(**{f"{column}__isnull": True})
        by_side[side] = [*earliest.values_list("pk", flat=True), *unknown.values_list("pk", flat=True)]
    return by_side


def _inbox(
    portfolio: QuerySet[Any], totals: inbox.Totals, today: dt.date, ours: dict[str, dict[str, int]]
) -> tuple[list[dict[str, Any]], list[Commitment]]:
    """The first goals waiting for the person's side and their side's first overdue commitments,
    across the portfolio. Only the few partnerships whose stored first waiting goal (or first
    overdue commitment) of the viewer's side is earliest are searched, each for its viewer's side
    (at most seven queries, none when nothing waits): on 10,000 partnerships, searching every
    partnership that waits took 1.2 s."""
    waiting: list[dict[str, Any]] = []
    overdue: list[Commitment] = []
    if totals.waiting:
        near = _first_partnerships(portfolio, "waiting", "first_waiting", ours["waiting"])
        sides = {pid: side for side, ids in near.items() for pid in ids}
        # Goal by goal here, as the rows' goals are: a waiting filter in SQL hashes every approval
        # of the database (``NOT EXISTS`` under ``OR``), whatever the few partnerships searched.
        candidates = [g for goals in _waiting_goals(list(sides), sides).values() for g in goals]
        first_goals = [g["id"] for g in sorted(candidates, key=_waiting_key)[: inbox.INBOX_SIZE]]
        goals = Goal.objects.select_related("partnership").in_bulk(first_goals)
        waiting = inbox.with_reason(goals[pk] for pk in first_goals)
    if totals.overdue_ours:
        q = Q(pk__in=[])
        for side, ids in _first_partnerships(portfolio, "overdue", "first_overdue", ours["overdue"]).items():
            if ids:
                q |= Q(goal__partnership_id__in=ids, side=side)
        # Keys first, all of them, ordered here: with the order and a limit in SQL, PostgreSQL walks
        # the index on due dates through every overdue commitment of the database instead.
        keys = Commitment.objects.filter(overdue_filter(today) & q).values_list(
            "due_date", "goal__partnership_id", "pk"
        )
        first_commitments = [pk for *_, pk in sorted(keys)[: inbox.INBOX_SIZE]]
        commitments = Commitment.objects.select_related("goal", "goal__partnership", "owner").in_bulk(first_commitments)
        overdue = [commitments[pk] for pk in first_commitments]
    return waiting, overdue


def dashboard(request: HttpRequest) -> HttpResponse:
    """Every partnership the person can see, with health, trend, next review, goals waiting for their
    side and overdue commitments; filtered, sorted, paginated, in a constant number of queries.

    The portfolio is ranked, filtered, counted and added up in SQL on the stored attention numbers
    (``cadence.attention``), whatever its size; what is shown — names, accesses, waiting goal
    titles, trends — is loaded for the page's partnerships only."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    user = request.user
    filters = DashboardFilterForm(request.GET or None)
    params = filters.cleaned_data if filters.is_valid() else {}
    now = timezone.now()
    today = timezone.localdate(now)
    attention.flush_pending()  # a change of this very transaction, not committed yet
    # Read once, the person's memberships and organisations are named outright in the page's
    # statements (arrays on PostgreSQL) and answer the page's accesses: a comparison a partnership
    # where a join and a subquery per partnership cost a third of the ranked page at 10,000.
    read_standing(user)
    portfolio = ranked(user, now)
    # The inbox and the totals are of every partnership the person sees, whatever the filters.
    totals, state, reviews_overdue = _totals(user, portfolio, now)
    waiting, overdue = _cached_inbox(user, portfolio, totals, state, today)
    filtered = bool(params.get("q") or params.get("status") or params.get("waiting"))
    listed = portfolio.filter(_search(params.get("q") or "", params.get("status") or ""))
    if params.get("waiting"):
        listed = listed.filter(waiting_count__gt=0)
    listed = listed.order_by(*_order(params.get("sort") or "attention")).values(*KEY_FIELDS, "started")
    paginator = Paginator(listed, PAGE_SIZE)
    if not filtered:
        paginator.count = totals.partnerships  # the same partnerships, counted with the totals
    page = paginator.get_page(request.GET.get("page"))
    found = list(page.object_list)
    started = {k["pk"]: bool(k.pop("started")) for k in found}
    by_id = Partnership.objects.select_related("vendor", "partner").in_bulk([k["pk"] for k in found])
    accesses = resolve_many(user, list(by_id.values()))
    keys = [k for k in found if k["pk"] in accesses]  # access lost since the page was counted

    def rows(keys: list[dict[str, Any]], accesses: dict[Any, Access]) -> list[dict[str, Any]]:
        return _page_rows(keys, accesses, by_id, started)

    page.object_list = dashboard_rows.page_rows(keys, by_id, accesses, now, rows)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filters": filters,
        "filtered": filtered,
        "page": page,
        "rows": page.object_list,
        "total": page.paginator.count,
        "query": query.urlencode(),
        "totals": totals,
        "waiting": waiting,
        "overdue": overdue,
        "reviews_overdue": reviews_overdue,
        "acts_as_vendor": user.acts_as_vendor,
        "upcoming_days": inbox.UPCOMING_DAYS,
    }
    return render(request, "dashboard/index.html", context)


def _page_rows(
    keys: list[dict[str, Any]],
    accesses: dict[Any, Access],
    partnerships: dict[Any, Partnership],
    started: dict[Any, bool],
) -> list[dict[str, Any]]:
    """What the page shows of its partnerships, in the order of ``keys`` (a fixed number of queries)."""
    page_ids = [k["pk"] for k in keys]
    if not page_ids:
        return []
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
                "started": started[p.pk],
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
    form.fields["template"] = template_field(request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                p, _applied = templates_service.partnership_create_from_template(
                    actor=request.user, template_ref=form.cleaned_data.get("template") or "", **form.service_kwargs()
                )
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
