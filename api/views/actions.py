"""Workflow actions: endorse the vision; propose, approve, request changes, withdraw, close a goal
and discard its amendment; confirm, dispute or settle a figure; skip or hold a review. Each calls
one service."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from accounts.models import User
from alignment import invitations
from alignment import services as plan
from cadence import services as review_services
from core.errors import DomainError, InvalidInput, StaleVersion
from goals import check_ins as goal_check_ins
from goals import services as goal_services

from .. import inputs
from .. import serializers as out
from ..conditional import etag, expected_version
from ..idempotency import idempotent
from ..resources import CHECK_INS, GOALS, INVITATIONS, REVIEWS, VISIONS, Resource, load, user_pk
from .base import ID_PARAM, ApiView, validated
from .resources import object_response


class ActionView(ApiView):
    """POST /<resource>/<id>/<action>: validate, call the service, show the object afterwards."""

    resource: Resource
    input: type[Serializer[Any]]
    accepts_if_match = True
    answers_etag = True

    def post(self, request: Request, pk: str) -> Response:
        return idempotent(request, lambda: self._run(request, pk))

    def _run(self, request: Request, pk: str) -> Response:
        obj, access = load(self.resource, request.user, pk)
        data = validated(self.input, request.data)
        try:
            return self.act(request, access, obj, data)
        except DomainError as exc:
            if not exc.code.endswith(".stale_revision"):
                raise
            # Approving (or endorsing) a revision that is no longer current: like a stale If-Match,
            # a 412 with the object as it is now, so a client handles both alike (re-read, decide).
            stale = StaleVersion(exc.message, current=self.fresh(obj))
            stale.code, stale.fields = exc.code, exc.fields
            raise stale from exc

    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        raise NotImplementedError

    def fresh(self, obj: Any) -> Any:
        return self.resource.queryset().get(pk=obj.pk)


def _version(request: Request, data: dict[str, Any]) -> int | None:
    return expected_version(request, data, required=False)


def action(resource: Resource, input_: type[Serializer[Any]], response: Any, summary: str, code: int = 200) -> Any:
    def decorate(cls: type[ActionView]) -> type[ActionView]:
        cls.resource, cls.input = resource, input_
        return extend_schema(
            tags=[resource.name], parameters=[ID_PARAM], request=input_, responses={code: response}, summary=summary
        )(cls)

    return decorate


@action(VISIONS, inputs.EndorseIn, out.EndorsementResultOut, "Endorse the current revision for your side", 201)
class VisionEndorse(ActionView):
    accepts_if_match = False
    answers_etag = False

    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        endorsement = plan.vision_endorse(access=access, revision=data["revision"])
        vision = self.fresh(obj)
        body = {"endorsement": out.VisionEndorsementOut(endorsement).data, "vision": out.VisionOut(vision).data}
        return Response(body, status=status.HTTP_201_CREATED)


@action(GOALS, inputs.GoalVersionIn, out.GoalOut, "Propose the working revision to both sides")
class GoalPropose(ActionView):
    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        goal_services.goal_propose(access=access, goal_id=obj.pk, expected_version=_version(request, data))
        return object_response(GOALS, self.fresh(obj))


@action(GOALS, inputs.ApproveIn, out.ApprovalResultOut, "Approve a revision for your side", 201)
class GoalApprove(ActionView):
    accepts_if_match = False

    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        approval = goal_services.goal_approve(access=access, goal_id=obj.pk, revision=data["revision"])
        goal = self.fresh(obj)
        body = {"approval": out.ApprovalOut(approval).data, "goal": out.GoalOut(goal).data}
        return Response(body, status=status.HTTP_201_CREATED, headers={"ETag": etag(goal.version)})


@action(
    GOALS,
    inputs.CommitAndApproveIn,
    out.CommitAndApproveResultOut,
    "Add your side's missing commitment and approve, in one step",
    201,
)
class GoalCommitAndApprove(ActionView):
    """For the side a proposed revision still lacks a commitment from. The commitment completes the
    revision (no new revision), so an approval the other side gave subject to it stands, and the
    goal is agreed when both sides approved."""

    accepts_if_match = False

    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        if data.get("owner") is not None:
            data["owner"] = user_pk(data["owner"], "owner", f"Not a member of the {access.side} side.")
        approval = goal_services.goal_commit_and_approve(access=access, goal_id=obj.pk, **data)
        goal = self.fresh(obj)
        commitment = goal.commitments.filter(side=access.side).order_by("-updated_at").first()
        body = {
            "commitment": out.CommitmentOut(commitment).data,
            "approval": out.ApprovalOut(approval).data,
            "goal": out.GoalOut(goal).data,
        }
        return Response(body, status=status.HTTP_201_CREATED, headers={"ETag": etag(goal.version)})


@action(GOALS, inputs.RequestChangesIn, out.ChangeRequestResultOut, "Send the proposed revision back", 201)
class GoalRequestChanges(ActionView):
    accepts_if_match = False

    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        comment = goal_services.goal_request_changes(access=access, goal_id=obj.pk, **data)
        goal = self.fresh(obj)
        body = {"comment": out.CommentOut(comment).data, "goal": out.GoalOut(goal).data}
        return Response(body, status=status.HTTP_201_CREATED, headers={"ETag": etag(goal.version)})


@action(GOALS, inputs.WithdrawIn, out.GoalOut, "Withdraw a goal before agreement")
class GoalWithdraw(ActionView):
    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        version = _version(request, data)
        goal_services.goal_withdraw(access=access, goal_id=obj.pk, expected_version=version, **data)
        return object_response(GOALS, self.fresh(obj))


@action(GOALS, inputs.CloseIn, out.GoalOut, "Close an agreed goal as achieved, missed or dropped")
class GoalClose(ActionView):
    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        version = _version(request, data)
        goal_services.goal_close(access=access, goal_id=obj.pk, expected_version=version, **data)
        return object_response(GOALS, self.fresh(obj))


@action(GOALS, inputs.GoalVersionIn, out.GoalOut, "Discard a pending amendment (the agreed terms return)")
class GoalDiscardAmendment(ActionView):
    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        goal_services.goal_discard_amendment(access=access, goal_id=obj.pk, expected_version=_version(request, data))
        return object_response(GOALS, self.fresh(obj))


@action(CHECK_INS, inputs.CheckInConfirmIn, out.CheckInOut, "Confirm a figure the other side entered")
class CheckInConfirm(ActionView):
    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        goal_check_ins.check_in_confirm(access=access, check_in_id=obj.pk, expected_version=_version(request, data))
        return object_response(CHECK_INS, self.fresh(obj))


@action(CHECK_INS, inputs.CheckInDisputeIn, out.CheckInOut, "Dispute a figure the other side entered")
class CheckInDispute(ActionView):
    """Your side's number and why. Until the sides settle, health and progress leave the figure out."""

    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        version = _version(request, data)
        goal_check_ins.check_in_dispute(
            access=access, check_in_id=obj.pk, value=data["value"], note=data["note"], expected_version=version
        )
        return object_response(CHECK_INS, self.fresh(obj))


