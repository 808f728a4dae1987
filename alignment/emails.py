"""The invitation e-mail, sent through the outbox (``core.outbox``).

The outbox row names the invitation and the moment its link was issued; the sender derives the
link from the invitation (``Invitation.link_token``), so no token is ever stored or passed
through the broker. A row for a link that was replaced (resent), revoked, accepted or has expired
sends nothing, so a late run never mails a dead link.
"""

from __future__ import annotations

from typing import cast

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse

from accounts.models import hash_token
from core import outbox
from core.models import MailKind, OutboxMessage

from .changes import record_change
from .invitations import ROLE_ABILITIES, queue_email
from .models import ChangeEvent, Invitation, Role


def invitation_url(raw_token: str) -> str:
    return cast(str, settings.SITE_URL) + reverse("invitation", args=[raw_token])


@outbox.sender(MailKind.INVITATION)
def invitation_email(row: OutboxMessage) -> bool:
    """The invitation e-mail: mentions only the partnership it is for."""
    invitation = (
        Invitation.objects.select_related("partnership__vendor", "partnership__partner", "invited_by")
        .filter(pk=row.subject_id)
        .first()
    )
    if invitation is None or not invitation.is_usable or invitation.link_issued_at != row.occurrence:
        return False
    p = invitation.partnership
    inviter = invitation.invited_by
    return outbox.send_row(
        "invitation",
        row,
        {
            "invitation": invitation,
            "partnership": p,
            "inviter_name": inviter.display_name if inviter else p.organisation_for(invitation.side).name,
            "side_organisation": p.organisation_for(invitation.side).name,
            "abilities": ROLE_ABILITIES[Role(invitation.role)],
            "url": invitation_url(invitation.link_token()),
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
