"""The one access resolver: what a person may see and do in a partnership.

Every view, API endpoint, export, change feed and live update gets its partnership (and the
querysets under it) from here. Outsiders get ``NotFound`` (HTTP 404, existence is not leaked);
members without the right role get ``NotAllowed`` (HTTP 403).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import OrganisationMembership, User
from core.errors import NotAllowed, NotFound

from .models import Partnership, PartnershipMember, Role, Side

ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.APPROVER: 3}


@dataclass(frozen=True)
class Access:
    """A person's standing in one partnership."""

    partnership: Partnership
    user: User
    side: str
    role: str
    is_org_admin: bool  # admin of the organisation on their side: manages members and settings

    @property
    def can_edit(self) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role.EDITOR]

    @property
    def can_approve(self) -> bool:
        return self.role == Role.APPROVER

    @property
    def can_manage(self) -> bool:
        """Invite people and change partnership settings (for the own side's people)."""
        return self.is_org_admin

    @property
    def other_side(self) -> str:
        return Side.other(self.side)

    def require_edit(self, what: str = "change this plan") -> None:
        if not self.can_edit:
            raise NotAllowed(f"Your role ({self.role}) may not {what}; editors and approvers may.")

    def require_approve(self, what: str = "approve") -> None:
        if not self.can_approve:
            raise NotAllowed(f"Only approvers may {what}; your role on the {self.side} side is {self.role}.")

    def require_manage(self, what: str = "manage this partnership") -> None:
        if not self.can_manage:
            raise NotAllowed(f"Only admins of your organisation may {what}.")


def _admin_org_ids(user: User) -> QuerySet[Any]:
    return OrganisationMembership.objects.filter(user=user, role=OrganisationMembership.Role.ADMIN).values(
        "organisation_id"
    )


def visible_partnerships(user: User | Any) -> QuerySet[Partnership]:
    """Every partnership the person may see: where they are a member, and every partnership of an
    organisation they administer (vendor admins see all their partnerships)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Partnership.objects.none()
    admin_orgs = _admin_org_ids(user)
    return Partnership.objects.filter(
        Q(id__in=PartnershipMember.objects.filter(user=user).values("partnership_id"))
        | Q(vendor_id__in=admin_orgs)
        | Q(partner_id__in=admin_orgs)
    )


def _parse_id(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError) as exc:
        raise NotFound("No such partnership.") from exc


def access_for(user: User | Any, partnership: Partnership) -> Access | None:
    """The person's access to an already loaded partnership, or None for an outsider."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    member = PartnershipMember.objects.filter(partnership=partnership, user=user).first()
    admin_orgs = set(
        OrganisationMembership.objects.filter(
            user=user,
            role=OrganisationMembership.Role.ADMIN,
            organisation_id__in=[partnership.vendor_id, partnership.partner_id],
        ).values_list("organisation_id", flat=True)
    )
    return _build_access(user, partnership, member, admin_orgs)


def _build_access(
    user: Any, partnership: Partnership, member: PartnershipMember | None, admin_orgs: set[Any]
) -> Access | None:
    vendor_admin = partnership.vendor_id in admin_orgs
    partner_admin = partnership.partner_id in admin_orgs
    if member is not None:
        is_admin = vendor_admin if member.side == Side.VENDOR else partner_admin
        # An organisation admin always approves for their own side.
        role = Role.APPROVER if is_admin else member.role
        return Access(partnership, user, member.side, role, is_admin)
    if vendor_admin:
        return Access(partnership, user, Side.VENDOR, Role.APPROVER, True)
    if partner_admin:
        return Access(partnership, user, Side.PARTNER, Role.APPROVER, True)
    return None


def resolve(user: User | Any, partnership_id: Any, *, for_update: bool = False) -> Access:
    """Load a partnership for a person, or raise ``NotFound`` if they may not see it."""
    pk = _parse_id(partnership_id)
    qs = Partnership.objects.select_related("vendor", "partner")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    partnership = qs.filter(pk=pk).first()
    access = access_for(user, partnership) if partnership is not None else None
    if access is None:
        raise NotFound("No such partnership.")
    return access


def resolve_many(user: User | Any, partnerships: list[Partnership]) -> dict[Any, Access]:
    """Access for many loaded partnerships in two queries (dashboards, lists)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active or not partnerships:
        return {}
    ids = [p.pk for p in partnerships]
    members = {m.partnership_id: m for m in PartnershipMember.objects.filter(user=user, partnership_id__in=ids)}
    admin_orgs = set(_admin_org_ids(user).values_list("organisation_id", flat=True))
    result = {}
    for p in partnerships:
        access = _build_access(user, p, members.get(p.pk), admin_orgs)
        if access is not None:
            result[p.pk] = access
    return result


def scoped(user: User | Any, queryset: QuerySet[Any], path: str = "partnership") -> QuerySet[Any]:
    """Restrict any queryset of plan objects to the partnerships the person may see."""
    return queryset.filter(**{f"{path}__in": visible_partnerships(user)})
