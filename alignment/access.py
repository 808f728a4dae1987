"""The one access resolver: what a person may see and do in a partnership.

Every view, API endpoint, export, change feed and live update gets its partnership (and the
querysets under it) from here. Outsiders get ``NotFound`` (HTTP 404, existence is not leaked);
members without the right role get ``NotAllowed`` (HTTP 403).

A person's *standing* (their partnership memberships and the organisations they administer) is
what every answer here is built from. It is normally read per question; a caller that already
reads a row about the person (the API reads their token) may read the standing in the same
statement (``with_standing``) and hand it over (``remember_standing``): the answers for that
request then need no further query. Nothing is cached between requests, so a removed membership
or admin counts from the very next request, in every process. A read made for a write
(``resolve(..., for_update=True)``) always reads the standing again, after the partnership's
row lock: a write never acts on a standing read before the lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db import connection
from django.db.models import Case, CharField, Expression, F, Q, QuerySet, TextField, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from accounts.models import OrganisationMembership, User
from core.errors import NotAllowed, NotFound
from core.statements import among

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


# --- A person's standing, read once for a request --------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Everything the answers below are built from: the person's memberships and the
    organisations they administer, as read at one moment."""

    members: Mapping[uuid.UUID, tuple[str, str]]  # partnership → (side, role)
    admin_orgs: frozenset[uuid.UUID]


STANDING_ATTRIBUTE = "_access_standing"
# A person in more partnerships than this is answered with the live queries instead (two a
# question): reading all their memberships on every request would cost more than it saves.
STANDING_MEMBERSHIPS = 500


def with_standing(queryset: QuerySet[Any], user_field: str = "user_id") -> QuerySet[Any]:
    """Read the standing of the person ``user_field`` (a column of ``queryset``'s table) names in
    the same statement as ``queryset``: two correlated subqueries on indexed columns, each giving
    one text (written as SQL, not built with the ORM: this runs on every API read, and building
    the subqueries with the ORM costs more than running them). ``remember_standing`` reads it."""
    aggregate = "GROUP_CONCAT" if connection.vendor == "sqlite" else "STRING_AGG"
    qn = connection.ops.quote_name
    owner = f"{qn(queryset.model._meta.db_table)}.{qn(queryset.model._meta.get_field(user_field).column)}"
    members = PartnershipMember._meta
    # Names from the models' meta and the database's quoting only: no input reaches the SQL.
    # At most one membership more than a standing holds: the text stays small for anyone.
    memberships = (
        f"SELECT {aggregate}(m.entry, ',') FROM (SELECT {qn('partnership_id')} || ' ' || {qn('side')} "  # noqa: S608
        f"|| ' ' || {qn('role')} AS entry FROM {qn(members.db_table)} WHERE {qn('user_id')} = {owner} "
        f"LIMIT {STANDING_MEMBERSHIPS + 1}) m"
    )
    orgs = OrganisationMembership._meta
    administered = (
        f"SELECT {aggregate}({qn('organisation_id')} || '', ',') FROM {qn(orgs.db_table)} "  # noqa: S608
        f"WHERE {qn('user_id')} = {owner} AND {qn('role')} = %s"
    )
    admin = (OrganisationMembership.Role.ADMIN.value,)
    annotated: QuerySet[Any] = queryset.annotate(
        standing_members=RawSQL(memberships, (), output_field=TextField()),  # noqa: S611 - see above
        standing_admin_orgs=RawSQL(administered, admin, output_field=TextField()),  # noqa: S611 - see above
    )
    return annotated


def remember_standing(user: User | Any, row: Any) -> None:
    """Keep the standing read by ``with_standing`` (on ``row``) on the request's user instance, for
    this request only: ``access_for``, ``resolve`` (not for update) and ``resolve_many`` answer
    from it without a query. Past ``STANDING_MEMBERSHIPS`` nothing is kept (the live queries answer)."""
    entries = [entry for entry in (row.standing_members or "").split(",") if entry]
    if len(entries) > STANDING_MEMBERSHIPS:
        return
    members: dict[uuid.UUID, tuple[str, str]] = {}
    for entry in entries:
        partnership_id, side, role = entry.split(" ")
        members[uuid.UUID(partnership_id)] = (side, role)
    admin_orgs = frozenset(uuid.UUID(org) for org in (row.standing_admin_orgs or "").split(",") if org)
    setattr(user, STANDING_ATTRIBUTE, Standing(members, admin_orgs))


