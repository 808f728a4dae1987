"""Two-factor sign-in for password accounts: a code from an authenticator app (TOTP, RFC 6238, via
``pyotp``) or one of ten single-use recovery codes; and an organisation's rule that its members
use it.

- Setting up: ``setup_begin`` makes a fresh secret (unconfirmed), the person scans it, and
  ``setup_confirm`` turns it on only with a code from the app (so a mistyped secret never locks
  anyone out). Turning it on issues the recovery codes and signs out the person's other
  sessions, which were signed in without it.
- Signing in: after the password, ``verify`` takes a code from the app (this step, the one before
  or the one after: clocks drift) or a recovery code. Each app code signs in once
  (``TwoFactorDevice.last_used_step``), each recovery code once (a conditional UPDATE decides
  concurrent uses). The pages limit attempts per client address and per person.
- Recovery codes are shown once and stored as keyed hashes; new ones replace all old ones.
- ``Organisation.require_two_factor``: members who have not set it up are sent to set it up before
  anything else (``accounts.middleware.TwoFactorMiddleware``), and may not turn it off.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pyotp
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import InvalidInput, NotAllowed, NotFound, RuleViolation

from .models import Organisation, OrganisationMembership, RecoveryCode, TwoFactorDevice, User

# Session keys: who gave the right password and waits for the code page (``accounts.auth_views``),
# and a session signed in with the second factor (the middleware asks nothing more of it).
PENDING = "accounts.two_factor_pending"
VERIFIED = "accounts.two_factor_verified"
RECOVERY_CODE_COUNT = 10
RECOVERY_SALT = "partnerplan.accounts.RecoveryCode"
# A code from the app is good for this step, the one before and the one after (30 s each).
VALID_WINDOW = 1
WRONG_CODE = _("That code is not right. Enter the 6-digit code your authenticator app shows now, or a recovery code.")
# Where only the app's code counts (setting up, renewing the recovery codes).
WRONG_APP_CODE = _("That code is not right. Enter the 6-digit code your authenticator app shows now.")


@dataclass(frozen=True)
class Standing:
    """Whether a person must use a second factor (an organisation of theirs requires it) and
    whether they have set one up."""

    required: bool
    enrolled: bool


def standing(user: User) -> Standing:
    """Both facts: from the person as ``accounts.backends.AccountBackend`` loaded them for the
    session (no query), else in one query."""
    required, enrolled = getattr(user, "two_factor_required", None), getattr(user, "two_factor_enrolled", None)
    if isinstance(required, bool) and isinstance(enrolled, bool):
        return Standing(required, enrolled)
    row = (
        User.objects.filter(pk=user.pk)
        .annotate(
            required=Exists(
                OrganisationMembership.objects.filter(user=OuterRef("pk"), organisation__require_two_factor=True)
            ),
            enrolled=Exists(TwoFactorDevice.objects.filter(user=OuterRef("pk"), confirmed_at__isnull=False)),
        )
        .values_list("required", "enrolled")
        .first()
    )
    return Standing(*row) if row else Standing(False, False)


def is_enrolled(user: User) -> bool:
    return TwoFactorDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def password_alone_refusal(user: User) -> str | None:
    """Why a password alone may not sign ``user`` in anywhere that asks for no code (the API's token
    endpoint), or None. For the callers outside the sign-in pages."""
    now = standing(user)
    if now.enrolled:
        return gettext("Your account signs in with a second factor: create API tokens in your settings.")
    if now.required:
        return gettext(
            "Your organisation requires two-factor sign-in: set it up, then create API tokens in your settings."
        )
    return None


def requiring_organisations(user: User) -> list[Organisation]:
    return list(Organisation.objects.filter(memberships__user=user, require_two_factor=True).order_by("name"))


# --- Setting up ------------------------------------------------------------------------------


@transaction.atomic
def setup_begin(user: User) -> TwoFactorDevice:
    """A new secret for ``user`` to scan, not in force until ``setup_confirm``."""
    device = TwoFactorDevice.objects.select_for_update().filter(user=user).first()
    if device is not None and device.confirmed_at is not None:
        raise RuleViolation(gettext("Two-factor sign-in is on already."), code="two_factor.enrolled")
    if device is None:
        device = TwoFactorDevice(user=user)
    device.secret = pyotp.random_base32(length=32)  # 160 bits, as RFC 4226 recommends
    device.last_used_step = 0
    device.created_at = timezone.now()
    device.save()
    return device


def pending_device(user: User) -> TwoFactorDevice | None:
    return TwoFactorDevice.objects.filter(user=user, confirmed_at__isnull=True).first()


def provisioning_uri(device: TwoFactorDevice) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    issuer = "Partnerplan" + _site_suffix()
    return pyotp.TOTP(device.secret).provisioning_uri(name=device.user.email, issuer_name=issuer)


def _site_suffix() -> str:
    host = urlparse(str(settings.SITE_URL)).hostname or ""
    return "" if host in ("", "localhost", "127.0.0.1", "testserver") else f" ({host})"


def grouped_secret(device: TwoFactorDevice) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(device.secret[i : i + 4] for i in range(0, len(device.secret), 4))


@transaction.atomic
def setup_confirm(*, user: User, code: Any, now: dt.datetime | None = None) -> list[str]:
    """Turn the pending secret on with a code from the app; returns the new recovery codes (shown
    once). Signs out the person's other sessions (``sessions_epoch``)."""
    now = now or timezone.now()
    device = TwoFactorDevice.objects.select_for_update().filter(user=user).first()
    if device is None or device.confirmed_at is not None:
        raise NotFound(gettext("There is no two-factor set-up waiting for a code. Start again."))
    step = _matching_step(device, _digits(code), now)
    if step is None:
        message = str(WRONG_APP_CODE)
        raise InvalidInput(message, code="two_factor.wrong_code", fields={"code": [message]})
    device.confirmed_at = now
    device.last_used_step = step
    device.save(update_fields=["confirmed_at", "last_used_step"])
    User.objects.filter(pk=user.pk).update(sessions_epoch=user.sessions_epoch + 1)
    user.sessions_epoch += 1
    return _issue_recovery_codes(user, now)


