"""Plan templates through the API (``plans.templates_service``), the same rules as the browser:

- ``GET /api/v1/templates``: the shipped templates and the caller's organisations' own.
- ``POST /api/v1/partnerships/{id}/apply-template``: start a new or empty plan from a template, as
  drafts. ``200`` with what was created: empty lists (and the template's objectives under ``skipped``)
  when everything it creates is in the plan already (applying twice creates nothing twice); ``409``
  for a plan with objectives of its own.
- ``POST /api/v1/partnerships/{id}/save-template``: the plan's structure as a template of the
  caller's side's organisation (no people, commitments, approvals, figures, check-ins or comments).
- ``POST /api/v1/partnerships/{id}/clone-structure``: the plan's structure onto another new or empty
  plan the caller edits, as drafts.

Outsiders of a partnership get 404; an unknown template is a 400 on ``template``.
"""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from plans import template_library as library
from plans import templates_service as templates
from plans.models import TemplateType

from ..fields import StrictSerializer
from ..idempotency import idempotent
from ..resources import PARTNERSHIPS, load
from .base import ApiView, query, validated
from .resources import ID_PARAM


class TemplateOut(serializers.Serializer[Any]):
    id = serializers.CharField(
        help_text="A shipped template's key (e.g. `consulting`) or an organisation template's id."
    )
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["shipped", "organisation"])
    organisation = serializers.UUIDField(allow_null=True, help_text="The organisation of its own template.")
    partner_type = serializers.CharField(help_text=f"The kind of partner: one of {', '.join(TemplateType.values)}.")
    version = serializers.IntegerField()
    summary = serializers.CharField(allow_blank=True)
    structure = serializers.JSONField(
        help_text="Vision prompts, each side's drivers (side, name, unit) and the objectives with their metric, "
        "suggested commitments and trajectory; see `plans.template_library.clean_structure`."
    )


def template_out(t: templates.Template) -> dict[str, Any]:
    return {
        "id": t.ref,
        "name": t.name,
        "kind": "shipped" if t.is_shipped else "organisation",
        "organisation": t.organisation.pk if t.organisation is not None else None,
        "partner_type": t.partner_type,
        "version": t.version,
        "summary": t.summary,
        "structure": t.structure,
    }


class TemplateListParams(StrictSerializer):
    partner_type = serializers.ChoiceField(choices=TemplateType.values, required=False)


class TemplateListOut(serializers.Serializer[Any]):
    results = TemplateOut(many=True)


class ApplyIn(StrictSerializer):
    template = serializers.CharField(max_length=60, help_text="A template's `id` from `GET /templates`.")


class SaveIn(StrictSerializer):
    name = serializers.CharField(max_length=library.NAME_LIMIT)


class CloneIn(StrictSerializer):
    target = serializers.UUIDField(help_text="The partnership whose (new or empty) plan gets the structure.")


class AppliedOut(serializers.Serializer[Any]):
    partnership = serializers.UUIDField(help_text="The partnership written to.")
    objectives = serializers.ListField(child=serializers.UUIDField(), help_text="Objectives created.")
    goals = serializers.ListField(child=serializers.UUIDField(), help_text="Draft goals created.")
    drivers = serializers.ListField(child=serializers.UUIDField(), help_text="Business drivers created.")
    skipped = serializers.ListField(
        child=serializers.CharField(), help_text="Keys of the template's objectives the plan has already."
    )


def applied_response(partnership_id: Any, result: templates.Applied) -> Response:
    body = {
        "partnership": str(partnership_id),
        "objectives": [str(o.pk) for o in result.objectives],
        "goals": [str(g.pk) for g in result.goals],
        "drivers": [str(d.pk) for d in result.drivers],
        "skipped": result.skipped,
    }
    return Response(body)


class TemplateList(ApiView):
    @extend_schema(
        tags=["templates"],
        parameters=[OpenApiParameter("partner_type", str, enum=TemplateType.values, required=False)],
        responses={200: TemplateListOut},
        summary="The templates you may apply: shipped ones and your organisations' own",
    )
    def get(self, request: Request) -> Response:
        params = query(request, TemplateListParams)
        found = templates.templates_for(cast(User, request.user))
        if "partner_type" in params:
            found = [t for t in found if t.partner_type == params["partner_type"]]
        return Response({"results": [template_out(t) for t in found]})


class TemplateApply(ApiView):
    @extend_schema(
        tags=["templates"],
        parameters=[ID_PARAM],
        request=ApplyIn,
        responses={200: AppliedOut},
        summary="Start a new or empty plan from a template (drafts; nothing twice)",
        description=__doc__,
    )
    def post(self, request: Request, pk: str) -> Response:
        return idempotent(request, lambda: self._run(request, pk))

    def _run(self, request: Request, pk: str) -> Response:
        partnership, access = load(PARTNERSHIPS, request.user, pk)
        data = validated(ApplyIn, request.data)
        template = templates.template_for(cast(User, request.user), data["template"])
        return applied_response(partnership.pk, templates.template_apply(access=access, template=template))


class TemplateSave(ApiView):
    @extend_schema(
        tags=["templates"],
        parameters=[ID_PARAM],
        request=SaveIn,
        responses={201: TemplateOut},
        summary="Save the plan's structure as a template of your organisation",
    )
    def post(self, request: Request, pk: str) -> Response:
        return idempotent(request, lambda: self._run(request, pk))

    def _run(self, request: Request, pk: str) -> Response:
        _partnership, access = load(PARTNERSHIPS, request.user, pk)
        data = validated(SaveIn, request.data)
        row = templates.template_save_from_plan(access=access, name=data["name"])
        return Response(template_out(templates.template_for(access.user, str(row.pk))), status=status.HTTP_201_CREATED)


class TemplateClone(ApiView):
    @extend_schema(
        tags=["templates"],
        parameters=[ID_PARAM],
        request=CloneIn,
        responses={200: AppliedOut},
        summary="Copy the plan's structure onto another new or empty plan, as drafts",
    )
    def post(self, request: Request, pk: str) -> Response:
        return idempotent(request, lambda: self._run(request, pk))

    def _run(self, request: Request, pk: str) -> Response:
        _partnership, access = load(PARTNERSHIPS, request.user, pk)
        data = validated(CloneIn, request.data)
        target, result = templates.template_clone_structure(access=access, target_partnership_id=data["target"])
        return applied_response(target.partnership.pk, result)
