"""Plan templates through the API (``plans.templates_service``), the same rules as the browser:

- ``GET /api/v1/templates``: the shipped templates and the caller's organisations' own.
- ``GET /api/v1/templates/{id}``: one of them (``ETag``: its version). ``PATCH`` and ``DELETE``
  (``If-Match`` or ``version``: missing ``428``, stale ``412`` with ``current``): an organisation's
  template, by its admins, through the services of the browser's editor and with its validation
  (``403`` for members who are no admins, and ``template.shipped_read_only`` for a shipped one).
- ``POST /api/v1/templates/{key}/customise``: a shipped template copied into an organisation's own.
- ``POST /api/v1/partnerships/{id}/apply-template``: start a new or empty plan from a template, as
  drafts, or apply one of its lineage again. ``200`` with what was created: empty lists (and the
  template's objectives under ``skipped``) when everything it creates is in the plan already
  (applying twice creates nothing twice); ``409`` ``template.plan_not_empty`` for a plan with
  objectives of its own or filled from a template of another lineage.
- ``POST /api/v1/partnerships/{id}/save-template``: the plan's structure as a template of the
  caller's side's organisation (no people, commitments, approvals, figures, check-ins or comments).
- ``POST /api/v1/partnerships/{id}/clone-structure``: the plan's structure onto another new or empty
  plan the caller edits (or one filled from the same lineage), as drafts; ``409`` as for applying.

Outsiders of a partnership get 404; an unknown template to apply is a 400 on ``template``, an
unknown or another organisation's template by its URL a 404.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from plans import template_library as library
from plans import templates_service as templates
from plans.models import PlanTemplate, TemplateType

from ..conditional import etag, expected_version, not_modified
from ..fields import StrictSerializer
from ..idempotency import idempotent
from ..problems import PROBLEM_CONTENT_TYPE, handle_exception
from ..resources import PARTNERSHIPS, load
from ..schema import stale_problem
from .base import ID_PARAM, ApiView, query, validated

TEMPLATE_ID_PARAM = OpenApiParameter(
    "id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="A shipped template's key (e.g. `consulting`) or an organisation template's id.",
)


class TemplateOut(serializers.Serializer[Any]):
    id = serializers.CharField(
        help_text="A shipped template's key (e.g. `consulting`) or an organisation template's id."
    )
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["shipped", "organisation"])
    organisation = serializers.UUIDField(allow_null=True, help_text="The organisation of its own template.")
    partner_type = serializers.CharField(help_text=f"The kind of partner: one of {', '.join(TemplateType.values)}.")
    lineage = serializers.CharField(
        help_text="Where the template comes from: a shipped template's key (also of an organisation's copy of it), "
        "`plan:<id>` (saved from a plan no template filled) or `org:<id>`. A plan filled from one lineage takes "
        "templates of that lineage only (409 `template.plan_not_empty` for another)."
    )
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
        "lineage": t.lineage,
        "version": t.version,
        "summary": t.summary,
        "structure": t.structure,
    }


class TemplateListParams(StrictSerializer):
    partner_type = serializers.ChoiceField(choices=TemplateType.values, required=False)


class TemplateListOut(serializers.Serializer[Any]):
    results = TemplateOut(many=True)


STRUCTURE_HELP = (
    "The parts of the structure to change, in the shape `GET` answers: `vision_prompts` (each prompt given "
    "replaces that one), `drivers` and `objectives` (each replaces the whole list). Checked like the template "
    "editor's form (`plans.template_library.clean_structure`); an objective without `key` (a new one) is keyed "
    "by its title. Keep an objective's `key` to keep it the same objective: a plan the template filled gets only "
    "objectives with keys it has not had."
)


class TemplatePatchIn(StrictSerializer):
    name = serializers.CharField(max_length=library.NAME_LIMIT, required=False)
    partner_type = serializers.ChoiceField(TemplateType.choices, required=False)
    structure = serializers.JSONField(required=False, help_text=STRUCTURE_HELP)
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="The version you changed (or send If-Match); 412 if older."
    )


class CustomiseIn(StrictSerializer):
    organisation = serializers.UUIDField(help_text="Your organisation (you administer it) that gets the copy.")
    name = serializers.CharField(
        max_length=library.NAME_LIMIT,
        required=False,
        help_text="Default: the shipped template's name, numbered if your organisation has it already.",
    )


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


def template_response(t: templates.Template, code: int = status.HTTP_200_OK) -> Response:
    headers = {"ETag": etag(t.version)}
    if code == status.HTTP_201_CREATED:
        headers["Location"] = f"/api/v1/templates/{t.ref}"
    return Response(template_out(t), status=code, headers=headers)


def represent_template(obj: Any, request: Any) -> tuple[Any, str | None]:
    """A template as it is now, for the 412 answer to a change made against an older version."""
    if isinstance(obj, PlanTemplate):
        return template_out(templates.as_template(obj)), etag(obj.version)
    return None, None


class TemplateList(ApiView):
    @extend_schema(
        tags=["templates"],
        parameters=[OpenApiParameter("partner_type", str, enum=TemplateType.values, required=False)],
        responses={200: TemplateListOut},
        operation_id="templates_list",
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


class TemplateDetail(ApiView):
    """One template: read by whoever may apply it; changed and deleted by its organisation's admins."""

    conditional_get = True
    answers_etag = True

    def get_exception_handler(self) -> Any:
        return functools.partial(handle_exception, represent=represent_template)

    @extend_schema(
        tags=["templates"],
        parameters=[TEMPLATE_ID_PARAM],
        responses={200: TemplateOut, 304: None},
        operation_id="templates_retrieve",
        summary="Read a template (shipped, or your organisation's)",
    )
    def get(self, request: Request, pk: str) -> Response:
        template = templates.template_get(cast(User, request.user), pk)
        if not_modified(request, template.version):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag(template.version)})
        return template_response(template)

    @extend_schema(
        tags=["templates"],
        parameters=[TEMPLATE_ID_PARAM],
        request=TemplatePatchIn,
        responses={200: TemplateOut, (412, PROBLEM_CONTENT_TYPE): stale_problem(TemplateOut)},
        operation_id="templates_partial_update",
        summary="Change your organisation's template (its admins)",
        description=__doc__,
    )
    def patch(self, request: Request, pk: str) -> Response:
        user = cast(User, request.user)
        row = templates.template_to_change(user, pk)
        data = validated(TemplatePatchIn, request.data)
        version = expected_version(request, data)
        row = templates.template_update(
            user=user,
            organisation_id=row.organisation_id,
            template_id=row.pk,
            expected_version=version,
            name=data.get("name"),
            partner_type=data.get("partner_type"),
            structure=data.get("structure"),
            merge_structure=True,
        )
        return template_response(templates.as_template(row))

    @extend_schema(
        tags=["templates"],
        parameters=[TEMPLATE_ID_PARAM],
        responses={204: None, (412, PROBLEM_CONTENT_TYPE): stale_problem(TemplateOut)},
        operation_id="templates_destroy",
        summary="Delete your organisation's template (its admins); plans made from it keep what it created",
    )
    def delete(self, request: Request, pk: str) -> Response:
        user = cast(User, request.user)
        row = templates.template_to_change(user, pk)
        version = expected_version(request, None)
        templates.template_delete(
            user=user, organisation_id=row.organisation_id, template_id=row.pk, expected_version=version
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TemplateCustomise(ApiView):
    answers_etag = True

    @extend_schema(
        tags=["templates"],
        parameters=[TEMPLATE_ID_PARAM],
        request=CustomiseIn,
        responses={201: TemplateOut},
        operation_id="templates_customise",
        summary="Copy a shipped template into your organisation's own (its admins), to change it",
    )
    def post(self, request: Request, pk: str) -> Response:
        return idempotent(request, lambda: self._run(request, pk))

    def _run(self, request: Request, pk: str) -> Response:
        data = validated(CustomiseIn, request.data)
        row = templates.template_customise(
            user=cast(User, request.user), organisation_id=data["organisation"], key=pk, name=data.get("name")
        )
        return template_response(templates.as_template(row), status.HTTP_201_CREATED)