@transaction.atomic
def recovery_codes_renew(*, user: User, code: Any, now: dt.datetime | None = None) -> list[str]:
    """Replace all recovery codes (a current app code proves it is the person)."""
    now = now or timezone.now()
    if not verify_app_code(user, code, now=now):
        message = str(WRONG_APP_CODE)
        raise InvalidInput(message, code="two_factor.wrong_code", fields={"code": [message]})
    return _issue_recovery_codes(user, now)


@transaction.atomic
def disable(*, user: User, password: Any) -> None:
    """Turn two-factor sign-in off (the password proves it is the person), unless an organisation
    of theirs requires it."""
    required = requiring_organisations(user)
    if required:
        names = ", ".join(o.name for o in required)
        raise NotAllowed(
            gettext("%(organisations)s requires two-factor sign-in for its members: it stays on.")
            % {"organisations": names},
            code="two_factor.required",
        )
    if not isinstance(password, str) or not user.check_password(password):
        message = gettext("That is not your password.")
        raise InvalidInput(message, fields={"password": [message]})
    TwoFactorDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()


def unused_recovery_codes(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def _issue_recovery_codes(user: User, now: dt.datetime) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(user=user, code_hash=_hash_recovery_code(c), created_at=now) for c in codes]
    )
    return codes


def _new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 80 bits, 16 characters
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _normalised_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _hash_recovery_code(code: str) -> str:
    return salted_hmac(RECOVERY_SALT, _normalised_recovery_code(code), algorithm="sha256").hexdigest()


# --- Signing in ------------------------------------------------------------------------------


def _digits(code: Any) -> str:
    return "".join(str(code or "").split())


def _matching_step(device: TwoFactorDevice, code: str, now: dt.datetime) -> int | None:
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(device.secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def verify_app_code(user: User, code: Any, *, now: dt.datetime | None = None) -> bool:
    """A code from the person's app, not used before (each step signs in once)."""
    device = TwoFactorDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
    if device is None:
        return False
    step = _matching_step(device, _digits(code), now or timezone.now())
    if step is None:
        return False
    # Only one caller moves the step forward: a replayed code (or a second request with it) loses.
    return TwoFactorDevice.objects.filter(pk=device.pk, last_used_step__lt=step).update(last_used_step=step) == 1


def use_recovery_code(user: User, code: Any, *, now: dt.datetime | None = None) -> bool:
    """Spend one unused recovery code (exactly one of concurrent uses wins)."""
    text = str(code or "")
    if len(_normalised_recovery_code(text)) != 16:
        return False
    return (
        RecoveryCode.objects.filter(user=user, code_hash=_hash_recovery_code(text), used_at__isnull=True).update(
            used_at=now or timezone.now()
        )
        == 1
    )


@dataclass(frozen=True)
class Verified:
    ok: bool
    recovery_code_used: bool = False


def verify(user: User, code: Any, *, now: dt.datetime | None = None) -> Verified:
    """The second step of signing in: an app code, or else a recovery code."""
    if verify_app_code(user, code, now=now):
        return Verified(True)
    if use_recovery_code(user, code, now=now):
        return Verified(True, recovery_code_used=True)
    return Verified(False)


# --- The organisation's rule ------------------------------------------------------------------


@transaction.atomic
def organisation_require_two_factor(*, user: User, organisation_id: Any, required: bool) -> Organisation:
    """An organisation admin requires (or stops requiring) a second factor of its members. An admin
    sets it up for themselves first, so the rule never locks out the person who made it."""
    membership = None
    try:
        org_id = uuid.UUID(str(organisation_id))
    except ValueError:
        org_id = None
    if org_id is not None:
        membership = (
            OrganisationMembership.objects.select_related("organisation")
            .filter(user=user, organisation_id=org_id)
            .first()
        )
    if membership is None:
        raise NotFound(gettext("No such organisation."))
    if membership.role != OrganisationMembership.Role.ADMIN:
        raise NotAllowed(
            gettext("Only admins of %(organisation)s change its sign-in rules.")
            % {"organisation": membership.organisation.name}
        )
    if required and not is_enrolled(user):
        raise RuleViolation(
            gettext("Set up two-factor sign-in for yourself first: then require it of your colleagues."),
            code="two_factor.admin_not_enrolled",
        )
    org = Organisation.objects.select_for_update().get(pk=membership.organisation_id)
    if org.require_two_factor != required:
        org.require_two_factor = required
        org.save(update_fields=["require_two_factor"])
    return org
