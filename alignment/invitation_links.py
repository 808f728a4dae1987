"""What the holder of an invitation link meets beyond accepting it (``invitations.invitation_accept``).

A 256-bit token is held only by the invitee, so the link page may be more helpful than the neutral
"not valid" for two states: a used link takes a signed-in member of the partnership to the plan
(``is_member``), and an expired link offers "Ask for a new link" (``invitation_request_link``),
which e-mails the inviter, or the side's admins when the inviter is gone, through the outbox. It
asks at most once per invitation in ``LINK_REQUEST_INTERVAL`` (the page also limits it per network
address). Unknown, revoked, declined and replaced links keep the one neutral answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User, hash_token
from core import outbox
from core.models import MailKind

from .access import access_for
from .changes import record_change
from .invitations import invalid_link, side_admins, valid_token
from .models import ChangeEvent, Invitation, Partnership, Side

# An invitee asks for a new link at most once in this time; more clicks tell them it was asked.
LINK_REQUEST_INTERVAL = dt.timedelta(hours=24)


def inviter_organisation(invitation: Invitation) -> str:
    """The company of the person who sent the invitation, in words ("" when they are gone)."""
    inviter = invitation.invited_by
    if inviter is None:
        return ""
    access = access_for(inviter, invitation.partnership)
    return invitation.partnership.organisation_for(access.side).name if access is not None else ""


def is_member(user: Any, partnership: Partnership) -> bool:
    """Whether a signed-in person may open this partnership's plan (for a used link)."""
    return access_for(user, partnership) is not None


# --- An expired link: ask for a new one ---------------------------------------------------------


def link_request_recipients(invitation: Invitation) -> tuple[list[User], str]:
    """Who hears that the invitee wants a new link, and how to name them to the invitee: the inviter
    while they may still invite to that side; else the invited side's admins; else (a partner with
    no admin yet) the vendor's admins."""
    p = invitation.partnership
    inviter = invitation.invited_by
    if inviter is not None and inviter.is_active:
        access = access_for(inviter, p)
        if access is not None and access.can_invite(invitation.side):
            return [inviter], gettext("%(name)s (%(organisation)s)") % {
                "name": inviter.display_name,
                "organisation": p.organisation_for(access.side).name,
            }
    for side in (invitation.side, Side.VENDOR):
        admins = side_admins(p, side)
        if admins:
            return admins, gettext("the admins of %(organisation)s") % {"organisation": p.organisation_for(side).name}
    return [], gettext("the people who manage this partnership")


def link_recently_requested(invitation: Invitation) -> bool:
    asked = invitation.link_requested_at
    return asked is not None and asked > timezone.now() - LINK_REQUEST_INTERVAL


@transaction.atomic
def invitation_request_link(*, raw_token: str) -> tuple[Invitation, bool]:
    """The holder of an expired link asks for a new one: the inviter (or the side's admins) get an
    e-mail through the outbox. At most once per invitation in ``LINK_REQUEST_INTERVAL``; returns
    the invitation and whether it was asked now. Any other state of the link is the neutral error."""
    if not valid_token(raw_token):
        raise invalid_link()
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("partnership__vendor", "partnership__partner", "invited_by")
        .filter(token_hash=hash_token(raw_token))
        .first()
    )
    if invitation is None or invitation.state != "expired":
        raise invalid_link()
    if link_recently_requested(invitation):
        return invitation, False
    before = invitation.to_record()
    now = timezone.now()
    invitation.link_requested_at = now
    invitation.bump()
    invitation.save()
    record_change(
        actor=None,
        partnership=invitation.partnership,
        obj=invitation,
        action=ChangeEvent.Action.UPDATE,
        before=before,
        summary=f"{invitation.email} asked for a new invitation link",
    )
    outbox.queue(
        [
            outbox.Message(
                MailKind.INVITATION_LINK_REQUEST,
                "invitation",
                str(invitation.pk),
                now,
                recipient_id=person.pk,
                partnership_id=invitation.partnership_id,
            )
            for person in link_request_recipients(invitation)[0]
        ]
    )
    return invitation, True
