"""Invitations: how people join a partnership by e-mail (the e-mails themselves are ``alignment.emails``).

Who may invite whom is one rule, ``Access.invite_rule(side)``, which the form, the page and these
services all ask:

- Organisation admins and the partnership's approvers invite people to *their own side*.
- The vendor side's inviters may also invite a *partner* colleague. While the partner organisation
  has no admin, a vendor admin brings in its first people directly (nobody could confirm); the
  first person who accepts such an *approver* invitation becomes the partner organisation's admin.
  From then on one of the partner's admins confirms each such invitation before any link exists
  (``invitation_confirm`` / ``invitation_decline``), unless the partner organisation lets its
  vendors invite its people directly (``Organisation.vendors_invite_directly``).

The side is checked against the address (``alignment.invitation_sides``): an address that looks like
the *other* side's is refused (``invitation.side_mismatch``) unless the inviter confirms that exact
address for that exact side, so a partner's address is never made a vendor approver by a slip.

The link carries a 256-bit token (``Invitation.issue_link``); only its SHA-256 is stored. It expires after
``settings.INVITATION_TTL_DAYS``, works once, can be revoked, and is bound to the invited address
(case-insensitive). Resending issues a new token: the old link stops working. Unknown, revoked,
declined and replaced tokens all raise the same neutral ``NotFound`` so a link reveals nothing; the
link page treats a used link (to the plan, or to sign-in) and an expired one ("ask for a new link")
more helpfully (``alignment.invitation_links``), since only the invitee can hold a 256-bit token.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts import sso
from accounts.models import Organisation, OrganisationMembership, User, hash_token
from accounts.services import user_create
from core import outbox
from core.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from core.models import MailKind
from core.templatetags.formatting import role_word, side_word
from core.writes import lock, validate

from .access import Access, InviteRule
from .changes import record_change
from .invitation_sides import confirmation_key, side_mismatch
from .models import ChangeEvent, Invitation, Partnership, PartnershipMember, Role, Side

CREATE, UPDATE = ChangeEvent.Action.CREATE, ChangeEvent.Action.UPDATE

INVALID_LINK = _(
    "This invitation link is not valid any more: it may have expired, been replaced by a newer one, been "
    "withdrawn or been used already. Ask the person who invited you for a new link."
)

ROLE_ABILITIES = {
    Role.VIEWER: _("read the joint plan and comment on goals"),
    Role.EDITOR: _("edit the joint plan, propose goals and request changes"),
    Role.APPROVER: _("edit the joint plan and approve goals for your side"),
}


def invalid_link() -> NotFound:
    return NotFound(str(INVALID_LINK), code="invitation.invalid")


def _normalise_email(email: str) -> str:
    email = (email or "").strip().lower() if isinstance(email, str) else ""
    try:
        validate_email(email)
    except ValidationError as exc:
        message = gettext("Enter a valid e-mail address.")
        raise InvalidInput(message, fields={"email": [message]}) from exc
    return email


MESSAGE_MAX = 2000


def _clean_message(message: str) -> str:
    message = (message or "").strip()
    if len(message) > MESSAGE_MAX:
        raise InvalidInput(
            gettext("Keep the message under %(max)d characters.") % {"max": MESSAGE_MAX},
            fields={"message": [gettext("At most %(max)d characters.") % {"max": MESSAGE_MAX}]},
        )
    if "\x00" in message:
        raise InvalidInput(
            gettext("The message contains a NUL character."), fields={"message": [gettext("Remove the NUL character.")]}
        )
    return message


def partner_has_admin(access: Access) -> bool:
    return access.partner_has_admin


def side_rules(access: Access) -> list[InviteRule]:
    """Both sides, the person's own first, each with whether and how they may invite to it."""
    return [access.invite_rule(access.side), access.invite_rule(access.other_side)]


def invitable_sides(access: Access) -> list[str]:
    """The sides this person may invite people to (empty when they invite nobody)."""
    return [rule.side for rule in side_rules(access) if rule.allowed]


