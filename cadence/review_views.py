"""Browser pages for alignment reviews and the log of the e-mails sent for a partnership.

Thin: every page resolves the person's access to the partnership first (outsiders 404, members
without the role 403), then calls a service or a read. ``DomainError`` becomes HTTP in one place,
``core.web.domain_errors``.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.tz import do_timezone
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from alignment import services
from alignment.access import Access, resolve
from alignment.models import AlignmentReview, PartnershipMember, ReviewComment, Side
from alignment.review_comments import review_comment_create
from alignment.schedule import keep_next_review_scheduled, localize, upcoming
from core.errors import DomainError, InvalidInput, NotAllowed, NotFound
from core.models import MailKind, OutboxMessage
from core.web import domain_errors

from . import pulse
from . import services as review_services
from .agenda import build_agenda

MAX_TEXT = 20000
DELIVERY_LOG_SIZE = 200


def _review(access: Access, review_id: Any) -> AlignmentReview:
    review = (
        AlignmentReview.objects.filter(partnership=access.partnership, pk=_uuid(review_id))
        .prefetch_related("attendees")
        .first()
    )
    if review is None:
        raise NotFound(_("No such review."))
    return review


def _uuid(value: Any) -> Any:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise NotFound(_("No such review.")) from exc


def _zone(access: Access) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(access.partnership.timezone)


def _text(request: HttpRequest, name: str, limit: int = MAX_TEXT) -> str:
    value = request.POST.get(name, "")
    if "\x00" in value:
        raise InvalidInput(_("Text cannot contain NUL characters."), fields={name: [_("Remove the NUL character.")]})
    if len(value) > limit:
        raise InvalidInput(
            _("%(field)s is too long (at most %(limit)s characters).")
            % {"field": name.replace("_", " ").capitalize(), "limit": limit},
            fields={name: [_("At most %(limit)s characters.") % {"limit": limit}]},
        )
    return value.strip()


def _version(request: HttpRequest) -> int | None:
    raw = request.POST.get("version", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput(_("The version must be a whole number."), fields={"version": [_("Expected a number.")]})
    return int(raw)


def _members(access: Access) -> dict[str, list[PartnershipMember]]:
    by_side: dict[str, list[PartnershipMember]] = {Side.VENDOR: [], Side.PARTNER: []}
    for m in (
        PartnershipMember.objects.filter(partnership=access.partnership)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    ):
        by_side[m.side].append(m)
    return by_side


# --- Reviews --------------------------------------------------------------------------------


@login_required
@domain_errors
@require_http_methods(["GET", "POST"])
def review_list(request: HttpRequest, partnership_id: Any) -> HttpResponse:
    """The reviews of a partnership: what is scheduled, the cadence ahead, and the past."""
    access = resolve(request.user, partnership_id)
    if request.method == "POST":
        access.require_edit("schedule reviews")
        review = services.review_schedule(access=access)
        return redirect("reviews:detail", access.partnership.pk, review.pk)
    reviews = list(AlignmentReview.objects.filter(partnership=access.partnership).order_by("-scheduled_for"))
    scheduled = sorted(
        (r for r in reviews if r.status == AlignmentReview.Status.SCHEDULED), key=lambda r: r.scheduled_for
    )
    past = [r for r in reviews if r.status != AlignmentReview.Status.SCHEDULED]
    # The rhythm after what is already on the calendar (as the sweep would schedule it).
    latest = max((r.occurrence for r in reviews if r.occurrence), default=None)
    after = max(timezone.now(), latest) if latest else timezone.now()
    return render(
        request,
        "reviews/list.html",
        {
            "access": access,
            "partnership": access.partnership,
            "scheduled": scheduled,
            "past": past,
            "cadence_ahead": upcoming(access.partnership, 4, after),
            "zone": access.partnership.timezone,
        },
    )


@login_required
@domain_errors
@require_http_methods(["GET"])
def review_detail(request: HttpRequest, partnership_id: Any, review_id: Any) -> HttpResponse:
    access = resolve(request.user, partnership_id)
    review = _review(access, review_id)
    return _render_detail(request, access, review)


def _render_detail(
    request: HttpRequest,
    access: Access,
    review: AlignmentReview,
    *,
    status: int = 200,
    error: DomainError | None = None,
    form: dict[str, Any] | None = None,
    pulse_form: dict[str, Any] | None = None,
) -> HttpResponse:
    zone = _zone(access)
    agenda = build_agenda(access.partnership, review) if review.status == AlignmentReview.Status.SCHEDULED else None
    attendee_ids = {u.pk for u in review.attendees.all()}
    # A review recorded late was most likely held on its own day; one not yet due is recorded today.
    today = timezone.now().astimezone(zone).date()
    form = form or {
        "held_on": min(review.scheduled_for.astimezone(zone).date(), today).isoformat(),
        "attendees": attendee_ids,
        "other_attendees": review.other_attendees,
        "notes": review.notes,
        "decisions": review.decisions,
        "scheduled_for": review.scheduled_for.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
    }
    return render(
        request,
        "reviews/detail.html",
        {
            "access": access,
            "partnership": access.partnership,
            "review": review,
            "agenda": agenda,
            "members": _members(access),
            "form": form,
            "error": error,
            "zone": access.partnership.timezone,
            "local_time": do_timezone(review.scheduled_for, zone),
            "attendees": review.attendees.all(),
            "is_past_due": review.scheduled_for <= timezone.now(),
            "comments": ReviewComment.objects.filter(review=review).select_related("author").order_by("created_at"),
            **_pulse_context(access, review, pulse_form),
        },
        status=status,
    )


def _pulse_context(access: Access, review: AlignmentReview, form: dict[str, Any] | None) -> dict[str, Any]:
    """The pulse of the review for the reader: their form, the results side by side, the trend."""
    results = pulse.pulse_results(access, review)
    trend = pulse.pulse_trend(access.partnership) if review.status != AlignmentReview.Status.SKIPPED else []
    own = results.own
    values = form or ({q: getattr(own, q) for q in pulse.QUESTIONS} | {"note": own.note} if own else {})
    failed: DomainError | None = form.get("error") if form else None
    lines = pulse.trend_lines(trend)
    return {
        "pulse": results,
        "pulse_rows": results.rows(),
        "pulse_questions": [
            {
                "name": q,
                "label": text[0],
                "low": text[1],
                "high": text[2],
                "value": str(values.get(q, "")),
                "error": failed.fields.get(q) if failed else None,
            }
            for q, text in pulse.QUESTION_TEXT.items()
        ],
        "pulse_error": failed,
        "pulse_note": values.get("note", ""),
        "pulse_scale": list(pulse.SCALE),
        "pulse_counts": (results.counts[access.side], results.counts[access.other_side]),
        "pulse_trend": [(p.held_on, p.means[access.side], p.means[access.other_side]) for p in trend],
        "pulse_lines": (lines[access.side], lines[access.other_side]),
        "own_org": access.partnership.organisation_for(access.side).name,
        "other_org": access.partnership.organisation_for(access.other_side).name,
    }


@login_required
@domain_errors
@require_POST
def review_hold(request: HttpRequest, partnership_id: Any, review_id: Any) -> HttpResponse:
    """Record the review as held (``cadence.services.review_hold`` snapshots goals and
    schedules the next one)."""
    access = resolve(request.user, partnership_id)
    access.require_edit("record reviews")
    review = _review(access, review_id)
    form: dict[str, Any] = {
        "held_on": request.POST.get("held_on", ""),
        "attendees": set(request.POST.getlist("attendees")),
        "other_attendees": request.POST.get("other_attendees", "")[:MAX_TEXT],
        "notes": request.POST.get("notes", "")[:MAX_TEXT],
        "decisions": request.POST.get("decisions", "")[:MAX_TEXT],
        "scheduled_for": review.scheduled_for.astimezone(_zone(access)).strftime("%Y-%m-%dT%H:%M"),
    }
    try:
        try:
            held_on = dt.date.fromisoformat(form["held_on"])
        except ValueError as exc:
            raise InvalidInput(
                _("Give the day the review was held (YYYY-MM-DD)."), fields={"held_on": [_("Enter a valid date.")]}
            ) from exc
        ids = [i for i in form["attendees"] if i.isdigit() and len(i) < 12]
        if len(ids) != len(form["attendees"]):
            raise InvalidInput(
                _("Attendees must be members of this partnership."), fields={"attendees": [_("Unknown.")]}
            )
        people = list(User.objects.filter(pk__in=ids))
        if len(people) != len(ids):
            raise InvalidInput(
                _("Attendees must be members of this partnership."), fields={"attendees": [_("Unknown.")]}
            )
        review_services.review_hold(
            access=access,
            review_id=review.pk,
            held_on=held_on,
            attendees=people,
            other_attendees=_text(request, "other_attendees", 2000),
            notes=_text(request, "notes"),
            decisions=_text(request, "decisions"),
            expected_version=_version(request),
        )
    except DomainError as exc:
        if isinstance(exc, NotAllowed | NotFound):
            raise
        form["attendees"] = {int(i) for i in form["attendees"] if i.isdigit() and len(i) < 12}
        review.refresh_from_db()
        return _render_detail(request, access, review, status=exc.status, error=exc, form=form)
    return redirect("reviews:detail", access.partnership.pk, review.pk)


@login_required
@domain_errors
@require_POST
def review_move(request: HttpRequest, partnership_id: Any, review_id: Any) -> HttpResponse:
    """Move a scheduled review to another local time (in the partnership's zone)."""
    access = resolve(request.user, partnership_id)
    access.require_edit("move reviews")
    review = _review(access, review_id)
    raw = request.POST.get("scheduled_for", "")
    try:
        try:
            local = dt.datetime.fromisoformat(raw)
        except ValueError as exc:
            raise InvalidInput(
                _("Give the new date and time of the review."),
                fields={"scheduled_for": [_("Enter a valid date and time.")]},
            ) from exc
        if local.tzinfo is not None:
            raise InvalidInput(
                _("Give a local time without a zone."), fields={"scheduled_for": [_("Local time only.")]}
            )
        services.review_update(
            access=access,
            review_id=review.pk,
            expected_version=_version(request),
            scheduled_for=localize(local, _zone(access)),
        )
    except DomainError as exc:
        if isinstance(exc, NotAllowed | NotFound):
            raise
        return _render_detail(request, access, review, status=exc.status, error=exc)
    return redirect("reviews:detail", access.partnership.pk, review.pk)


@login_required
@domain_errors
@require_POST
def review_skip(request: HttpRequest, partnership_id: Any, review_id: Any) -> HttpResponse:
    """Skip a scheduled review; the next sweep schedules the cadence's following occurrence."""
    access = resolve(request.user, partnership_id)
    access.require_edit("skip reviews")
    review = _review(access, review_id)
    try:
        services.review_skip(access=access, review_id=review.pk, expected_version=_version(request))
    except DomainError as exc:
        if isinstance(exc, NotAllowed | NotFound):
            raise
        return _render_detail(request, access, review, status=exc.status, error=exc)
    keep_next_review_scheduled()
    return redirect("reviews:list", access.partnership.pk)


@login_required
@domain_errors
@require_POST
def review_comment(request: HttpRequest, partnership_id: Any, review_id: Any) -> HttpResponse:
    """Comment on a review: any member, viewers included (as on goals)."""
    access = resolve(request.user, partnership_id)
    review = _review(access, review_id)
    try:
        review_comment_create(access=access, review_id=review.pk, body=_text(request, "body", 10000))
    except DomainError as exc:
        if isinstance(exc, NotAllowed | NotFound):
            raise
        return _render_detail(request, access, review, status=exc.status, error=exc)
    return redirect(reverse("reviews:detail", args=[access.partnership.pk, review.pk]) + "#comments-h")


@login_required
@domain_errors
@require_POST
def review_pulse(request: HttpRequest, partnership_id: Any, review_id: Any) -> HttpResponse:
    """Give or change one's own relationship pulse at a review (``cadence.pulse``)."""
    access = resolve(request.user, partnership_id)
    review = _review(access, review_id)
    answers = {q: request.POST.get(q, "")[:10] for q in pulse.QUESTIONS}
    try:
        pulse.pulse_answer(
            access=access,
            review_id=review.pk,
            answers=answers,
            note=_text(request, "note", pulse.NOTE_LIMIT),
            expected_version=_version(request),
        )
    except DomainError as exc:
        if isinstance(exc, NotAllowed | NotFound):
            raise
        form: dict[str, Any] = answers | {"note": request.POST.get("note", "")[: pulse.NOTE_LIMIT], "error": exc}
        return _render_detail(request, access, review, status=exc.status, error=exc, pulse_form=form)
    return redirect(reverse("reviews:detail", args=[access.partnership.pk, review.pk]) + "#pulse-h")


# --- Delivery log ---------------------------------------------------------------------------


@login_required
@domain_errors
@require_http_methods(["GET"])
def delivery_log(request: HttpRequest, partnership_id: Any) -> HttpResponse:
    """Every e-mail the product queued for this partnership — invitations (also to addresses
    without an account), negotiation e-mails, reminders — with its recipient, status, attempts and
    the last error; filtered by status and kind. Vendor admins only."""
    access = resolve(request.user, partnership_id)
    if not (access.is_org_admin and access.side == Side.VENDOR):
        raise NotAllowed(_("Only admins of the vendor organisation can see the e-mail log."))
    status = request.GET.get("status", "")
    kind = request.GET.get("kind", "")
    everything = OutboxMessage.objects.filter(partnership_id=access.partnership.pk)
    rows = everything.select_related("recipient")
    if status in OutboxMessage.Status.values:
        rows = rows.filter(status=status)
    else:
        status = ""
    if kind in MailKind.values:
        rows = rows.filter(kind=kind)
    else:
        kind = ""
    shown = list(rows.order_by("-created_at")[:DELIVERY_LOG_SIZE])
    return render(
        request,
        "reviews/deliveries.html",
        {
            "access": access,
            "partnership": access.partnership,
            "rows": shown,
            "status": status,
            "kind": kind,
            "statuses": OutboxMessage.Status.choices,
            "kinds": MailKind.choices,
            "limit": DELIVERY_LOG_SIZE,
            # Whether anything was ever queued: an empty filter says "none match", not "none sent".
            "any_sent": bool(shown) or (bool(status or kind) and everything.exists()),
        },
    )
