"""Each resource of the API in one table row: its model, how its partnership is reached, its
serializers, list filters and the services that create, change and delete it.

Views stay generic and thin: load through the access resolver, validate, call the service,
serialize. Nothing here enforces a plan rule; the services do.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from dateutil.relativedelta import relativedelta
from django.db.models import Model, QuerySet
from rest_framework import exceptions, serializers
from rest_framework.request import Request

from accounts.models import OrganisationMembership, User
from alignment import economics, invitations, review_comments
from alignment import services as plan
from alignment.access import Access
from alignment.models import (
    AlignmentReview,
    Driver,
    DriverFigure,
    Invitation,
    Objective,
    Partnership,
    ReviewComment,
    Vision,
)
from core.errors import InvalidInput, NotAllowed, NotFound
from core.statements import Compiled
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import commitments as goal_commitments
from goals import services as goal_services
from goals.models import CheckIn, CheckInSource, Comment, Commitment, Goal

from . import inputs
from . import serializers as out
from .conditional import etag
from .problems import TokenScopeDenied
from .scope import access_for, may_start_partnerships, resolve, scoped, visible_partnerships

Loader = Callable[[Request, dict[str, Any]], Access]
Filter = Callable[[QuerySet[Any], Any, Any], QuerySet[Any]]  # (queryset, value, user)


@dataclass
class Resource:
    name: str  # URL segment, e.g. "check-ins"
    label: str  # for messages, e.g. "check-in"
    model: type[Model]
    out: type[serializers.Serializer[Any]]
    path: str  # from the model to its partnership ("" for Partnership itself)
    params: type[serializers.Serializer[Any]]
    create_in: type[serializers.Serializer[Any]] | None = None
    update_in: type[serializers.Serializer[Any]] | None = None
    create: Callable[[Access, dict[str, Any]], Any] | None = None
    create_access: Loader | None = None
    update: Callable[[Access, Any, int | None, dict[str, Any]], Any] | None = None
    # (access, object, expected version, **the query parameters of DELETE, read with ``delete_params``)
    delete: Callable[..., None] | None = None
    delete_params: type[serializers.Serializer[Any]] | None = None
    select: tuple[str, ...] = ()
    prefetch: tuple[str, ...] = ()
    filters: dict[str, Filter] = field(default_factory=dict)
    create_root: Callable[[Request, dict[str, Any]], Any] | None = None  # creates without a parent
    # A write of this resource may change its parent (a commitment its goal): (parent resource, field)
    parent: tuple[Resource, str] | None = None
    # What of the partnership a member may see, when not all of it is theirs (another side's private figures).
    restrict: Callable[[QuerySet[Any], Any], QuerySet[Any]] | None = None  # (queryset, user)
    visible: Callable[[Access, Any], bool] | None = None  # (access, object)

    def queryset(self, *, reading: bool = False, listing: bool = False) -> QuerySet[Any]:
        """The objects with their partnership and its organisations, which writes name (in events
        and e-mails). An answer that only reads joins the organisations only where it shows them
        (a partnership's): the access check needs the partnership's columns alone, and PostgreSQL
        plans a join of five tables in about 1 ms, twice the time of three (a tenth of a read). A
        list checks access in SQL and shows the partnership by its id: it joins neither."""
        to_partnership = f"{self.path}__" if self.path else ""
        related: tuple[str, ...] = (f"{to_partnership}vendor", f"{to_partnership}partner")
        if self.path and listing:
            related = ()
        elif self.path and reading:
            related = (to_partnership.rstrip("_"),)
        qs = self.model._default_manager.select_related(*related, *self.select)
        return qs.prefetch_related(*self.prefetch) if self.prefetch else qs

    def partnership_of(self, obj: Any) -> Partnership:
        for part in self.path.split("__") if self.path else ():
            obj = getattr(obj, part)
        return cast(Partnership, obj)


# --- Loading through the access resolver --------------------------------------------------------


def parse_uuid(value: Any, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise NotFound(f"No such {what}.") from exc


_BY_KEY: dict[tuple[str, bool], Compiled] = {}


def _by_key(resource: Resource, reading: bool) -> Compiled:
    """The read of one object by its key, compiled once per connection (every API read of one
    object runs it). One row: no order to build or sort by (``first()`` would order by the model's)."""
    key = (resource.name, reading)
    if key not in _BY_KEY:
        _BY_KEY[key] = Compiled(
            f"api_{resource.name}_{'read' if reading else 'write'}",
            resource.model,
            lambda pk: resource.queryset(reading=reading).filter(pk=pk).order_by()[:1],
            pk=uuid.UUID,
        )
    return _BY_KEY[key]


def load(resource: Resource, user: Any, pk: Any, *, reading: bool = False) -> tuple[Any, Access]:
    """The object and the caller's access to its partnership; ``NotFound`` for outsiders (and for
    objects that do not exist: the two are never told apart). ``reading``: see ``Resource.queryset``."""
    obj = next(iter(_by_key(resource, reading)(pk=parse_uuid(pk, resource.label))), None)
    access = access_for(user, resource.partnership_of(obj)) if obj is not None else None
    if access is None or (resource.visible is not None and not resource.visible(access, obj)):
        raise NotFound(f"No such {resource.label}.")
    return obj, access


def list_queryset(resource: Resource, user: Any, params: dict[str, Any]) -> QuerySet[Any]:
    """Only what the caller may see; a filter on a partnership they may not see is a 404."""
    qs = resource.queryset(listing=True)
    if "partnership" in params:
        access = resolve(user, params["partnership"])
        qs = qs.filter(**{resource.path: access.partnership})
    elif resource.path:
        qs = scoped(user, qs, resource.path)
    else:
        qs = qs.filter(pk__in=visible_partnerships(user).values("pk"))
    if resource.restrict is not None:
        qs = resource.restrict(qs, user)
    for name, value in params.items():
        if name in resource.filters:
            qs = resource.filters[name](qs, value, user)
    if "updated_since" in params:
        qs = qs.filter(updated_at__gte=params["updated_since"])
    return qs


def _visible_parent(model: type[Model], what: str, path: str) -> Filter:
    def apply(qs: QuerySet[Any], pk: Any, user: Any) -> QuerySet[Any]:
        if not scoped(user, model._default_manager.filter(pk=pk), path).exists():
            raise NotFound(f"No such {what}.")
        return qs.filter(**{f"{what}_id": pk})

    return apply


PERIOD = re.compile(r"(\d{4})(?:-(?:(H[12])|(Q[1-4])|(\d{2})(?:-(\d{2}))?))?")


def parse_period(value: str) -> tuple[dt.date, dt.date]:
    match = PERIOD.fullmatch(value)
    error = exceptions.ValidationError({"period": [inputs.PERIOD_HELP]})
    if not match:
        raise error
    year, half, quarter, month, day = match.groups()
    try:
        if day:
            start = dt.date(int(year), int(month), int(day))
            return start, start
        if month:
            start = dt.date(int(year), int(month), 1)
            return start, start + relativedelta(months=1, days=-1)
        if quarter:
            start = dt.date(int(year), 3 * int(quarter[1]) - 2, 1)
            return start, start + relativedelta(months=3, days=-1)
        if half:
            start = dt.date(int(year), 6 * int(half[1]) - 5, 1)
            return start, start + relativedelta(months=6, days=-1)
        if int(year) < 1:
            raise error
        return dt.date(int(year), 1, 1), dt.date(int(year), 12, 31)
    except ValueError as exc:
        raise error from exc


def _goal_period(qs: QuerySet[Any], value: str, user: Any) -> QuerySet[Any]:
    start, end = parse_period(value)
    return qs.filter(period_start__lte=end, period_end__gte=start)


def _review_period(qs: QuerySet[Any], value: str, user: Any) -> QuerySet[Any]:
    start, end = parse_period(value)
    return qs.filter(scheduled_for__date__gte=start, scheduled_for__date__lte=end)


def _equals(name: str) -> Filter:
    return lambda qs, value, user: qs.filter(**{name: value})


# --- Glue to the services ----------------------------------------------------------------------


def _partnership_access(request: Request, data: dict[str, Any]) -> Access:
    return resolve(request.user, data.pop("partnership"))


def _goal_access(request: Request, data: dict[str, Any]) -> Access:
    _goal, access = load(GOALS, request.user, data["goal"])
    return access


def _objective_access(request: Request, data: dict[str, Any]) -> Access:
    _objective, access = load(OBJECTIVES, request.user, data["objective"])
    return access


def user_pk(public_id: Any, field_name: str, message: str) -> int | None:
    """The internal id of a person given by public id (``InvalidInput`` if unknown)."""
    if public_id is None:
        return None
    pk = User.objects.filter(public_id=public_id).values_list("pk", flat=True).first()
    if pk is None:
        raise InvalidInput(message, fields={field_name: [message]})
    return pk


def _owner(data: dict[str, Any], field_name: str = "owner") -> None:
    if "owner" in data:
        data["owner"] = user_pk(data["owner"], field_name, f"Not a member of the {data.get('side')} side.")


def _create_partnership(request: Request, data: dict[str, Any]) -> Partnership:
    user = cast(User, request.user)  # the API answers people who are signed in only
    if not may_start_partnerships(user):
        raise TokenScopeDenied("A token limited to some partnerships (or a service token) may not start one.")
    memberships = OrganisationMembership.objects.filter(user=user).select_related("organisation")
    vendor_id = data.pop("vendor", None)
    if vendor_id is not None:
        membership = memberships.filter(organisation_id=vendor_id).first()
        if membership is None:
            raise InvalidInput(
                "You do not belong to this organisation.", fields={"vendor": ["Not an organisation of yours."]}
            )
    else:
        mine = list(memberships[:2])
        if not mine:
            raise NotAllowed("Only members of a vendor organisation start partnerships; you belong to none.")
        if len(mine) > 1:
            raise InvalidInput(
                "You belong to several organisations: say which one is the vendor.",
                fields={"vendor": ["This field is required."]},
            )
        membership = mine[0]
    return plan.partnership_create(
        actor=user, vendor=membership.organisation, partner_name=data.pop("partner_name"), **data
    )


def _create_goal(access: Access, data: dict[str, Any]) -> Goal:
    commitments = data.pop("commitments", [])
    for index, spec in enumerate(commitments):
        _owner(spec, f"commitments.{index}.owner")
    return goal_services.goal_create(access=access, objective_id=data.pop("objective"), commitments=commitments, **data)


def _create_commitment(access: Access, data: dict[str, Any]) -> Commitment:
    _owner(data)
    return goal_commitments.commitment_create(access=access, goal_id=data.pop("goal"), **data)


def _update_commitment(access: Access, obj: Commitment, version: int | None, data: dict[str, Any]) -> Commitment:
    if "owner" in data:
        data.setdefault("side", obj.side)
        _owner(data)
        if data["side"] == obj.side:
            data.pop("side")
    return goal_commitments.commitment_update(access=access, commitment_id=obj.pk, expected_version=version, **data)


PARTNERSHIPS = Resource(
    name="partnerships",
    label="partnership",
    model=Partnership,
    out=out.PartnershipOut,
    path="",
    params=inputs.PartnershipParams,
    create_in=inputs.PartnershipCreateIn,
    update_in=inputs.PartnershipUpdateIn,
    create_root=_create_partnership,
    update=lambda a, o, v, d: plan.partnership_update(access=a, expected_version=v, **d),
    filters={"status": _equals("status")},
)
VISIONS = Resource(
    name="visions",
    label="vision",
    model=Vision,
    out=out.VisionOut,
    path="partnership",
    params=inputs.VisionParams,
    update_in=inputs.VisionUpdateIn,
    update=lambda a, o, v, d: plan.vision_update(access=a, expected_version=v, **d),
)
OBJECTIVES = Resource(
    name="objectives",
    label="objective",
    model=Objective,
    out=out.ObjectiveOut,
    path="partnership",
    params=inputs.ObjectiveParams,
    create_in=inputs.ObjectiveCreateIn,
    update_in=inputs.ObjectiveUpdateIn,
    create_access=_partnership_access,
    create=lambda a, d: plan.objective_create(access=a, **d),
    update=lambda a, o, v, d: plan.objective_update(access=a, objective_id=o.pk, expected_version=v, **d),
    delete=lambda a, o, v: plan.objective_delete(access=a, objective_id=o.pk, expected_version=v),
    filters={"status": _equals("status")},
)
GOALS = Resource(
    name="goals",
    label="goal",
    model=Goal,
    out=out.GoalOut,
    path="partnership",
    params=inputs.GoalParams,
    create_in=inputs.GoalCreateIn,
    update_in=inputs.GoalUpdateIn,
    create_access=_objective_access,
    create=_create_goal,
    update=lambda a, o, v, d: goal_services.goal_update(access=a, goal_id=o.pk, expected_version=v, **d),
    delete=lambda a, o, v: goal_services.goal_delete(access=a, goal_id=o.pk, expected_version=v),
    select=("created_by",),
    filters={
        "status": _equals("status"),
        "period": _goal_period,
        "objective": _visible_parent(Objective, "objective", "partnership"),
    },
)
COMMITMENTS = Resource(
    name="commitments",
    label="commitment",
    model=Commitment,
    out=out.CommitmentOut,
    path="goal__partnership",
    params=inputs.GoalChildParams,
    create_in=inputs.CommitmentCreateIn,
    update_in=inputs.CommitmentUpdateIn,
    create_access=_goal_access,
    create=_create_commitment,
    update=_update_commitment,
    delete=lambda a, o, v: goal_commitments.commitment_delete(access=a, commitment_id=o.pk, expected_version=v),
    select=("owner", "drafted_by"),
    filters={"side": _equals("side"), "goal": _visible_parent(Goal, "goal", "partnership")},
)
CHECK_INS = Resource(
    name="check-ins",
    label="check-in",
    model=CheckIn,
    out=out.CheckInOut,
    path="goal__partnership",
    params=inputs.GoalChildParams,
    create_in=inputs.CheckInCreateIn,
    update_in=inputs.CheckInUpdateIn,
    create_access=_goal_access,
    create=lambda a, d: goal_check_ins.check_in_create(access=a, goal_id=d.pop("goal"), source=CheckInSource.API, **d),
    update=lambda a, o, v, d: goal_check_ins.check_in_update(access=a, check_in_id=o.pk, expected_version=v, **d),
    delete=lambda a, o, v, **params: goal_check_ins.check_in_delete(
        access=a, check_in_id=o.pk, expected_version=v, **params
    ),
    delete_params=inputs.CheckInDeleteParams,
    select=("author", "reviewed_by"),
    filters={"side": _equals("side"), "goal": _visible_parent(Goal, "goal", "partnership")},
)
COMMENTS = Resource(
    name="comments",
    label="comment",
    model=Comment,
    out=out.CommentOut,
    path="goal__partnership",
    params=inputs.CommentParams,
    create_in=inputs.CommentCreateIn,
    update_in=inputs.CommentUpdateIn,
    create_access=_goal_access,
    create=lambda a, d: goal_comments.comment_create(access=a, goal_id=d.pop("goal"), **d),
    update=lambda a, o, v, d: goal_comments.comment_update(access=a, comment_id=o.pk, expected_version=v, **d),
    delete=lambda a, o, v: goal_comments.comment_delete(access=a, comment_id=o.pk, expected_version=v),
    select=("author",),
    filters={"side": _equals("side"), "kind": _equals("kind"), "goal": _visible_parent(Goal, "goal", "partnership")},
)
REVIEWS = Resource(
    name="reviews",
    label="review",
    model=AlignmentReview,
    out=out.ReviewOut,
    path="partnership",
    params=inputs.ReviewParams,
    create_in=inputs.ReviewCreateIn,
    update_in=inputs.ReviewUpdateIn,
    create_access=_partnership_access,
    create=lambda a, d: plan.review_schedule(access=a, **d),
    update=lambda a, o, v, d: plan.review_update(access=a, review_id=o.pk, expected_version=v, **d),
    prefetch=("attendees",),
    filters={"status": _equals("status"), "period": _review_period},
)


def _review_access(request: Request, data: dict[str, Any]) -> Access:
    _review, access = load(REVIEWS, request.user, data["review"])
    return access


REVIEW_COMMENTS = Resource(
    name="review-comments",
    label="review comment",
    model=ReviewComment,
    out=out.ReviewCommentOut,
    path="review__partnership",
    params=inputs.ReviewCommentParams,
    create_in=inputs.ReviewCommentCreateIn,
    create_access=_review_access,
    create=lambda a, d: review_comments.review_comment_create(access=a, review_id=d.pop("review"), **d),
    delete=lambda a, o, v: review_comments.review_comment_delete(access=a, comment_id=o.pk, expected_version=v),
    select=("author",),
    filters={"side": _equals("side"), "review": _visible_parent(AlignmentReview, "review", "partnership")},
)
INVITATIONS = Resource(
    name="invitations",
    label="invitation",
    model=Invitation,
    out=out.InvitationOut,
    path="partnership",
    params=inputs.InvitationParams,
    create_in=inputs.InvitationCreateIn,
    create_access=_partnership_access,
    # The link's token travels only in the e-mail: it is never part of a response (nor of a stored replay).
    create=lambda a, d: invitations.invitation_create(access=a, **d)[0],
    select=("invited_by",),
)


def _driver_access(request: Request, data: dict[str, Any]) -> Access:
    _driver, access = load(DRIVERS, request.user, data["driver"])
    return access


def _own_or_shared(access: Access, figure: DriverFigure) -> bool:
    return figure.driver.side == access.side or figure.is_shared


def _update_figure(access: Access, obj: DriverFigure, version: int | None, data: dict[str, Any]) -> DriverFigure:
    return economics.figure_update(access=access, figure_id=obj.pk, expected_version=version, **data)


DRIVERS = Resource(
    name="drivers",
    label="driver",
    model=Driver,
    out=out.DriverOut,
    path="partnership",
    params=inputs.DriverParams,
    create_in=inputs.DriverCreateIn,
    update_in=inputs.DriverUpdateIn,
    create_access=_partnership_access,
    create=lambda a, d: economics.driver_add(access=a, **d),
    update=lambda a, o, v, d: economics.driver_update(access=a, driver_id=o.pk, expected_version=v, **d),
    delete=lambda a, o, v: economics.driver_remove(access=a, driver_id=o.pk, expected_version=v),
    filters={"side": _equals("side")},
)
DRIVER_FIGURES = Resource(
    name="driver-figures",
    label="figure",
    model=DriverFigure,
    out=out.DriverFigureOut,
    path="driver__partnership",
    params=inputs.DriverFigureParams,
    create_in=inputs.DriverFigureCreateIn,
    update_in=inputs.DriverFigureUpdateIn,
    create_access=_driver_access,
    create=lambda a, d: economics.figure_record(access=a, driver_id=d.pop("driver"), **d),
    update=_update_figure,
    delete=lambda a, o, v: economics.figure_delete(access=a, figure_id=o.pk, expected_version=v),
    select=("driver", "entered_by"),
    filters={
        "driver": _visible_parent(Driver, "driver", "partnership"),
        "visibility": _equals("visibility"),
    },
    restrict=lambda qs, user: qs.filter(economics.figures_visible_to_user(user)),
    visible=_own_or_shared,
)

COMMITMENTS.parent = (GOALS, "goal")

ALL = (
    PARTNERSHIPS,
    VISIONS,
    OBJECTIVES,
    GOALS,
    COMMITMENTS,
    CHECK_INS,
    COMMENTS,
    REVIEWS,
    REVIEW_COMMENTS,
    INVITATIONS,
    DRIVERS,
    DRIVER_FIGURES,
)
BY_MODEL = {r.model: r for r in ALL}


def represent_current(obj: Any, request: Any) -> tuple[Any, str | None]:
    """The current state of an object a stale write was made against (for the 412 body)."""
    resource = BY_MODEL.get(type(obj))
    if resource is None:
        return None, None
    fresh = resource.queryset().filter(pk=obj.pk).first() or obj
    return resource.out(fresh).data, etag(fresh.version)
