"""``GET /api/v1/partnerships/{id}/plan``: the whole joint plan in one document, in a fixed number
of queries, with the feed cursor to follow changes from."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, HttpResponseNotModified
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from alignment.access import Access
from alignment.changes import cache_hour, plan_generations
from alignment.economics import has_private_figures
from alignment.models import AlignmentReview, Driver, Objective, PartnershipMember, Vision, VisionEndorsement
from cadence.attention import plan_attention
from cadence.health import health_for
from goals.models import Approval, CheckIn, Comment, Commitment, Goal, GoalRevision

from .. import serializers as out
from ..feed import collector_paused, current_position, encode_cursor
from ..plan_document import (
    APPROVAL_ORDER,
    CHECK_IN_ORDER,
    COMMENT_ORDER,
    COMMITMENT_ORDER,
    GOAL_ORDER,
    plan_balance,
    public_owners,
    shared_document,
    visible_figures_in_order,
)
from ..plan_updates import (
    current,
    forget,
    keep_copy,
    plan_json,
    shared_digest,
    shows_private_figure,
)
from ..renderers import FastJSON, JSONRenderer
from ..resources import PARTNERSHIPS, load
from .balance import BalanceOut
from .base import ApiView
from .pulse import HeldPulseOut, held_pulses_out

# In the cache key of the shared document: bumped whenever the document's shape changes, so a
# release never serves a document cached by the one before it.
DOCUMENT_FORMAT = 5


class AccessOut(serializers.Serializer[Any]):
    side = serializers.CharField()
    role = serializers.CharField()
    can_edit = serializers.BooleanField()
    can_approve = serializers.BooleanField()
    can_manage = serializers.BooleanField()


class HealthComponentOut(serializers.Serializer[Any]):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named "label", not Field.label (DRF moves declared fields off the class)
    weight = serializers.IntegerField()
    score = serializers.FloatField()
    points = serializers.FloatField()
    explanation = serializers.CharField()


class HealthOut(serializers.Serializer[Any]):
    score = serializers.IntegerField()
    components = HealthComponentOut(many=True)


class SideCountsOut(serializers.Serializer[Any]):
    vendor = serializers.IntegerField()
    partner = serializers.IntegerField()


class SideGoalsOut(serializers.Serializer[Any]):
    vendor = serializers.ListField(child=serializers.UUIDField())
    partner = serializers.ListField(child=serializers.UUIDField())


class AttentionOut(serializers.Serializer[Any]):
    waiting = SideCountsOut(
        help_text="How many goals wait for each side: a proposal it has not approved, or a "
        "revision it proposed that was sent back with changes requested."
    )
    waiting_goals = SideGoalsOut(help_text="The ids of those goals, in the order of the plan's goals.")
    overdue = SideCountsOut(help_text="Commitments of agreed goals past their due date and not done, per side.")
    next_review = serializers.DateTimeField(
        allow_null=True, help_text="The earliest review still scheduled (it may be overdue by up to 60 days)."
    )


class PlanOut(serializers.Serializer[Any]):
    cursor = serializers.CharField(
        help_text="Follow GET /api/v1/changes?since=<cursor> from here. The newest change both sides see: "
        "changes only your side sees that are newer (your private figures, your pulse answers) come again."
    )
    access = AccessOut()
    partnership = out.PartnershipOut()
    vision = out.VisionOut(allow_null=True)
    endorsements = out.VisionEndorsementOut(many=True, help_text="Of the vision's current revision.")
    members = out.MemberOut(many=True)
    objectives = out.ObjectiveOut(many=True)
    goals = out.GoalOut(many=True)
    agreed_revisions = out.AgreedRevisionOut(many=True, help_text="Terms in force of goals with a pending amendment.")
    approvals = out.ApprovalOut(many=True)
    commitments = out.CommitmentOut(many=True)
    check_ins = out.CheckInOut(many=True)
    comments = out.CommentOut(many=True)
    reviews = out.ReviewOut(many=True)
    drivers = out.DriverOut(many=True, help_text="Both sides' business drivers.")
    driver_figures = out.DriverFigureOut(
        many=True, help_text="Your side's figures and those the other side shared with yours."
    )
    health = HealthOut()
    attention = AttentionOut(help_text="What waits for whom: the numbers the dashboard and the digest show.")
    balance = BalanceOut(
        help_text="The give/get balance of the current quarter, and in quarters of the last four (oldest first): "
        "what GET /api/v1/partnerships/{id}/balance answers. The same for both sides."
    )
    pulse = HeldPulseOut(
        many=True,
        help_text="The relationship pulse of each held review that has answers, oldest first: both sides' means, "
        "gaps, counts and notes, as GET /api/v1/reviews/{id}/pulse shows either side once the review is held. "
        "Reviews not held yet are left out (their results depend on who reads).",
    )


def plan_document(access: Access) -> dict[str, Any]:
    """The plan for ``PlanOut``: its reference rendering (``shared_plan`` builds the same from rows)."""
    p = access.partnership
    # The cursor is taken before anything is read: every later change is replayed from the feed.
    cursor = encode_cursor(current_position(p.pk))
    vision = Vision.objects.filter(partnership=p).first()
    goals = list(Goal.objects.filter(partnership=p).select_related("created_by").order_by(*GOAL_ORDER))
    amended = [(g.pk, g.agreed_revision) for g in goals if g.has_pending_amendment]
    agreed_revisions = []
    if amended:
        wanted = dict(amended)
        agreed_revisions = public_owners(
            [
                {"id": r.id, "goal_id": r.goal_id, "number": r.number, "terms": r.terms, "commitments": r.commitments}
                for r in GoalRevision.objects.filter(goal_id__in=wanted)
                if wanted[r.goal_id] == r.number
            ]
        )
    now = timezone.now()
    report = health_for([p], now)[p.pk]
    return {
        "cursor": cursor,
        "access": access_document(access),
        "partnership": p,
        "vision": vision,
        "endorsements": (
            VisionEndorsement.objects.filter(vision=vision, revision=vision.revision).select_related("user")
            if vision
            else []
        ),
        "members": PartnershipMember.objects.filter(partnership=p)
        .select_related("user")
        .order_by("side", "created_at"),
        "objectives": Objective.objects.filter(partnership=p),
        "goals": goals,
        "agreed_revisions": agreed_revisions,
        "approvals": Approval.objects.filter(goal__partnership=p).select_related("user").order_by(*APPROVAL_ORDER),
        "commitments": Commitment.objects.filter(goal__partnership=p)
        .select_related("owner")
        .order_by(*COMMITMENT_ORDER),
        "check_ins": CheckIn.objects.filter(goal__partnership=p)
        .select_related("author", "reviewed_by")
        .order_by(*CHECK_IN_ORDER),
        "comments": Comment.objects.filter(goal__partnership=p).select_related("author").order_by(*COMMENT_ORDER),
        "reviews": AlignmentReview.objects.filter(partnership=p).prefetch_related("attendees"),
        "drivers": Driver.objects.filter(partnership=p),
        "driver_figures": visible_figures_in_order(access).select_related("entered_by"),
        "health": {"score": report.score, "components": report.as_json()},
        "attention": plan_attention(
            [
                {
                    "id": g.pk,
                    "status": g.status,
                    "amendment": g.amendment,
                    "revision": g.revision,
                    "proposed_by_side": g.proposed_by_side,
                }
                for g in goals
            ],
            Approval.objects.filter(goal__partnership=p).values("goal", "revision", "side"),
            Commitment.objects.filter(goal__partnership=p).values("goal", "side", "done", "placeholder", "due_date"),
            AlignmentReview.objects.filter(partnership=p).values("status", "scheduled_for"),
            now,
            timezone.localdate(now),
        ),
        "balance": plan_balance(p.pk, now),
        "pulse": held_pulses_out(p.pk),
    }


class PlanView(ApiView):
    conditional_get = True

    @extend_schema(
        tags=["partnerships"],
        responses=PlanOut,
        summary="The whole joint plan in one document",
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
    )
    def get(self, request: Request, pk: str) -> HttpResponse:
        _partnership, access = load(PARTNERSHIPS, request.user, pk)
        asked = request.headers.get("If-None-Match")
        # A client that has the document asks with its tag: answered from the tag alone when it is
        # known, without reading the document (some 3 MB for a plan of 500 goals) from the cache.
        where = document_key(access)
        tag = known_tag(access, where) if asked else None
        body = None
        later: list[Callable[[], object]] = []
        if tag is None or not _matches(asked or "", tag):
            body, tag = cached_plan(access, where, tag_unknown=bool(asked) and tag is None, later=later)
        response: HttpResponse
        if asked and _matches(asked, tag):
            response = HttpResponseNotModified()
        else:
            response = HttpResponse(body, content_type="application/json")
        response["ETag"] = tag
        response["Cache-Control"] = "private, no-cache"
        for action in later:
            after_sent(response, action)
        return response


logger = logging.getLogger(__name__)


def after_sent(response: HttpResponse, action: Callable[[], object]) -> None:
    """Run ``action`` when the response is closed: a WSGI server closes it after its last byte is
    sent, so the caller does not wait for it. A failure is logged (the answer is already out)."""

    def run() -> None:
        try:
            action()
        except Exception:
            logger.exception("After the plan document was sent, sharing it failed")

    # What ``HttpResponseBase.close`` runs before it signals ``request_finished`` (how a file
    # response closes its file); the stubs do not declare it.
    response._resource_closers.append(run)  # type: ignore[attr-defined]


def cached_plan(
    access: Access,
    where: DocumentKey | None = None,
    *,
    tag_unknown: bool = False,
    later: list[Callable[[], object]] | None = None,
) -> tuple[bytes, str]:
    """The plan document as JSON bytes and its ETag.

    Everything but the caller's own ``access`` is built and rendered once per change of the plan
    (and hour, for its health) and shared by every member. ``record_change`` gives the plan a new
    generation on every write, so a cached document never outlives a change; its ``cursor`` was
    taken before it was read, so following the feed from it replays anything newer. The caller's
    ``access`` is spliced into the cached bytes, so a request for a cached plan renders only that.

    ``where``: the ``document_key`` the caller read already; ``tag_unknown``: ``known_tag`` found
    no digest (a document cached before digests were), which is then cached beside the document.
    ``later``: where to put the writing of a document this process made to the shared cache (some
    3 MB for a plan of 500 goals), and of an updated document's health for the dashboard
    (``plan_updates.plan_json``), to run after the answer is sent (``after_sent``); without it,
    both are written at once. Until the document is there, another process asking for the plan makes
    it from its own kept copy (``plan_updates``) or whole: the key names the plan's generation, so
    a late write is never a stale document."""
    seconds = settings.HEALTH_CACHE_SECONDS
    where = where or document_key(access)
    key, kept, generation, hour = where.key, where.kept, where.generation, where.hour
    cached = current(kept, generation, hour) if seconds > 0 else None
    if cached is None and seconds > 0:
        cached = cache.get(key)
        if cached is not None:
            keep_copy(kept, generation, hour, *cached)
            if tag_unknown:
                cache.set(key + DIGEST_SUFFIX, cached[1], seconds)
    if cached is None:
        if seconds > 0 and timezone.get_current_timezone_name() == "UTC":
            # Updated for what changed since this process last made it.
            with collector_paused():
                side = None if where.audience == "both" else access.side
                cached = plan_json(access, kept, generation, hour, side=side, later=later)
        else:
            shared = shared_plan(access, generation)
            cached = (shared, shared_digest(shared))
        if where.audience == "both" and shows_private_figure(kept, cached[0]):
            # A figure was made private while the document was read: it is one side's document now.
            forget(kept)
            return cached_plan(access, document_key(access, per_side=True), later=later)
        if seconds > 0:
            # The digest on its own as well, for ``known_tag``.
            share = functools.partial(cache.set_many, {key: cached, key + DIGEST_SUFFIX: cached[1]}, seconds)
            if later is None:
                share()
            else:
                later.append(share)
    shared, digest = cached
    own = access_document(access)
    body = b"".join((b'{"access":', JSONRenderer().render(own), b",", memoryview(shared)[1:]))  # one copy
    return body, _tag(digest, own)


DIGEST_SUFFIX = ":digest"


class DocumentKey(NamedTuple):
    key: str  # the shared cache's key of the document
    kept: str  # the key this process keeps the plan's document under (``api.plan_updates``)
    generation: str
    hour: str
    audience: str  # "both", or the side whose document it is


def document_key(access: Access, *, per_side: bool = False) -> DocumentKey:
    """Where the plan's document for this caller is cached: its plan's generation and the hour, and
    whose it is. Each side's document holds its own private figures (``driver_figures``): the sides
    share one only while neither has any."""
    p = access.partnership
    generation, hour = plan_generations([p.pk])[p.pk], cache_hour(timezone.now())
    audience = access.side if per_side or has_private_figures(p) else "both"
    key = f"plan-document-json:{DOCUMENT_FORMAT}:{p.pk}:{audience}:{generation}:{hour}"
    return DocumentKey(key, key.rsplit(":", 2)[0], generation, hour, audience)


def known_tag(access: Access, where: DocumentKey) -> str | None:
    """The ETag ``cached_plan`` gives, if the document at ``where`` was made already (by this
    process, or by any: its digest is cached beside it), else None."""
    if settings.HEALTH_CACHE_SECONDS <= 0:
        return None
    made = current(where.kept, where.generation, where.hour)
    digest = made[1] if made is not None else cache.get(where.key + DIGEST_SUFFIX)
    return None if digest is None else _tag(digest, access_document(access))


def _tag(digest: str, own: dict[str, Any]) -> str:
    """The tag changes exactly when the bytes do: the digest of the shared part, and the caller's access."""
    return '"plan-{}-{}"'.format(
        digest, "".join(str(int(own[k])) if isinstance(own[k], bool) else str(own[k]) for k in ACCESS_KEYS)
    )


def shared_plan(access: Access, generation: str | None = None) -> bytes:
    """The plan document without the caller's ``access``, rendered.

    Built from rows (``api.plan_document``), which is several times faster than ``PlanOut`` and
    gives the same bytes. DRF writes datetimes in the current time zone; rows give them in UTC, so
    under any other zone (none is activated today) the serializers build it.

    Like a feed page, the document is some 10,000 containers that all live until it is written: the
    collector is paused while it is built (see ``feed.collector_paused``)."""
    if timezone.get_current_timezone_name() == "UTC":
        with collector_paused():
            data, exact = shared_document(access, generation)
            return JSONRenderer().render(FastJSON(data) if exact else data)
    return JSONRenderer().render({k: v for k, v in PlanOut(plan_document(access)).data.items() if k != "access"})


def _matches(header: str, tag: str) -> bool:
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or tag in tags


ACCESS_KEYS = ("side", "role", "can_edit", "can_approve", "can_manage")


def access_document(access: Access) -> dict[str, Any]:
    return {key: getattr(access, key) for key in ACCESS_KEYS}
