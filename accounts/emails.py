"""E-mail to a person: every message the outbox sends to someone with an account carries a signed
one-click link that mutes its kind (RFC 8058 headers included) and a link to their preferences.

And the e-mails of signing up: the confirmation link to a new address, and the note to a registered
address that someone tried to sign up with it (``accounts.signup``). Neither can be muted: they
answer something the reader (or someone using their address) just did."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from core import outbox
from core.models import MailKind, OutboxMessage

from .models import ReminderKind, SignupRequest
from .reply_address import reply_address
from .unsubscribe import list_unsubscribe_headers, unsubscribe_url


def send_to_person(
    name: str,
    row: OutboxMessage,
    context: dict[str, Any],
    *,
    attachments: tuple[tuple[str, bytes | str, str], ...] = (),
    reply_about: tuple[str, Any] | None = None,
) -> bool:
    """Send the outbox row ``row`` (to a person) from the templates ``emails/<name>-…``.

    ``reply_about`` (``("goal", id)`` or ``("review", id)``): a reply to the e-mail becomes the
    person's comment on that object; the e-mail then carries their own signed ``Reply-To``
    (``accounts.reply_address``) and says so, when ``REPLY_DOMAIN`` is set."""
    user = row.recipient
    if user is None:
        raise ValueError("send_to_person needs a row with a recipient")
    mute_kind = outbox.SENDERS[row.kind].mute_kind
    headers: dict[str, str] = {}
    reply: dict[str, Any] = {}
    if reply_about is not None:
        address = reply_address(user.pk, *reply_about)
        if address is not None:
            reply = {"Reply-To": address}
            context = context | {"reply_address": address, "reply_kind": reply_about[0]}
    extra: dict[str, Any] = {
        "user": user,
        "recipient": user,
        "preferences_url": settings.SITE_URL + reverse("reviews:preferences"),
    }
    if mute_kind is not None:
        link = unsubscribe_url(user, mute_kind)
        headers = list_unsubscribe_headers(link)
        extra |= {"unsubscribe_url": link, "kind_label": ReminderKind(mute_kind).label}
    return outbox.send_row(name, row, extra | context, headers=headers | reply, attachments=attachments)


# --- Sign-up (accounts.signup) -----------------------------------------------------------------


@outbox.sender(MailKind.SIGNUP_CONFIRM)
def signup_confirm_email(row: OutboxMessage) -> bool:
    """The link that confirms a new address and opens the workspace; derived from the sign-up when
    the e-mail is rendered (the row carries only its id). Nothing is sent for a sign-up confirmed
    or expired meanwhile."""
    signup = SignupRequest.objects.filter(pk=row.subject_id).first()
    if signup is None or not signup.is_open:
        return False
    url = settings.SITE_URL + reverse("signup_confirm", args=[signup.link_token()])
    return outbox.send_row(
        "signup-confirm",
        row,
        {"signup": signup, "url": url, "expires_at": signup.expires_at},
    )


@outbox.sender(MailKind.SIGNUP_EXISTING)
def signup_existing_email(row: OutboxMessage) -> bool:
    """To a registered address that someone used to sign up: sign in, or reset the password."""
    user = row.recipient
    if user is None or not user.is_active:
        return False
    return outbox.send_row(
        "signup-existing",
        row,
        {
            "user": user,
            "login_url": settings.SITE_URL + reverse("login"),
            "reset_url": settings.SITE_URL + reverse("password_reset"),
        },
    )
