"""The one access resolver: what a person may see and do in a partnership.

Every view, API endpoint, export, change feed and live update gets its partnership (and the
querysets under it) from here. Outsiders get ``NotFound`` (HTTP 404, existence is not leaked);
members without the right role get ``NotAllowed`` (HTTP 403).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import OrganisationMembership, User
from core.errors import NotAllowed, NotFound

from .models import Invitation, Partnership, PartnershipMember, Role, Side

ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.APPROVER: 3}

# The review schedule of a partnership: approvers change it too, not only organisation admins.
SCHEDULE_FIELDS = frozenset(
    {
        "review_cadence",
        "review_rrule",
        "review_time",
        "review_duration_minutes",
        "timezone",
        "reminder_offsets_days",
        "reviews_on_working_days",
    }
)


@dataclass(frozen=True)
class InviteRule:
    """Whether a person may invite someone to one side, and how: ``reason`` says why not (for the
    refusal and for the explanation beside the side they may not choose); ``needs_confirmation``
    means an admin of that side's organisation confirms before the link goes out; ``note`` says
    what will happen, in words for the invitation form."""

    side: str
    allowed: bool
    needs_confirmation: bool = False
    reason: str = ""
    note: str = ""


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

    # --- People and invitations -------------------------------------------------------------

    @property
    def can_invite_own_side(self) -> bool:
        """Organisation admins and the partnership's approvers bring in their own side's people."""
        return self.is_org_admin or self.role == Role.APPROVER

    @property
    def can_manage_invitations(self) -> bool:
        """Open the invitations page: whoever invites for their side (admins confirm there too)."""
        return self.can_invite_own_side

    @cached_property
    def partner_has_admin(self) -> bool:
        """Whether the partner organisation has an admin on Partnerplan yet (one query, once)."""
        return OrganisationMembership.objects.filter(
            organisation_id=self.partnership.partner_id, role=OrganisationMembership.Role.ADMIN
        ).exists()

    def invite_rule(self, side: str) -> InviteRule:
        """May this person invite someone to ``side``, and does an admin of that side confirm first?

        - Their own side: organisation admins and the side's approvers, directly.
        - The partner side, for the vendor side's inviters: while the partner organisation has no
          admin, a vendor admin brings in its first people directly (nobody could confirm); after
          that, one of the partner's admins confirms each invitation, unless the partner lets its
          vendors invite its people directly (``Organisation.vendors_invite_directly``).
        - The vendor side, for the partner side: never; the vendor's people invite their own.
        """
        p = self.partnership
        org, own_org = p.organisation_for(side).name, p.organisation_for(self.side).name
        if side == self.side:
            if self.can_invite_own_side:
                return InviteRule(side, True)
            return InviteRule(
                side,
                False,
                reason=f"Only {org}'s admins and this partnership's approvers invite {org}'s people; "
                f"your role is {self.role}.",
            )
        if side == Side.VENDOR:
            return InviteRule(side, False, reason=f"{org}'s admins and approvers invite {org}'s people.")
        if not self.can_invite_own_side:
            return InviteRule(
                side,
                False,
                reason=f"Only {own_org}'s admins and this partnership's approvers invite people; "
                f"your role is {self.role}.",
            )
        if not self.partner_has_admin:
            if self.is_org_admin:
                return InviteRule(
                    side,
                    True,
                    note=f"{org} has no admin on Partnerplan yet: the first approver who joins becomes its admin.",
                )
            return InviteRule(
                side,
                False,
                reason=f"{org} has no admin on Partnerplan yet: an admin of {own_org} brings in its first people.",
            )
        if p.partner.vendors_invite_directly:
            return InviteRule(side, True, note=f"{org} lets its vendors invite its people directly.")
        return InviteRule(
            side,
            True,
            needs_confirmation=True,
            note=f"One of {org}'s admins confirms first; the link goes out when they do.",
        )

    def can_invite(self, side: str) -> bool:
        return self.invite_rule(side).allowed

    def can_confirm_invitations_to(self, side: str) -> bool:
        """Confirm or decline the other side's invitation of a colleague: the side's organisation admins."""
        return self.is_org_admin and side == self.side

    @property
    def can_confirm_invitations(self) -> bool:
        return self.can_confirm_invitations_to(self.side)

    def can_revoke(self, invitation: Invitation) -> bool:
        """Withdraw an invitation: its side's inviters, and whoever sent it."""
        return self.can_invite_own_side and (invitation.side == self.side or invitation.invited_by_id == self.user.pk)

    @property
    def can_set_vendor_invitations(self) -> bool:
        """Let vendors invite the partner's people without confirmation: the partner's admins."""
        return self.is_org_admin and self.side == Side.PARTNER

    # --- Settings ---------------------------------------------------------------------------

    @property
    def can_change_schedule(self) -> bool:
        """The review cadence and schedule: organisation admins and the partnership's approvers."""
        return self.is_org_admin or self.role == Role.APPROVER

    def require_change_schedule(self) -> None:
        if not self.can_change_schedule:
            raise NotAllowed(f"Only approvers and admins may change the review schedule; your role is {self.role}.")

    def can_change_partnership(self, fields: Iterable[str]) -> bool:
        """Change these partnership settings: the review schedule (``SCHEDULE_FIELDS``) for approvers
        and admins, anything else for organisation admins only."""
        return self.can_change_schedule if set(fields) <= SCHEDULE_FIELDS else self.can_manage

    def require_change_partnership(self, fields: Iterable[str]) -> None:
        fields = set(fields)
        if fields <= SCHEDULE_FIELDS:
            self.require_change_schedule()
        else:
            self.require_manage("change the partnership settings")

    def require_invite(self, side: str) -> InviteRule:
        rule = self.invite_rule(side)
        if not rule.allowed:
            raise NotAllowed(rule.reason)
        return rule

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
