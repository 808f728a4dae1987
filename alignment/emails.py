"""The invitation e-mails, sent through the outbox (``core.outbox``).

- ``invitation``: the link, to the invited address. The outbox row names the invitation and the
  moment its link was issued; the sender derives the link from the invitation
  (``Invitation.link_token``), so no token is ever stored or passed through the broker. A row for a
  link that was replaced (resent), revoked, accepted or has expired sends nothing, so a late run
  never mails a dead link.
- ``invitation_confirm``: to the invited side's admins when the other side invited one of their
  colleagues; nothing is sent once the invitation was confirmed, declined or revoked.
- ``invitation_link_request``: to the inviter (or the side's admins) when the invitee asks for a new
  link; nothing is sent once a new link went out or the invitation is closed.
"""

from __future__ import annotations

from typing import cast

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse

from accounts.emails import send_to_person
from accounts.models import OrganisationMembership, hash_token
from core import outbox
from core.models import MailKind, OutboxMessage

from .changes import record_change
from .invitation_links import inviter_organisation
from .invitations import ROLE_ABILITIES, queue_email
from .models import ChangeEvent, Invitation, Role, Side


def invitation_url(raw_token: str) -> str:
    return cast(str, settings.SITE_URL) + reverse("invitation", args=[raw_token])


def manage_url(invitation: Invitation, anchor: str = "") -> str:
    url = cast(str, settings.SITE_URL) + reverse("invitations-manage", args=[invitation.partnership_id])
    return f"{url}#{anchor}" if anchor else url


def _load(row: OutboxMessage) -> Invitation | None:
    return (
        Invitation.objects.select_related("partnership__vendor", "partnership__partner", "invited_by", "confirmed_by")
        .filter(pk=row.subject_id)
        .first()
    )


def _inviter_name(invitation: Invitation) -> str:
    inviter = invitation.invited_by
    return inviter.display_name if inviter else invitation.partnership.organisation_for(invitation.side).name


@outbox.sender(MailKind.INVITATION)
def invitation_email(row: OutboxMessage) -> bool:
    """The invitation e-mail: mentions only the partnership it is for."""
    invitation = _load(row)
    if invitation is None or not invitation.is_usable or invitation.link_issued_at != row.occurrence:
        return False
    p = invitation.partnership
    return outbox.send_row(
        "invitation",
        row,
        {
            "invitation": invitation,
            "partnership": p,
            "inviter_name": _inviter_name(invitation),
            "inviter_organisation": inviter_organisation(invitation),
            "side_organisation": p.organisation_for(invitation.side).name,
            "abilities": ROLE_ABILITIES[Role(invitation.role)],
            "url": invitation_url(invitation.link_token()),
        },
    )


@outbox.sender(MailKind.INVITATION_CONFIRM)
def invitation_confirm_email(row: OutboxMessage) -> bool:
    """To an admin of the invited side: the other side invited one of your colleagues; confirm or
    decline on the invitations page. Not sent once it was decided or withdrawn, or to someone who is
    no longer an admin there."""
    invitation = _load(row)
    if invitation is None or not invitation.awaits_confirmation:
        return False
    p = invitation.partnership
    org = p.organisation_for(invitation.side)
    if (
        row.recipient_id is None
        or not OrganisationMembership.objects.filter(
            organisation=org, user_id=row.recipient_id, role=OrganisationMembership.Role.ADMIN
        ).exists()
    ):
        return False
    return send_to_person(
        "invitation-confirm",
        row,
        {
            "invitation": invitation,
            "partnership": p,
            "inviter_name": _inviter_name(invitation),
            "inviter_organisation": p.organisation_for(Side.other(invitation.side)).name,
            "side_organisation": org.name,
            "abilities": ROLE_ABILITIES[Role(invitation.role)],
            "url": manage_url(invitation, "awaiting"),
        },
    )


@outbox.sender(MailKind.INVITATION_LINK_REQUEST)
def invitation_link_request_email(row: OutboxMessage) -> bool:
    """To the inviter (or the side's admins): the invitee's link expired and they asked for a new
    one. Not sent once a new link went out or the invitation was accepted, revoked or declined."""
    invitation = _load(row)
    if invitation is None or invitation.state != "expired":
        return False
    if invitation.link_issued_at is not None and invitation.link_issued_at > row.occurrence:
        return False
    p = invitation.partnership
    return send_to_person(
        "invitation-link-request",
        row,
        {
            "invitation": invitation,
            "partnership": p,
            "side_organisation": p.organisation_for(invitation.side).name,
            "invited_by_recipient": invitation.invited_by_id == row.recipient_id,
            "inviter_name": _inviter_name(invitation),
            "url": manage_url(invitation, f"invitation-{invitation.pk}"),
        },
    )


# A release that sent the link from a task passed the token through the broker; such a message may
# still be queued when this one starts. Its link is replaced by a derived one, sent through the
# outbox (the old token was never stored, so the e-mail could not be rendered from the row).
@shared_task(name="alignment.invitations.send_invitation_email")  # type: ignore[untyped-decorator]
def send_invitation_email(invitation_id: str, raw_token: str) -> bool:
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().filter(pk=invitation_id).first()
        if invitation is None or not invitation.is_usable or invitation.token_hash != hash_token(raw_token):
            return False
        before = invitation.to_record()
        invitation.issue_link()
        invitation.bump()
        invitation.save()
        record_change(
            actor=None,
            partnership=invitation.partnership_id,
            obj=invitation,
            action=ChangeEvent.Action.UPDATE,
            before=before,
            summary=f"sent a new invitation link to {invitation.email}",
        )
        queue_email(invitation)
    return True
