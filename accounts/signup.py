"""Sign-up that tells nobody whether an address is registered, and confirms the address first.

``signup_request`` answers alike for every address that passes the form's checks: the page says
"check your e-mail", and the e-mail says what fits the address.

- A new address gets a link (``SignupRequest``); nothing usable exists until the link is
  followed: the workspace and its admin are created by ``signup_confirm``.
- A registered address gets a note that someone tried to sign up with it, with links to sign in
  and to reset the password. Nothing changes.
- An address at the domain of an organisation that requires single sign-on is refused on the
  form (``accounts.sso``): its people never get a password account. This says only what the
  sign-in page says of the domain, nothing of the address.

Both paths hash the password (the slow step), so the answer takes as long either way. The e-mails
are bounded per address: one note an hour to a registered address, ``MAX_REQUESTS_PER_HOUR``
links to a new one (more sign-ups are answered alike and send nothing), on top of the page's limit
per client address.

Following the link from another browser asks for the password chosen at sign-up, so someone who
signs up with another person's address cannot have that person confirm an account whose password
the sign-up knows ("pre-account takeover"). In the browser that signed up, the link is enough.
"""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import outbox
from core.errors import InvalidInput, NotFound, RuleViolation
from core.models import MailKind
from core.writes import text

from . import sso
from .models import SignupRequest, User, hash_token
from .services import workspace_for

# The browser session remembers its own sign-up (``is_same_request``) and the address it used.
SESSION_KEY = "accounts.signup"
SESSION_EMAIL = "accounts.signup_email"
LINK_TTL = dt.timedelta(days=3)
MAX_REQUESTS_PER_HOUR = 3
INVALID_LINK = _(
    "This confirmation link is not valid: it was used already, it expired (links work for three days), or it "
    "was changed. Sign up again to get a new one, or sign in if your workspace exists."
)


def _checked(*, organisation: Any, email: Any, password: Any, full_name: Any) -> tuple[str, str, str, str]:
    """The sign-up's fields checked as the form shows them, whatever the address (no lookup here)."""
    name = text(organisation, "name")
    if not name:
        raise InvalidInput(
            gettext("The organisation needs a name."), fields={"name": [gettext("This field is required.")]}
        )
    full_name = text(full_name, "full_name")
    email = text(email, "email").lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidInput(gettext("Enter a valid e-mail address."), fields={"email": list(exc.messages)}) from exc
    if not isinstance(password, str):
        raise InvalidInput(gettext("Choose a password."), fields={"password": [gettext("Expected text.")]})
    try:
        validate_password(password, User(email=email, full_name=full_name))
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), fields={"password": list(exc.messages)}) from exc
    return name[:200], email, full_name[:150], make_password(password)


@transaction.atomic
def signup_request(
    *,
    organisation: Any,
    email: Any,
    password: Any,
    full_name: Any = "",
    language: str = "",
    now: dt.datetime | None = None,
) -> str:
    """Record a sign-up and queue the e-mail that fits the address (see the module). The confirmation
    link goes out in ``language`` (the sign-up page's); a registered address gets its person's own.

    Returns a value for the browser session to keep (``is_same_request`` later recognises the
    sign-up of this browser by it). It looks alike whatever happened (a fresh random id for a
    registered address), so the caller cannot answer differently."""
    now = now or timezone.now()
    name, email, full_name, password_hash = _checked(
        organisation=organisation, email=email, password=password, full_name=full_name
    )
    required_by = sso.requiring_organisation(email)
    if required_by is not None:  # its people sign in with its provider, never with a password
        message = gettext(
            "%(organisation)s signs its people in with its own identity provider: sign in there instead."
        ) % {"organisation": required_by.name}
        raise RuleViolation(message, code="signup.sso_required", fields={"email": [message]})
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        if existing.is_active:
            # Once an hour at most, however often someone tries (the hour is the occurrence).
            hour = now.replace(minute=0, second=0, microsecond=0)
            outbox.queue(
                [
                    outbox.Message(
                        MailKind.SIGNUP_EXISTING, "user", str(existing.public_id), hour, recipient_id=existing.pk
                    )
                ],
                now=now,
            )
        return str(uuid.uuid4())
    recent = SignupRequest.objects.filter(email=email, created_at__gte=now - dt.timedelta(hours=1)).count()
    if recent >= MAX_REQUESTS_PER_HOUR:
        return str(uuid.uuid4())
    signup = SignupRequest(
        email=email,
        organisation_name=name,
        full_name=full_name,
        password=password_hash,
        created_at=now,
        expires_at=now + LINK_TTL,
    )
    signup.new_link()
    signup.save(force_insert=True)
    queue_confirmation(signup, now=now, language=language)
    return str(signup.pk)