def side_label(partnership: Partnership, side: str, own_side: str | None = None) -> str:
    """A side in words that name the company: "Acme Cloud (vendor, your side)"."""
    words = {"organisation": partnership.organisation_for(side).name, "side": side_word(side)}
    if side == own_side:
        return gettext("%(organisation)s (%(side)s, your side)") % words
    return gettext("%(organisation)s (%(side)s)") % words


# --- E-mails --------------------------------------------------------------------------------------


def queue_email(invitation: Invitation) -> None:
    """The e-mail with the current link, through the outbox: sent once the transaction commits,
    once per link (a resent link is a new message; a replaced one is no longer sent). Written in
    the inviting person's language: the address has no account, so no language of its own."""
    assert invitation.link_issued_at is not None
    inviter = invitation.invited_by
    outbox.queue(
        [
            outbox.Message(
                MailKind.INVITATION,
                "invitation",
                str(invitation.pk),
                invitation.link_issued_at,
                to_email=invitation.email,
                partnership_id=invitation.partnership_id,
                language=inviter.language if inviter is not None else "",
            )
        ]
    )


def side_admins(partnership: Partnership, side: str) -> list[User]:
    """The active admins of a side's organisation."""
    return list(
        User.objects.filter(
            is_active=True,
            org_memberships__organisation_id=partnership.organisation_for(side).pk,
            org_memberships__role=OrganisationMembership.Role.ADMIN,
        ).order_by("full_name", "email")
    )


def queue_confirmation_request(invitation: Invitation) -> None:
    """Ask the invited side's admins to confirm (no link exists yet)."""
    outbox.queue(
        [
            outbox.Message(
                MailKind.INVITATION_CONFIRM,
                "invitation",
                str(invitation.pk),
                invitation.created_at,
                recipient_id=admin.pk,
                partnership_id=invitation.partnership_id,
            )
            for admin in side_admins(invitation.partnership, invitation.side)
        ]
    )


# --- Inviting -------------------------------------------------------------------------------------


def _open_invitations(partnership: Partnership, email: str) -> Any:
    """Invitations of this address that still lead somewhere: a live link, or waiting for confirmation."""
    return Invitation.objects.filter(
        partnership=partnership,
        email__iexact=email,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        declined_at__isnull=True,
    ).filter(Q(expires_at__gt=timezone.now()) | Q(needs_confirmation=True, confirmed_at__isnull=True))