@action(CHECK_INS, inputs.CheckInSettleIn, out.CheckInOut, "Settle a disputed figure on one of its two numbers")
class CheckInSettle(ActionView):
    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        version = _version(request, data)
        goal_check_ins.check_in_settle(access=access, check_in_id=obj.pk, value=data["value"], expected_version=version)
        return object_response(CHECK_INS, self.fresh(obj))


@action(REVIEWS, inputs.ReviewSkipIn, out.ReviewOut, "Skip a scheduled review")
class ReviewSkip(ActionView):
    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        plan.review_skip(access=access, review_id=obj.pk, expected_version=_version(request, data))
        return object_response(REVIEWS, self.fresh(obj))


@action(REVIEWS, inputs.ReviewHoldIn, out.ReviewOut, "Record a review as held (schedules the next one)")
class ReviewHold(ActionView):
    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        version = _version(request, data)
        ids = data.pop("attendees", [])
        # Only members are looked up, so an error never reveals anything about other people.
        people = list(User.objects.filter(public_id__in=ids, partnership_memberships__partnership=access.partnership))
        if len(people) != len(set(ids)):
            raise InvalidInput(
                "Attendees must be members of this partnership.",
                fields={"attendees": ["Not a member of this partnership."]},
            )
        review_services.review_hold(access=access, review_id=obj.pk, attendees=people, expected_version=version, **data)
        return object_response(REVIEWS, self.fresh(obj))


@action(INVITATIONS, inputs.RevokeIn, out.InvitationOut, "Revoke an invitation (its link stops working)")
class InvitationRevoke(ActionView):
    accepts_if_match = False

    def act(self, request: Request, access: Any, obj: Any, data: dict[str, Any]) -> Response:
        invitations.invitation_revoke(access=access, invitation_id=obj.pk)
        return object_response(INVITATIONS, self.fresh(obj))


ACTIONS = {
    ("visions", "endorse"): VisionEndorse,
    ("goals", "propose"): GoalPropose,
    ("goals", "approve"): GoalApprove,
    ("goals", "commit-and-approve"): GoalCommitAndApprove,
    ("goals", "request-changes"): GoalRequestChanges,
    ("goals", "withdraw"): GoalWithdraw,
    ("goals", "close"): GoalClose,
    ("goals", "discard-amendment"): GoalDiscardAmendment,
    ("check-ins", "confirm"): CheckInConfirm,
    ("check-ins", "dispute"): CheckInDispute,
    ("check-ins", "settle"): CheckInSettle,
    ("reviews", "skip"): ReviewSkip,
    ("reviews", "hold"): ReviewHold,
    ("invitations", "revoke"): InvitationRevoke,
}