def queue_confirmation(signup: SignupRequest, *, now: dt.datetime | None = None, language: str = "") -> None:
    """The e-mail with the link (once per sign-up: its creation is the occurrence), in ``language``."""
    message = outbox.Message(
        MailKind.SIGNUP_CONFIRM, "signup", str(signup.pk), signup.created_at, to_email=signup.email, language=language
    )
    outbox.queue([message], now=now)


def open_request(raw_token: str) -> SignupRequest:
    """The sign-up a link names, while it can still be confirmed; ``NotFound`` otherwise (one neutral
    answer for unknown, used and expired links)."""
    if not isinstance(raw_token, str) or not raw_token.isascii() or len(raw_token) > 200:
        raise NotFound(str(INVALID_LINK))
    signup = SignupRequest.objects.filter(token_hash=hash_token(raw_token)).first()
    if signup is None or not signup.is_open:
        raise NotFound(str(INVALID_LINK))
    return signup


@transaction.atomic
def signup_confirm(
    *, raw_token: str, password: str | None = None, same_browser: bool = False, language: str = ""
) -> User:
    """Create the workspace and its admin from the sign-up the link names, once. ``language`` (the
    one the confirming page was served in) becomes the new person's.

    ``same_browser``: the link is opened in the browser session that signed up, which is proof
    enough; otherwise ``password`` must be the one chosen at sign-up. Concurrent confirmations of
    one link create one account (the row is locked; the second finds it confirmed)."""
    signup = open_request(raw_token)
    signup = SignupRequest.objects.select_for_update().get(pk=signup.pk)
    if not signup.is_open:
        raise NotFound(str(INVALID_LINK))
    if not same_browser and not (isinstance(password, str) and check_password(password, signup.password)):
        message = gettext("That is not the password you chose when you signed up.")
        raise InvalidInput(message, code="signup.password_mismatch", fields={"password": [message]})
    signup.confirmed_at = timezone.now()
    signup.save(update_fields=["confirmed_at"])
    if User.objects.filter(email__iexact=signup.email).exists():
        # Another of this address's links was followed first: that account is theirs already.
        raise RuleViolation(
            gettext("This address has an account already (another confirmation link was followed first). Sign in."),
            code="signup.already_confirmed",
        )
    user = User(email=signup.email, full_name=signup.full_name, password=signup.password)
    user.keep_language(language)
    user.save(force_insert=True)
    workspace_for(user, name=signup.organisation_name)
    return user


def is_same_request(signup: SignupRequest, session_value: Any) -> bool:
    """Does the browser session's record of its own sign-up name this one?"""
    return isinstance(session_value, str) and hmac.compare_digest(session_value, str(signup.pk))


def prune_signup_requests(*, now: dt.datetime | None = None) -> int:
    """Forget sign-ups a day after their link expired or was used (a beat task, daily)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=1)
    deleted, _ = SignupRequest.objects.filter(expires_at__lt=cutoff).delete()
    confirmed, _ = SignupRequest.objects.filter(confirmed_at__lt=cutoff).delete()
    return deleted + confirmed