def _standing(user: User | Any) -> Standing | None:
    standing = getattr(user, STANDING_ATTRIBUTE, None)
    return standing if isinstance(standing, Standing) else None


def _admin_org_ids(user: User) -> QuerySet[Any]:
    return OrganisationMembership.objects.filter(user=user, role=OrganisationMembership.Role.ADMIN).values(
        "organisation_id"
    )


def read_standing(user: User | Any) -> None:
    """Read the person's standing now, in one query, and keep it for this request
    (``remember_standing``): for a page that asks the resolver about many partnerships (the
    dashboard), so that its statements name the partnerships and organisations outright."""
    if getattr(user, "is_authenticated", False) and user.is_active:
        row = with_standing(User.objects.filter(pk=user.pk).only("pk"), "id").first()
        if row is not None:
            remember_standing(user, row)


def viewer_side(user: User | Any) -> Expression:
    """The person's side in each partnership of a ``Partnership`` queryset, in SQL, as
    ``_build_access`` places them: the side of their membership, else the vendor side where they
    administer the vendor, else the partner side (what remains visible). With the request's
    standing (``remember_standing``) the memberships and organisations are lists of ids (one array
    each on PostgreSQL: a comparison a row, no join), and the queryset may be of any model that
    ``standing_filter`` applies to; without it the queryset must join the person's membership as
    ``membership`` (``with_membership``) and the organisations are a subquery."""
    standing = _standing(user)
    if standing is not None:
        on = {side: [pid for pid, (member_side, _) in standing.members.items() if member_side == side] for side in Side}
        return Case(
            When(among("pk", on[Side.VENDOR]), then=Value(Side.VENDOR.value)),
            When(among("pk", on[Side.PARTNER]), then=Value(Side.PARTNER.value)),
            When(among("vendor_id", list(standing.admin_orgs)), then=Value(Side.VENDOR.value)),
            default=Value(Side.PARTNER.value),
            output_field=CharField(),
        )
    return Coalesce(
        F("membership__side"),
        Case(When(vendor_id__in=_admin_org_ids(user), then=Value(Side.VENDOR)), default=Value(Side.PARTNER)),
        output_field=CharField(),
    )


def standing_on(user: User | Any, side: str, path: str = "partnership") -> Q:
    """Rows (of a model that reaches a partnership through ``path``) of the partnerships where the
    person stands on ``side``, as ``_build_access`` places them: a membership names the side;
    without one, an admin of the vendor organisation stands on the vendor side, else an admin of
    the partner organisation on the partner side. With the request's standing (``remember_standing``)
    the filter names its partnerships and organisations outright, which is cheaper to build than
    the subqueries that read them otherwise (the change feed builds it on every page)."""
    standing = _standing(user)
    org_field = "vendor_id" if side == Side.VENDOR else "partner_id"
    if standing is None:
        members = PartnershipMember.objects.filter(user=user)
        admin_orgs: Any = _admin_org_ids(user)
        own: Any = members.filter(side=side).values("partnership_id")
        member_ids: Any = members.values("partnership_id")
    else:
        own = [pid for pid, (member_side, _role) in standing.members.items() if member_side == side]
        member_ids = list(standing.members)
        admin_orgs = list(standing.admin_orgs)
    by_admin = Q(**{f"{path}__{org_field}__in": admin_orgs}) & ~Q(**{f"{path}_id__in": member_ids})
    if side == Side.PARTNER:
        by_admin &= ~Q(**{f"{path}__vendor_id__in": admin_orgs})
    return Q(**{f"{path}_id__in": own}) | by_admin


