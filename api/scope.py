"""What an API token may reach: the access resolver (``alignment.access``) narrowed by the token.

A person's token acts with the person's access, narrowed by its scope: a read-only token reads
only (its access in every partnership is a viewer's, and every write is refused with
``token_read_only``), a token for some partnerships sees only those (the others answer 404, as
to an outsider), and an expired token is no token at all (401).

A service token belongs to an organisation and acts as its own service account: in every
partnership of the organisation it stands on the organisation's side as an editor (a viewer
when read-only). It never approves, endorses or manages people: consent stays with people.

Every loader of the API goes through here, never through ``alignment.access`` directly, so a
token's scope holds for every resource, the change feed and ``/plan`` alike.

A read (GET, HEAD, OPTIONS) finds its token and the holder's standing (memberships, administered
organisations) in one statement (``find_token``), and the resolver answers the rest of the
request from that standing: the cheapest read pays one query for who is calling and what they
may see, plus the query for what they asked for. Nothing of it outlives the request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework.request import Request

from accounts.models import ApiToken, hash_token
from alignment import access as resolver
from alignment.access import Access
from alignment.models import Partnership, Role, Side
from core.errors import NotFound
from core.statements import Compiled


@dataclasses.dataclass(frozen=True)
class TokenScope:
    read_only: bool
    partnerships: frozenset[uuid.UUID] | None  # None: every partnership the holder may see
    organisation_id: uuid.UUID | None  # a service token's organisation

    @classmethod
    def of(cls, token: ApiToken) -> TokenScope | None:
        ids = frozenset(uuid.UUID(str(p)) for p in token.partnerships or [])
        if not token.read_only and not ids and token.organisation_id is None:
            return None  # a person's token without limits: the person's access
        return cls(token.read_only, ids or None, token.organisation_id)


SCOPE_ATTRIBUTE = "_api_token_scope"


def _tokens(token_hash: str, now: dt.datetime, with_standing: bool) -> QuerySet[ApiToken]:
    tokens: QuerySet[ApiToken] = (
        ApiToken.objects.active(now).select_related("user").filter(token_hash=token_hash).order_by()
    )
    if with_standing:
        tokens = resolver.with_standing(tokens, "user_id")
    return tokens[:1]  # the hash is unique: no ordering to build or sort by


# Every API request reads its token: the statement is built and compiled once per connection.
_TOKEN = {
    standing: Compiled(
        f"api_token{'_standing' if standing else ''}",
        ApiToken,
        lambda token_hash, now, standing=standing: _tokens(token_hash, now, standing),
        token_hash=str,
        now=dt.datetime,
    )
    for standing in (False, True)
}


def find_token(raw: str, *, with_standing: bool) -> ApiToken | None:
    """The active token with this plaintext and its holder, in one query; ``with_standing`` reads
    the holder's standing in the same statement (for ``attach``)."""
    return next(iter(_TOKEN[with_standing](token_hash=hash_token(raw), now=timezone.now())), None)


def attach(user: Any, token: ApiToken) -> None:
    """Remember the token's scope on the request's user (a fresh instance per request), and the
    holder's standing when ``find_token`` read it."""
    setattr(user, SCOPE_ATTRIBUTE, TokenScope.of(token))
    if hasattr(token, "standing_members"):
        resolver.remember_standing(user, token)


def scope_of(user: Any) -> TokenScope | None:
    scope = getattr(user, SCOPE_ATTRIBUTE, None)
    return scope if isinstance(scope, TokenScope) else None


def is_read_only(request: Request) -> bool:
    scope = scope_of(request.user)
    return scope is not None and scope.read_only


def may_start_partnerships(user: Any) -> bool:
    """Starting a partnership needs a person's token for every partnership (or the browser)."""
    scope = scope_of(user)
    return scope is None or (scope.partnerships is None and scope.organisation_id is None and not scope.read_only)


def visible_partnerships(user: Any) -> QuerySet[Partnership]:
    scope = scope_of(user)
    if scope is not None and scope.organisation_id is not None:
        org = scope.organisation_id
        qs = (
            Partnership.objects.filter(Q(vendor_id=org) | Q(partner_id=org))
            if user.is_active
            else Partnership.objects.none()
        )
    else:
        qs = resolver.visible_partnerships(user)
    if scope is not None and scope.partnerships is not None:
        qs = qs.filter(pk__in=scope.partnerships)
    return qs


def standing_partnership_ids(*, members: list[uuid.UUID], admin_orgs: list[uuid.UUID]) -> QuerySet[Any]:
    return resolver.partnerships_of(members=members, admin_orgs=admin_orgs).values("pk")


def visible_partnership_values(user: Any) -> dict[str, list[uuid.UUID]] | None:
    """What ``standing_partnership_ids`` takes to give the ids of ``visible_partnerships(user)``: for a
    person's token read with its holder's standing. None for a service or narrowed token, or without
    the standing (then ``visible_partnerships`` answers)."""
    scope = scope_of(user)
    if scope is not None and (scope.organisation_id is not None or scope.partnerships is not None):
        return None
    return resolver.standing_ids(user)


def _narrowed(scope: TokenScope | None, access: Access | None) -> Access | None:
    if access is None or scope is None:
        return access
    if scope.partnerships is not None and access.partnership.pk not in scope.partnerships:
        return None
    if scope.read_only:
        return dataclasses.replace(access, role=Role.VIEWER, is_org_admin=False)
    return access


def _service_access(user: Any, scope: TokenScope, partnership: Partnership) -> Access | None:
    if not user.is_active:
        return None
    if partnership.vendor_id == scope.organisation_id:
        side = Side.VENDOR
    elif partnership.partner_id == scope.organisation_id:
        side = Side.PARTNER
    else:
        return None
    return Access(partnership, user, side, Role.EDITOR, False)


def access_for(user: Any, partnership: Partnership) -> Access | None:
    scope = scope_of(user)
    if scope is not None and scope.organisation_id is not None:
        return _narrowed(scope, _service_access(user, scope, partnership))
    return _narrowed(scope, resolver.access_for(user, partnership))


def resolve(user: Any, partnership_id: Any) -> Access:
    """Load a partnership for the caller, or ``NotFound`` (outsiders and what the token may not reach)."""
    try:
        pk = partnership_id if isinstance(partnership_id, uuid.UUID) else uuid.UUID(str(partnership_id))
    except (TypeError, ValueError, AttributeError) as exc:
        raise NotFound("No such partnership.") from exc
    partnership = Partnership.objects.select_related("vendor", "partner").filter(pk=pk).first()
    access = access_for(user, partnership) if partnership is not None else None
    if access is None:
        raise NotFound("No such partnership.")
    return access


def resolve_many(user: Any, partnerships: list[Partnership]) -> dict[Any, Access]:
    scope = scope_of(user)
    if scope is not None and scope.organisation_id is not None:
        found = {p.pk: _narrowed(scope, _service_access(user, scope, p)) for p in partnerships}
        return {pk: a for pk, a in found.items() if a is not None}
    accesses = resolver.resolve_many(user, partnerships)
    narrowed = {pk: _narrowed(scope, a) for pk, a in accesses.items()}
    return {pk: a for pk, a in narrowed.items() if a is not None}


def scoped(user: Any, queryset: QuerySet[Any], path: str = "partnership") -> QuerySet[Any]:
    return queryset.filter(**{f"{path}__in": visible_partnerships(user)})