@transaction.atomic
def invitation_create(
    *, access: Access, email: str, side: str, role: str, message: str = "", confirm_side: str = ""
) -> tuple[Invitation, str]:
    """Invite an e-mail address to one side of the partnership with a role.

    ``confirm_side`` is the inviter's confirmation after a side mismatch: it must be
    ``confirmation_key(side, email)`` of this very address and side. When the invited side's admins
    confirm first, no link exists yet and the raw token returned is empty; otherwise it is the link's
    token (never stored; it only travels in the e-mail, which goes out after commit)."""
    if side not in Side.values:
        raise InvalidInput(
            gettext("Invite people to the vendor or the partner side."),
            fields={"side": [gettext("Choose vendor or partner.")]},
        )
    rule = access.require_invite(side)
    email = _normalise_email(email)
    if role not in Role.values:
        raise InvalidInput(
            gettext("Unknown role '%(role)s'.") % {"role": role},
            fields={"role": [gettext("Choose one of %(roles)s.") % {"roles": ", ".join(Role.values)}]},
        )
    p = access.partnership
    if PartnershipMember.objects.filter(partnership=p, user__email__iexact=email).exists():
        raise RuleViolation(
            gettext("%(email)s is a member of this partnership already.") % {"email": email},
            code="invitation.already_member",
        )
    waiting = _open_invitations(p, email).first()
    if waiting is not None:
        if waiting.awaits_confirmation:
            org = p.organisation_for(waiting.side).name
            raise RuleViolation(
                gettext("%(email)s has an invitation waiting for %(organisation)s's admins to confirm already.")
                % {"email": email, "organisation": org},
                code="invitation.pending",
            )
        raise RuleViolation(
            gettext("%(email)s has a pending invitation already: resend it instead.") % {"email": email},
            code="invitation.pending",
        )
    mismatch = side_mismatch(p, email, side)
    if mismatch is not None and confirm_side != confirmation_key(side, email):
        text = mismatch.message(email, side, p)
        raise RuleViolation(text, code="invitation.side_mismatch", fields={"side": [text]})
    invitation = Invitation(
        partnership=p,
        email=email,
        side=side,
        role=role,
        message=_clean_message(message),
        invited_by=access.user,
        needs_confirmation=rule.needs_confirmation,
    )
    if rule.needs_confirmation:
        invitation.withhold_link()
        raw = ""
    else:
        raw = invitation.issue_link()
    validate(invitation, exclude=["partnership", "invited_by", "accepted_by", "confirmed_by", "declined_by"])
    invitation.save(force_insert=True)
    summary = f"invited {email} as {side} {role}"
    if rule.needs_confirmation:
        summary += f", to be confirmed by {p.organisation_for(side).name}'s admins"
    if mismatch is not None:
        summary += f" (confirmed although the address looks like {mismatch.organisation.name}'s)"
    record_change(actor=access.user, partnership=p, obj=invitation, action=CREATE, summary=summary)
    if rule.needs_confirmation:
        queue_confirmation_request(invitation)
    else:
        queue_email(invitation)
    return invitation, raw


def _lock_invitation(access: Access, invitation_id: Any) -> Invitation:
    try:
        return lock(Invitation.objects.filter(partnership=access.partnership), invitation_id, "invitation")
    except (ValueError, ValidationError) as exc:
        raise NotFound(gettext("No such invitation.")) from exc


def _refuse_closed(invitation: Invitation) -> None:
    """The clear reason why nothing more can happen to an accepted, revoked or declined invitation."""
    if invitation.accepted_at:
        raise RuleViolation(gettext("This invitation was accepted already."), code="invitation.accepted")
    if invitation.revoked_at:
        raise RuleViolation(
            gettext("This invitation was revoked; invite the person again instead."), code="invitation.revoked"
        )
    if invitation.declined_at:
        org = invitation.partnership.organisation_for(invitation.side).name
        raise RuleViolation(
            gettext("%(organisation)s's admins declined this invitation.") % {"organisation": org},
            code="invitation.declined",
        )


@transaction.atomic
def invitation_resend(*, access: Access, invitation_id: Any) -> tuple[Invitation, str]:
    """Send a new link (with a fresh expiry). The previous link stops working at once."""
    invitation = _lock_invitation(access, invitation_id)
    access.require_invite(invitation.side)
    _refuse_closed(invitation)
    if invitation.awaits_confirmation:
        org = access.partnership.organisation_for(invitation.side).name
        raise RuleViolation(
            gettext("This invitation waits for %(organisation)s's admins to confirm it; no link has been sent yet.")
            % {"organisation": org},
            code="invitation.awaiting",
        )
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
    if not access.can_revoke(invitation):
        if not access.can_invite_own_side:
            raise NotAllowed(
                gettext("Only admins and approvers may revoke invitations; your role is %(role)s.")
                % {"role": role_word(access.role)}
            )
        org = access.partnership.organisation_for(invitation.side).name
        raise NotAllowed(
            gettext("%(organisation)s's admins and approvers manage that invitation.") % {"organisation": org}
        )
    if invitation.accepted_at:
        raise RuleViolation(
            gettext("This invitation was accepted already; remove the member instead."), code="invitation.accepted"
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


# --- Confirming the other side's invitation of a colleague --------------------------------------


def _lock_for_decision(access: Access, invitation_id: Any) -> Invitation:
    invitation = _lock_invitation(access, invitation_id)
    if not access.can_confirm_invitations_to(invitation.side):
        org = access.partnership.organisation_for(invitation.side).name
        raise NotAllowed(gettext("Only %(organisation)s's admins confirm who joins its side.") % {"organisation": org})
    if not invitation.needs_confirmation:
        raise RuleViolation(gettext("This invitation needs no confirmation."), code="invitation.no_confirmation")
    return invitation


@transaction.atomic
def invitation_confirm(*, access: Access, invitation_id: Any) -> Invitation:
    """An admin of the invited side confirms the other side's invitation of a colleague: the link is
    issued now (its expiry counts from now) and e-mailed. Confirming twice changes nothing."""
    invitation = _lock_for_decision(access, invitation_id)
    if invitation.confirmed_at is not None and invitation.revoked_at is None:
        return invitation
    _refuse_closed(invitation)
    before = invitation.to_record()
    invitation.confirmed_at = timezone.now()
    invitation.confirmed_by = access.user
    invitation.issue_link()
    invitation.bump()
    invitation.save()
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=invitation,
        action=UPDATE,
        before=before,
        summary=f"confirmed the invitation of {invitation.email} as {invitation.side} {invitation.role}",
    )
    queue_email(invitation)
    return invitation