def visible_partnerships(user: User | Any) -> QuerySet[Partnership]:
    """Every partnership the person may see: where they are a member, and every partnership of an
    organisation they administer (vendor admins see all their partnerships). With the request's
    standing (``remember_standing``) as it was read with the request's token, else as it is now."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Partnership.objects.none()
    standing = standing_ids(user)
    if standing is not None:
        # The request's standing names them outright (an API read scopes every query by this; the
        # subqueries below cost more to build than to run).
        return partnerships_of(**standing)
    members = PartnershipMember.objects.filter(user=user).values("partnership_id")
    admin_orgs = _admin_org_ids(user)
    return Partnership.objects.filter(Q(id__in=members) | Q(vendor_id__in=admin_orgs) | Q(partner_id__in=admin_orgs))


def standing_ids(user: User | Any) -> dict[str, list[uuid.UUID]] | None:
    """The request's standing (``remember_standing``) as the values of ``partnerships_of``: the
    partnerships the person is a member of and the organisations they administer. None without one
    (then ``visible_partnerships`` reads them in subqueries)."""
    standing = _standing(user)
    if standing is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return {"members": list(standing.members), "admin_orgs": list(standing.admin_orgs)}


def partnerships_of(*, members: list[uuid.UUID], admin_orgs: list[uuid.UUID]) -> QuerySet[Partnership]:
    """The partnerships of these memberships and of the organisations administered: the rule of
    ``visible_partnerships``. Each list is one parameter on PostgreSQL (``among``), so the statement is
    the same for every person and can be kept compiled (``core.statements.Template``)."""
    return Partnership.objects.filter(standing_filter(members=members, admin_orgs=admin_orgs))


def standing_filter(*, members: list[uuid.UUID], admin_orgs: list[uuid.UUID]) -> Q:
    """The rule of ``partnerships_of`` as a filter of a model whose key is a partnership's id and
    that names the partnership's organisations as ``vendor`` and ``partner``: a ``Partnership``, or
    its stored attention row (``cadence.models.PartnershipAttention``, which the dashboard reads
    alone)."""
    return among("pk", members) | among("vendor_id", admin_orgs) | among("partner_id", admin_orgs)


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
    standing = _standing(user)
    if standing is not None:
        return _build_access(user, partnership, standing.members.get(partnership.pk), standing.admin_orgs)
    return _live_access(user, partnership)


def _live_access(user: User | Any, partnership: Partnership) -> Access | None:
    """``access_for`` from the database as it is now (two queries), whatever was read before."""
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
    return _build_access(user, partnership, (member.side, member.role) if member else None, admin_orgs)


def _build_access(
    user: Any, partnership: Partnership, member: tuple[str, str] | None, admin_orgs: set[Any] | frozenset[Any]
) -> Access | None:
    vendor_admin = partnership.vendor_id in admin_orgs
    partner_admin = partnership.partner_id in admin_orgs
    if member is not None:
        side, member_role = member
        is_admin = vendor_admin if side == Side.VENDOR else partner_admin
        # An organisation admin always approves for their own side.
        role = Role.APPROVER if is_admin else member_role
        return Access(partnership, user, side, role, is_admin)
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
    if partnership is None:
        raise NotFound("No such partnership.")
    # A write reads the standing after the row lock: a membership removed meanwhile counts.
    access = _live_access(user, partnership) if for_update else access_for(user, partnership)
    if access is None:
        raise NotFound("No such partnership.")
    return access


def resolve_many(user: User | Any, partnerships: list[Partnership]) -> dict[Any, Access]:
    """Access for many loaded partnerships in two queries (dashboards, lists)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active or not partnerships:
        return {}
    standing = _standing(user)
    members: Mapping[Any, tuple[str, str]]
    admin_orgs: set[Any] | frozenset[Any]
    if standing is not None:
        members, admin_orgs = standing.members, standing.admin_orgs
    else:
        ids = [p.pk for p in partnerships]
        found = PartnershipMember.objects.filter(user=user, partnership_id__in=ids).values_list(
            "partnership_id", "side", "role"
        )
        members = {partnership_id: (side, role) for partnership_id, side, role in found}
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
