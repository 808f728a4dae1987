"""Invitations: how people join a partnership by e-mail (the e-mail itself is ``alignment.emails``).

Who may invite whom:

- An admin of an organisation invites people to *their own side* of its partnerships.
- A vendor admin may also invite the *partner side* as long as the partner organisation has no
  admin yet (a new partner has nobody on Partnerplan; someone has to bring its first people in).
  The first person who accepts such an *approver* invitation becomes the partner organisation's
  admin, so from then on the partner manages its own people.

The link carries a 256-bit token (``Invitation.issue_link``); only its SHA-256 is stored. It expires after
``settings.INVITATION_TTL_DAYS``, works once, can be revoked, and is bound to the invited address
(case-insensitive). Resending issues a new token: the old link stops working. Unknown, expired,
revoked and used tokens all raise the same neutral ``NotFound`` so a link reveals nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import OrganisationMembership, User, hash_token
from accounts.services import user_create
from core import outbox
from core.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from core.models import MailKind
from core.writes import lock, validate

from .access import Access
from .changes import record_change
from .models import ChangeEvent, Invitation, PartnershipMember, Role, Side

CREATE, UPDATE = ChangeEvent.Action.CREATE, ChangeEvent.Action.UPDATE

INVALID_LINK = (
    "This invitation link is not valid any more: it may have expired, been replaced by a newer one, been "
    "withdrawn or been used already. Ask the person who invited you for a new link."
)

ROLE_ABILITIES = {
    Role.VIEWER: "read the joint plan and comment on goals",
    Role.EDITOR: "edit the joint plan, propose goals and request changes",
    Role.APPROVER: "edit the joint plan and approve goals for your side",
}


def invalid_link() -> NotFound:
    return NotFound(INVALID_LINK, code="invitation.invalid")


def _normalise_email(email: str) -> str:
    email = (email or "").strip().lower() if isinstance(email, str) else ""
    try:
        validate_email(email)
    except ValidationError as exc:
        message = "Enter a valid e-mail address."
        raise InvalidInput(message, fields={"email": [message]}) from exc
    return email


MESSAGE_MAX = 2000


def _clean_message(message: str) -> str:
    message = (message or "").strip()
    if len(message) > MESSAGE_MAX:
        raise InvalidInput(
            f"Keep the message under {MESSAGE_MAX} characters.",
            fields={"message": [f"At most {MESSAGE_MAX} characters."]},
        )
    if "\x00" in message:
        raise InvalidInput("The message contains a NUL character.", fields={"message": ["Remove the NUL character."]})
    return message


def partner_has_admin(access: Access) -> bool:
    return OrganisationMembership.objects.filter(
        organisation_id=access.partnership.partner_id, role=OrganisationMembership.Role.ADMIN
    ).exists()


def invitable_sides(access: Access) -> list[str]:
    """The sides this person may invite people to (empty when they manage nothing)."""
    if not access.can_manage:
        return []
    sides = [access.side]
    if access.side == Side.VENDOR and not partner_has_admin(access):
        sides.append(Side.PARTNER)
    return sides


def _require_may_invite(access: Access, side: str) -> None:
    access.require_manage("invite people")
    if side not in Side.values:
        raise InvalidInput(
            "Invite people to the vendor or the partner side.", fields={"side": ["Choose vendor or partner."]}
        )
    if side not in invitable_sides(access):
        raise NotAllowed(
            f"You manage the {access.side} side's people; the {side} side's admins invite their own colleagues."
        )


def queue_email(invitation: Invitation) -> None:
    """The e-mail with the current link, through the outbox: sent once the transaction commits,
    once per link (a resent link is a new message; a replaced one is no longer sent)."""
    assert invitation.link_issued_at is not None
    outbox.queue(
        [
            outbox.Message(
                MailKind.INVITATION,
                "invitation",
                str(invitation.pk),
                invitation.link_issued_at,
                to_email=invitation.email,
                partnership_id=invitation.partnership_id,
            )
        ]
    )


@transaction.atomic
def invitation_create(*, access: Access, email: str, side: str, role: str, message: str = "") -> tuple[Invitation, str]:
    """Invite an e-mail address to one side of the partnership with a role.

    Returns the invitation and the raw token (never stored; it only travels in the e-mail, which
    goes out after commit)."""
    _require_may_invite(access, side)
    email = _normalise_email(email)
    if role not in Role.values:
        raise InvalidInput(f"Unknown role '{role}'.", fields={"role": [f"Choose one of {', '.join(Role.values)}."]})
    p = access.partnership
    if PartnershipMember.objects.filter(partnership=p, user__email__iexact=email).exists():
        raise RuleViolation(f"{email} is a member of this partnership already.", code="invitation.already_member")
    pending = Invitation.objects.filter(
        partnership=p,
        email__iexact=email,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )
    if pending.exists():
        raise RuleViolation(f"{email} has a pending invitation already: resend it instead.", code="invitation.pending")
    invitation = Invitation(
        partnership=p, email=email, side=side, role=role, message=_clean_message(message), invited_by=access.user
    )
    raw = invitation.issue_link()
    validate(invitation, exclude=["partnership", "invited_by", "accepted_by"])
    invitation.save(force_insert=True)
    record_change(
        actor=access.user, partnership=p, obj=invitation, action=CREATE, summary=f"invited {email} as {side} {role}"
    )
    queue_email(invitation)
    return invitation, raw


def _lock_invitation(access: Access, invitation_id: Any) -> Invitation:
    try:
        return lock(Invitation.objects.filter(partnership=access.partnership), invitation_id, "invitation")
    except (ValueError, ValidationError) as exc:
        raise NotFound("No such invitation.") from exc


@transaction.atomic
def invitation_resend(*, access: Access, invitation_id: Any) -> tuple[Invitation, str]:
    """Send a new link (with a fresh expiry). The previous link stops working at once."""
    invitation = _lock_invitation(access, invitation_id)
    _require_may_invite(access, invitation.side)
    if invitation.accepted_at:
        raise RuleViolation("This invitation was accepted already.", code="invitation.accepted")
    if invitation.revoked_at:
        raise RuleViolation("This invitation was revoked; invite the person again instead.", code="invitation.revoked")
    before = invitation.to_record()
    raw = invitation.issue_link()
    invitation.bump()
    invitation.save()
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=invitation,
        action=UPDATE,
        before=before,
        summary=f"sent a new invitation link to {invitation.email}",
    )
    queue_email(invitation)
    return invitation, raw


@transaction.atomic
def invitation_revoke(*, access: Access, invitation_id: Any) -> Invitation:
    """Withdraw an invitation so its link stops working (revoking twice changes nothing)."""
    invitation = _lock_invitation(access, invitation_id)
    access.require_manage("revoke invitations")
    if invitation.side != access.side and invitation.invited_by_id != access.user.pk:
        raise NotAllowed(f"The {invitation.side} side's admins manage that invitation.")
    if invitation.accepted_at:
        raise RuleViolation(
            "This invitation was accepted already; remove the member instead.", code="invitation.accepted"
        )
    if invitation.revoked_at:
        return invitation
    before = invitation.to_record()
    invitation.revoked_at = timezone.now()
    invitation.bump()
    invitation.save()
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=invitation,
        action=UPDATE,
        before=before,
        summary=f"revoked the invitation of {invitation.email}",
    )
    return invitation


def find_usable(raw_token: str) -> Invitation:
    """The invitation a link stands for, for showing it; the neutral ``NotFound`` otherwise."""
    if not isinstance(raw_token, str) or not raw_token or len(raw_token) > 200:
        raise invalid_link()
    invitation = (
        Invitation.objects.select_related("partnership__vendor", "partnership__partner", "invited_by")
        .filter(token_hash=hash_token(raw_token))
        .first()
    )
    if invitation is None or not invitation.is_usable:
        raise invalid_link()
    return invitation


def _claim(raw_token: str) -> Invitation:
    """Lock the invitation row for this transaction, or raise the neutral error."""
    if not isinstance(raw_token, str) or not raw_token or len(raw_token) > 200:
        raise invalid_link()
    invitation = Invitation.objects.select_for_update().filter(token_hash=hash_token(raw_token)).first()
    if invitation is None or not invitation.is_usable:
        raise invalid_link()
    return invitation


@transaction.atomic
def invitation_accept(*, raw_token: str, user: User) -> PartnershipMember:
    """Join the partnership the link stands for, as the invited side and role.

    Atomic and single-use: the invitation row is locked and claimed with a conditional UPDATE, so
    of many concurrent accepts exactly one creates the membership; the others get the neutral error.
    The signed-in person's e-mail must be the invited one. They also join the side's organisation.
    """
    invitation = _claim(raw_token)
    if not user.is_authenticated or not user.is_active:
        raise NotAllowed("Sign in to accept this invitation.")
    if user.email.strip().lower() != invitation.email.strip().lower():
        raise NotAllowed(
            "This invitation was sent to a different e-mail address than the one you are signed in with. "
            "Sign in with the invited address, or ask for an invitation to your own address.",
            code="invitation.wrong_account",
        )
    p = invitation.partnership
    if PartnershipMember.objects.filter(partnership=p, user=user).exists():
        raise RuleViolation("You are a member of this partnership already.", code="invitation.already_member")
    now = timezone.now()
    claimed = Invitation.objects.filter(
        pk=invitation.pk,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=now,
        token_hash=invitation.token_hash,
    ).update(accepted_at=now, accepted_by=user, version=invitation.version + 1, updated_at=now)
    if claimed != 1:
        raise invalid_link()
    before = invitation.to_record()
    invitation.refresh_from_db()
    try:
        with transaction.atomic():
            member = PartnershipMember.objects.create(
                partnership=p, user=user, side=invitation.side, role=invitation.role
            )
    except IntegrityError as exc:
        raise RuleViolation("You are a member of this partnership already.", code="invitation.already_member") from exc
    org = p.organisation_for(invitation.side)
    # A vendor admin brought in the partner's first approver: they administer the partner's side from now on.
    first_partner_admin = (
        invitation.side == Side.PARTNER
        and invitation.role == Role.APPROVER
        and not OrganisationMembership.objects.filter(organisation=org, role=OrganisationMembership.Role.ADMIN).exists()
    )
    org_role = OrganisationMembership.Role.ADMIN if first_partner_admin else OrganisationMembership.Role.MEMBER
    OrganisationMembership.objects.get_or_create(organisation=org, user=user, defaults={"role": org_role})
    record_change(
        actor=user,
        partnership=p,
        obj=invitation,
        action=UPDATE,
        before=before,
        summary=f"{invitation.email} accepted the invitation",
    )
    record_change(
        actor=user,
        partnership=p,
        obj=member,
        action=CREATE,
        after=member.to_record(),
        summary=f"{user.display_name} joined as {member.side} {member.role}",
    )
    return member


@transaction.atomic
def invitation_accept_as_new_person(*, raw_token: str, full_name: str, password: str) -> PartnershipMember:
    """Accept for someone without an account: create it for the invited address, then join.

    The invitation row is locked first, so concurrent sign-ups with one link create one account."""
    invitation = _claim(raw_token)
    full_name = (full_name or "").strip()
    if not full_name:
        raise InvalidInput("Tell us your name.", fields={"full_name": ["This field is required."]})
    user = user_create(email=invitation.email, password=password, full_name=full_name)
    return invitation_accept(raw_token=raw_token, user=user)
