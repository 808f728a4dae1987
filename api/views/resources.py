"""Generic list/create and detail views, one pair per resource (see ``api.resources``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import InvalidInput
from goals.models import negotiation_state_of

from ..conditional import etag, expected_version, not_modified
from ..idempotency import idempotent
from ..pagination import ApiPagination
from ..plan_document import CHECK_IN, COMMENT, COMMITMENT, DRIVER, DRIVER_FIGURE, GOAL, OBJECTIVE, Columns, Rows
from ..problems import IdTaken
from ..resources import Resource, list_queryset, load
from ..schema import paginated
from .base import ID_PARAM, ApiView, query, validated


def object_response(resource: Resource, obj: Any, code: int = status.HTTP_200_OK) -> Response:
    headers = {"ETag": etag(obj.version)}
    if code == status.HTTP_201_CREATED:
        headers["Location"] = f"/api/v1/{resource.name}/{obj.pk}"
    return Response(resource.out(obj).data, status=code, headers=headers | parent_headers(resource, obj))


def parent_headers(resource: Resource, obj: Any) -> dict[str, str]:
    """What a write of a commitment did to its goal: commitments are terms, so adding, changing or
    removing one may open a new revision (or an amendment) of the goal. The answer links the goal
    and gives its ETag and revision after the write; a client that holds an older one re-reads it."""
    if resource.parent is None:
        return {}
    parent_resource, field = resource.parent
    parent: Any = parent_resource.model._default_manager.filter(pk=getattr(obj, f"{field}_id")).first()
    if parent is None:
        return {}
    return {
        "Link": f'</api/v1/{parent_resource.name}/{parent.pk}>; rel="up"',
        "Goal-ETag": etag(parent.version),
        "Goal-Revision": str(parent.revision),
    }


def _negotiation_states(goals: list[dict[str, Any]]) -> None:
    for goal in goals:
        goal["negotiation_state"] = negotiation_state_of(goal["status"], goal["amendment"])


# Lists whose objects the ``/plan`` document shows too are read as its rows are (``plan_document.Rows``:
# one ``values`` query whose columns are what the answer shows, no model instances, no serializer);
# their output serializers stay the schema and the reference, and a test compares the two answers.
LISTED_AS_ROWS: dict[str, tuple[Columns, Callable[[list[dict[str, Any]]], None] | None]] = {
    "objectives": (OBJECTIVE, None),
    "goals": (GOAL, _negotiation_states),
    "commitments": (COMMITMENT, None),
    "check-ins": (CHECK_IN, None),
    "comments": (COMMENT, None),
    "drivers": (DRIVER, None),
    "driver-figures": (DRIVER_FIGURE, None),
}


class ListCreateView(ApiView):
    resource: Resource
    is_list = True
    answers_etag = True

    def get(self, request: Request) -> Response:
        params = query(request, self.resource.params)
        qs = list_queryset(self.resource, request.user, params).order_by("created_at", "id")
        paginator = ApiPagination()
        listed = LISTED_AS_ROWS.get(self.resource.name)
        if listed is None:
            page = paginator.paginate_queryset(qs, request, view=self)
            return paginator.get_paginated_response(self.resource.out(page, many=True).data)
        columns, finish = listed
        rows = Rows(qs, columns)
        shown = rows.shown(paginator.paginate_queryset(rows.listing(*ApiPagination.ordering), request, view=self))
        if finish is not None:
            finish(shown)
        return paginator.get_paginated_response(shown)

    def post(self, request: Request) -> Response:
        return idempotent(request, lambda: self._create(request))

    def _create(self, request: Request) -> Response:
        resource = self.resource
        data = validated(resource.create_in, request.data)  # type: ignore[arg-type]
        try:
            if resource.create_root is not None:
                obj = resource.create_root(request, data)
            else:
                access = resource.create_access(request, data)  # type: ignore[misc]
                obj = resource.create(access, data)  # type: ignore[misc]
        except InvalidInput as exc:
            if exc.fields.get("id") == ["Already used."]:
                raise IdTaken(
                    f"A {resource.label} with this id exists already: choose another id, or read the one you "
                    "created (a retry of your own create is better sent with an Idempotency-Key).",
                    fields=exc.fields,
                ) from exc
            raise
        obj = resource.queryset().get(pk=obj.pk)
        return object_response(resource, obj, status.HTTP_201_CREATED)


class DetailView(ApiView):
    resource: Resource
    conditional_get = True
    answers_etag = True

    def get(self, request: Request, pk: str) -> Response:
        obj, _access = load(self.resource, request.user, pk, reading=True)
        if not_modified(request, obj.version):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag(obj.version)})
        return object_response(self.resource, obj)

    def patch(self, request: Request, pk: str) -> Response:
        return self._update(request, pk, put=False)

    def put(self, request: Request, pk: str) -> Response:
        return self._update(request, pk, put=True)

    def _update(self, request: Request, pk: str, *, put: bool) -> Response:
        resource = self.resource
        obj, access = load(resource, request.user, pk)
        data = validated(resource.update_in, request.data, put=put)  # type: ignore[arg-type]
        version = expected_version(request, data)
        # Read back before the commit: after it (and its on-commit work) another writer's version
        # could already be there, and the answer would name a version this request did not make.
        with transaction.atomic():
            resource.update(access, obj, version, data)  # type: ignore[misc]
            updated = resource.queryset().get(pk=obj.pk)
        return object_response(resource, updated)

    def delete(self, request: Request, pk: str) -> Response:
        obj, access = load(self.resource, request.user, pk)
        # A resource whose delete takes options reads them from the query (check-ins: ``correction``).
        params = query(request, self.resource.delete_params) if self.resource.delete_params else {}
        version = expected_version(request, None)
        self.resource.delete(access, obj, version, **params)  # type: ignore[misc]
        return Response(status=status.HTTP_204_NO_CONTENT, headers=parent_headers(self.resource, obj))


def views_for(resource: Resource) -> tuple[type[ListCreateView], type[DetailView]]:
    """The list and detail view classes of a resource, with their OpenAPI description."""
    tag = [resource.name]
    list_methods = ["get", "head", "options"] + (["post"] if resource.create_in else [])
    list_schema = {
        "get": extend_schema(
            tags=tag, parameters=[resource.params], responses=paginated(resource.out), summary=f"List {resource.name}"
        )
    }
    if resource.create_in:
        list_schema["post"] = extend_schema(
            tags=tag, request=resource.create_in, responses={201: resource.out}, summary=f"Create a {resource.label}"
        )
    detail_methods = ["get", "head", "options"]
    detail_schema = {
        "get": extend_schema(
            tags=tag,
            parameters=[ID_PARAM],
            responses={200: resource.out, 304: None},
            summary=f"Read a {resource.label}",
        )
    }
    if resource.update:
        detail_methods += ["put", "patch"]
        for method in ("put", "patch"):
            detail_schema[method] = extend_schema(
                tags=tag,
                parameters=[ID_PARAM],
                request=resource.update_in,
                responses={200: resource.out},
                summary=f"{'Replace' if method == 'put' else 'Change'} a {resource.label}",
            )
    if resource.delete:
        detail_methods.append("delete")
        detail_schema["delete"] = extend_schema(
            tags=tag,
            parameters=[ID_PARAM, *([resource.delete_params] if resource.delete_params else [])],
            responses={204: None},
            summary=f"Delete a {resource.label}",
        )
    name = resource.label.title().replace("-", "")
    list_view = extend_schema_view(**list_schema)(
        type(
            f"{name}List",
            (ListCreateView,),
            {
                "resource": resource,
                "http_method_names": list_methods,
            },
        )
    )
    detail_view = extend_schema_view(**detail_schema)(
        type(
            f"{name}Detail",
            (DetailView,),
            {
                "resource": resource,
                "http_method_names": detail_methods,
            },
        )
    )
    return list_view, detail_view
