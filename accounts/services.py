"""Services that change people and organisations: creating an account (sign-up, an invitation
accepted by someone new), a vendor workspace, which e-mails a person mutes and how often they get their digest.

Each is one transaction and raises ``core.errors`` for anything it refuses.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from core.errors import InvalidInput, RuleViolation
from core.writes import text, validate

from .models import DigestFrequency, Organisation, OrganisationMembership, ReminderKind, User


def email_taken() -> RuleViolation:
    return RuleViolation(
        "An account with this e-mail address exists already: sign in instead.",
        code="user.email_taken",
        fields={"email": ["Already registered: sign in instead."]},
    )


@transaction.atomic
def user_create(*, email: str, password: Any, full_name: str = "", without_password: bool = False) -> User:
    """A person who signs in with ``email`` and ``password`` (checked by the password validators);
    ``without_password=True`` (and no password) for a person their organisation's identity provider
    signs in: the account gets an unusable password. A missing password is refused otherwise.

    An address that has an account already is refused (``email_taken``), also when a concurrent
    request takes it between the check and the insert."""
    email = text(email, "email").lower()
    full_name = text(full_name, "full_name")
    if without_password:
        password = None
    elif not isinstance(password, str):
        raise InvalidInput("Choose a password.", fields={"password": ["Expected text."]})
    if User.objects.filter(email__iexact=email).exists():
        raise email_taken()
    user = User(email=email, full_name=full_name[:150])
    if password is not None:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise InvalidInput(" ".join(exc.messages), fields={"password": list(exc.messages)}) from exc
    validate(user, exclude=["password"])
    user.set_password(password)  # None: an unusable password
    try:
        with transaction.atomic():
            user.save(force_insert=True)
    except IntegrityError as exc:
        raise email_taken() from exc
    return user


@transaction.atomic
def workspace_create(*, name: str, email: str, password: str, full_name: str = "") -> tuple[Organisation, User]:
    """A vendor organisation and its first admin, at once (``create_workspace`` and the demo: whoever
    runs them vouches for the address; the sign-up page confirms it first, ``accounts.signup``)."""
    name = text(name, "name")
    if not name:
        raise InvalidInput("The organisation needs a name.", fields={"name": ["This field is required."]})
    user = user_create(email=email, password=password, full_name=full_name)
    return workspace_for(user, name=name), user


def workspace_for(user: User, *, name: str) -> Organisation:
    """A new vendor organisation with ``user`` as its first admin (inside the caller's transaction)."""
    org = Organisation.objects.create(name=name[:200])
    OrganisationMembership.objects.create(organisation=org, user=user, role=OrganisationMembership.Role.ADMIN)
    return org


@transaction.atomic
def mute(user: User, kinds: Iterable[str], *, muted: bool = True) -> list[str]:
    """Mute (or unmute) kinds of e-mail for a person; returns the muted kinds after the change."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    current = {k for k in (locked.muted_reminder_kinds or []) if isinstance(k, str)}
    wanted = {k for k in kinds if k in ReminderKind.values}
    result = sorted(current | wanted) if muted else sorted(current - wanted)
    if result != sorted(locked.muted_reminder_kinds or []):
        locked.muted_reminder_kinds = result
        locked.save(update_fields=["muted_reminder_kinds"])
    user.muted_reminder_kinds = result
    return result


def set_digest_frequency(user: User, frequency: str) -> None:
    """How often the person gets their digest (``DigestFrequency``): weekly on Mondays or daily on
    working days. A period whose digest went out already gets no second one (``cadence.digest``)."""
    if frequency not in DigestFrequency.values:
        raise InvalidInput(
            gettext("Choose a weekly or a daily digest."),
            fields={"digest_frequency": [gettext("Choose weekly or daily.")]},
        )
    if user.digest_frequency != frequency:
        user.digest_frequency = frequency
        user.save(update_fields=["digest_frequency"])


@transaction.atomic
def set_muted(user: User, kinds: Iterable[str]) -> list[str]:
    """Replace a person's muted kinds (the preferences form)."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    # Values that are no kind (any more) are not this form's to clear.
    others = {k for k in (locked.muted_reminder_kinds or []) if isinstance(k, str) and k not in ReminderKind.values}
    result = sorted({k for k in kinds if k in ReminderKind.values} | others)
    locked.muted_reminder_kinds = result
    locked.save(update_fields=["muted_reminder_kinds"])
    user.muted_reminder_kinds = result
    return result