@transaction.atomic
def invitation_decline(*, access: Access, invitation_id: Any) -> Invitation:
    """An admin of the invited side declines the other side's invitation of a colleague: no link is
    ever sent. Declining twice changes nothing."""
    invitation = _lock_for_decision(access, invitation_id)
    if invitation.declined_at is not None:
        return invitation
    if invitation.confirmed_at is not None and invitation.revoked_at is None and invitation.accepted_at is None:
        raise RuleViolation(
            gettext("This invitation was confirmed already and its link sent; revoke it instead."),
            code="invitation.confirmed",
        )
    _refuse_closed(invitation)
    before = invitation.to_record()
    invitation.declined_at = timezone.now()
    invitation.declined_by = access.user
    invitation.bump()
    invitation.save()
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=invitation,
        action=UPDATE,
        before=before,
        summary=f"declined the invitation of {invitation.email}",
    )
    return invitation


@transaction.atomic
def organisation_set_vendors_invite_directly(*, access: Access, allowed: bool) -> Organisation:
    """The partner organisation's admins decide whether its vendors' invitations of its people go
    straight out (``allowed``) or wait for one of them to confirm (the default). It is the
    organisation's setting, so it holds in all of its partnerships; invitations already waiting
    still wait."""
    if not access.can_set_vendor_invitations:
        name = access.partnership.partner.name
        raise NotAllowed(
            gettext("Only %(organisation)s's admins decide how vendors invite its people.") % {"organisation": name}
        )
    org = Organisation.objects.select_for_update().get(pk=access.partnership.partner_id)
    if org.vendors_invite_directly != bool(allowed):
        org.vendors_invite_directly = bool(allowed)
        org.save(update_fields=["vendors_invite_directly"])
    return org


# --- The link ---------------------------------------------------------------------------------


def valid_token(raw_token: Any) -> bool:
    return isinstance(raw_token, str) and bool(raw_token) and len(raw_token) <= 200


def find_by_link(raw_token: str) -> Invitation | None:
    """The invitation a link stands for in whatever state, or None (for the link page to choose
    what to show; acting on it goes through the services below)."""
    if not valid_token(raw_token):
        return None
    return (
        Invitation.objects.select_related("partnership__vendor", "partnership__partner", "invited_by", "confirmed_by")
        .filter(token_hash=hash_token(raw_token))
        .first()
    )


def find_usable(raw_token: str) -> Invitation:
    """The invitation a link stands for, for showing it; the neutral ``NotFound`` otherwise."""
    invitation = find_by_link(raw_token)
    if invitation is None or not invitation.is_usable:
        raise invalid_link()
    return invitation


def _claim(raw_token: str) -> Invitation:
    """Lock the invitation row for this transaction, or raise the neutral error."""
    if not valid_token(raw_token):
        raise invalid_link()
    invitation = Invitation.objects.select_for_update().filter(token_hash=hash_token(raw_token)).first()
    if invitation is None or not invitation.is_usable:
        raise invalid_link()
    return invitation


@transaction.atomic
def invitation_accept(*, raw_token: str, user: User, language: str = "") -> PartnershipMember:
    """Join the partnership the link stands for, as the invited side and role. A person without a
    language of their own keeps ``language``, the one the accepting page was served in.

    Atomic and single-use: the invitation row is locked and claimed with a conditional UPDATE, so
    of many concurrent accepts exactly one creates the membership; the others get the neutral error.
    The signed-in person's e-mail must be the invited one. They also join the side's organisation.
    """
    invitation = _claim(raw_token)
    if not user.is_authenticated or not user.is_active:
        raise NotAllowed(gettext("Sign in to accept this invitation."))
    if user.email.strip().lower() != invitation.email.strip().lower():
        raise NotAllowed(
            gettext(
                "This invitation was sent to a different e-mail address than the one you are signed in with. "
                "Sign in with the invited address, or ask for an invitation to your own address."
            ),
            code="invitation.wrong_account",
        )
    p = invitation.partnership
    if PartnershipMember.objects.filter(partnership=p, user=user).exists():
        raise RuleViolation(gettext("You are a member of this partnership already."), code="invitation.already_member")
    now = timezone.now()
    claimed = (
        Invitation.objects.filter(
            pk=invitation.pk,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            declined_at__isnull=True,
            expires_at__gt=now,
            token_hash=invitation.token_hash,
        )
        .filter(Q(needs_confirmation=False) | Q(confirmed_at__isnull=False))
        .update(accepted_at=now, accepted_by=user, version=invitation.version + 1, updated_at=now)
    )
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
        raise RuleViolation(
            gettext("You are a member of this partnership already."), code="invitation.already_member"
        ) from exc
    org = p.organisation_for(invitation.side)
    # A vendor admin brought in the partner's first approver: they administer the partner's side from now on.
    first_partner_admin = (
        invitation.side == Side.PARTNER
        and invitation.role == Role.APPROVER
        and not OrganisationMembership.objects.filter(organisation=org, role=OrganisationMembership.Role.ADMIN).exists()
    )
    org_role = OrganisationMembership.Role.ADMIN if first_partner_admin else OrganisationMembership.Role.MEMBER
    OrganisationMembership.objects.get_or_create(organisation=org, user=user, defaults={"role": org_role})
    user.keep_language(language)
    record_change(
        actor=user,
        partnership=p,
        obj=invitation,
        action=UPDATE,
        before=before,
        summary="accepted the invitation",
    )
    record_change(
        actor=user,
        partnership=p,
        obj=member,
        action=CREATE,
        after=member.to_record(),
        summary=f"joined as {member.side} {member.role}",
    )
    return member


@transaction.atomic
def invitation_accept_as_new_person(
    *, raw_token: str, full_name: str, password: str, language: str = ""
) -> PartnershipMember:
    """Accept for someone without an account: create it for the invited address, then join.

    The invitation row is locked first, so concurrent sign-ups with one link create one account."""
    invitation = _claim(raw_token)
    # Where the address's organisation signs its people in with its own identity provider, the
    # account comes from signing in there (then the invitee accepts signed in), never a password.
    refusal = sso.password_refusal(invitation.email)
    if refusal is not None:
        raise NotAllowed(refusal, code="invitation.sso_required")
    full_name = (full_name or "").strip()
    if not full_name:
        raise InvalidInput(gettext("Tell us your name."), fields={"full_name": [gettext("This field is required.")]})
    user = user_create(email=invitation.email, password=password, full_name=full_name)
    return invitation_accept(raw_token=raw_token, user=user, language=language)
