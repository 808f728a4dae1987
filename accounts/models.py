"""People, the organisations they belong to, and their API tokens; sign-ups waiting for their
address to be confirmed, the second factor of a person's sign-in, and their signed-in browsers."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import uuid
import zoneinfo
from collections.abc import Iterator
from functools import cached_property
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not an IANA time zone (for example Europe/Berlin).")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username or "")


def display_name_of(full_name: str, first_name: str, last_name: str, email: str) -> str:
    """How a person is named to others: the name they gave, else first and last name, else the e-mail."""
    return full_name or f"{first_name} {last_name}".strip() or email


class ReminderKind(models.TextChoices):
    """The kinds of e-mail a person can mute (``User.muted_reminder_kinds``); every e-mail they get
    carries a one-click unsubscribe link for its kind."""

    REVIEW_UPCOMING = "review_upcoming", _("An alignment review is coming up")
    REVIEW_OVERDUE = "review_overdue", _("A review was due and has not been recorded")
    APPROVAL_WAITING = "approval_waiting", _("A goal is waiting for my side's approval")
    CHECKIN_MISSING = "checkin_missing", _("A goal I own has no recent check-in")
    WEEKLY_DIGEST = "weekly_digest", _("A digest of my partnerships, weekly or daily")
    GOAL_NEGOTIATION = "goal_negotiation", _("The other side approved, sent back or proposed a goal")
    PULSE_UNANSWERED = "pulse_unanswered", _("I have not answered the relationship pulse of a held review")


class DigestFrequency(models.TextChoices):
    """How often a person gets their digest, at 08:00 in their own time zone (muting
    ``ReminderKind.WEEKLY_DIGEST`` stops it altogether)."""

    WEEKLY = "weekly", _("Weekly, on Monday")
    DAILY = "daily", _("Daily, on working days")


class User(AbstractUser):
    """A person. Signs in with an e-mail address (unique, case-insensitive)."""

    username = None  # type: ignore[assignment]
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(_("e-mail address"), max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    # The language of their pages and e-mails (a code of ``settings.LANGUAGES``); blank: their
    # browser's for pages, English for e-mails.
    language = models.CharField(max_length=8, blank=True, default="", choices=settings.LANGUAGES)
    digest_frequency = models.CharField(max_length=8, choices=DigestFrequency.choices, default=DigestFrequency.WEEKLY)
    # Kinds of e-mail this person does not want (``ReminderKind`` values).
    muted_reminder_kinds = models.JSONField(default=list, blank=True)
    # Raised by "sign out everywhere": every session signed in before no longer matches
    # ``get_session_auth_hash`` and is signed out on its next request, whatever the session store.
    sessions_epoch = models.PositiveIntegerField(default=0)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return display_name_of(self.full_name, self.first_name, self.last_name, self.email)

    def keep_language(self, code: str) -> bool:
        """A person who has not chosen a language keeps ``code``, the one they were just served in
        (signing up, accepting an invitation), for their pages and e-mails. True when it changed."""
        if self.language or code not in dict(settings.LANGUAGES):
            return False
        self.language = code
        if self.pk is not None:
            self.save(update_fields=["language"])
        return True

    def vendor_organisations(self) -> models.QuerySet[Organisation]:
        """The rule "acts as a vendor", in one place: the organisations of this person that may
        start partnerships as the vendor. An organisation acts as a vendor when it is the vendor of
        a partnership, or when it is nobody's partner (a workspace made by sign-up, before its
        first partnership). An organisation that is only ever a partner (made when a vendor
        started a partnership with it) does not: its people see their vendors, never the vendor's
        actions ("Start a new partnership")."""
        # Asked per organisation of the person (an index lookup each): as ``pk IN`` lists of every
        # vendor and partner, it read every partnership of the database (13 ms at 10,000).
        partnership = Organisation.partnerships_as_vendor.field.model  # without importing alignment
        as_vendor = models.Exists(partnership._default_manager.filter(vendor=models.OuterRef("pk")))
        as_partner = models.Exists(partnership._default_manager.filter(partner=models.OuterRef("pk")))
        return Organisation.objects.filter(memberships__user=self).filter(as_vendor | ~as_partner).order_by("name")

    @cached_property
    def acts_as_vendor(self) -> bool:
        """Does this person belong to an organisation that acts as a vendor (``vendor_organisations``)?"""
        return self.vendor_organisations().exists()

    def save(self, *args: object, **kwargs: object) -> None:
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    # Django signs a session out when the hash stored at sign-in no longer matches (it changes with
    # the password). Mixing in ``sessions_epoch`` lets "sign out everywhere" do the same. At epoch 0
    # the hash is Django's own, so sessions signed in before this existed stay valid.
    def _with_epoch(self, base: str, secret: str | bytes | None = None) -> str:
        if not self.sessions_epoch:
            return base
        return salted_hmac(
            SESSION_EPOCH_SALT, f"{base}:{self.sessions_epoch}", secret=secret, algorithm="sha256"
        ).hexdigest()

    def get_session_auth_hash(self) -> str:
        return self._with_epoch(super().get_session_auth_hash())

    def get_session_auth_fallback_hash(self) -> Iterator[str]:
        for secret, base in zip(settings.SECRET_KEY_FALLBACKS, super().get_session_auth_fallback_hash(), strict=False):
            yield self._with_epoch(base, secret)


class Organisation(models.Model):
    """A company: a vendor, or a channel partner of one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    website = models.URLField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When a vendor invites one of our colleagues to a partnership, one of our admins confirms before
    # the link goes out, unless the organisation lets its vendors invite its people directly.
    vendors_invite_directly = models.BooleanField(
        default=False,
        help_text=_("Vendors may invite our colleagues to a partnership without one of our admins confirming."),
    )
    # Members who sign in with a password set up a second factor before they can use Partnerplan.
    require_two_factor = models.BooleanField(
        default=False, help_text=_("Members must sign in with a code from an authenticator app as well.")
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OrganisationMembership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", _("Admin")
        MEMBER = "member", _("Member")

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="org_memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="org_membership_unique"),
            models.CheckConstraint(condition=models.Q(role__in=["admin", "member"]), name="org_membership_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} ({self.role})"


SESSION_EPOCH_SALT = "partnerplan.accounts.User.sessions_epoch"


def hash_token(raw: str) -> str:
    """SHA-256 of a high-entropy token. Tokens have 256 bits, so a fast hash is enough."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self, now: dt.datetime | None = None) -> ApiTokenQuerySet:
        """Not revoked and not expired (at ``now``, by default the present)."""
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now or timezone.now())
        )


SERVICE_EMAIL_DOMAIN = "service.partnerplan.invalid"


class ApiToken(models.Model):
    """A named bearer token for the REST API. Only its hash is stored; the token is shown once.

    A person's token acts with that person's rights, narrowed by its scope: ``read_only``, a list of
    ``partnerships`` (empty: every partnership the person may see) and ``expires_at``. A *service*
    token belongs to an ``organisation``, not to a person: it acts as a service account of its own
    (``user``, made with the token, never able to sign in), on the organisation's side of each of its
    partnerships, as an editor (or a viewer when read-only). It keeps working when the person who
    created it (``created_by``) leaves, and an admin of the organisation revokes it."""

    PREFIX = "pp_"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12, help_text=_("The first characters, to recognise a token."))
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    read_only = models.BooleanField(default=False, help_text=_("Reads only: every write is refused."))
    # Partnership ids (text); empty: every partnership the token's holder may see.
    partnerships = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, null=True, blank=True, related_name="service_tokens"
    )
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def issue(
        cls,
        *,
        user: User,
        name: str,
        read_only: bool = False,
        partnerships: list[str] | None = None,
        expires_at: dt.datetime | None = None,
        organisation: Organisation | None = None,
        created_by: User | None = None,
    ) -> tuple[ApiToken, str]:
        """Create a token and return it with its plaintext, which is never stored."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            token_hash=hash_token(raw),
            hint=raw[:10],
            read_only=read_only,
            partnerships=sorted(str(p) for p in partnerships or []),
            expires_at=expires_at,
            organisation=organisation,
            created_by=created_by or (None if organisation else user),
        )
        return token, raw

    @classmethod
    def issue_service(
        cls,
        *,
        organisation: Organisation,
        name: str,
        created_by: User,
        read_only: bool = False,
        partnerships: list[str] | None = None,
        expires_at: dt.datetime | None = None,
    ) -> tuple[ApiToken, str]:
        """An organisation's service token, with a service account of its own that cannot sign in."""
        account = User.objects.create_user(
            f"token-{uuid.uuid4().hex}@{SERVICE_EMAIL_DOMAIN}",
            None,  # an unusable password
            full_name=f"{name} (service)"[:150],
            muted_reminder_kinds=list(ReminderKind.values),
        )
        return cls.issue(
            user=account,
            name=name,
            read_only=read_only,
            partnerships=partnerships,
            expires_at=expires_at,
            organisation=organisation,
            created_by=created_by,
        )

    @classmethod
    def find_active(cls, raw: str) -> ApiToken | None:
        return cls.objects.active().select_related("user").filter(token_hash=hash_token(raw)).first()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_service(self) -> bool:
        return self.organisation_id is not None


SIGNUP_LINK_SALT = "partnerplan.accounts.SignupRequest.link"


class SignupRequest(models.Model):
    """A sign-up waiting for its address to be confirmed: nothing usable exists until the link in
    the e-mail is followed. Only the link token's hash is stored; the token is derived from a random
    nonce under the ``SECRET_KEY`` (like an invitation's), so the e-mail is rendered from the row."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254)
    organisation_name = models.CharField(max_length=200)
    full_name = models.CharField(max_length=150, blank=True)
    password = models.CharField(max_length=128)  # the password's hash, never the password
    link_nonce = models.CharField(max_length=64, default="")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["email", "created_at"], name="signup_request_recent")]

    def __str__(self) -> str:
        return f"Sign-up of {self.email}"

    def new_link(self) -> str:
        """Draw a new link (a previous one stops working); returns its token. The caller saves."""
        self.link_nonce = secrets.token_urlsafe(32)
        token = self.link_token()
        self.token_hash = hash_token(token)
        return token

    def link_token(self) -> str:
        digest = salted_hmac(SIGNUP_LINK_SALT, f"{self.pk}:{self.link_nonce}", algorithm="sha256").digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    @property
    def is_open(self) -> bool:
        return self.confirmed_at is None and self.expires_at > timezone.now()


class TwoFactorDevice(models.Model):
    """A person's authenticator app (TOTP): the shared secret, confirmed once a code matched, and the
    last time step used (a code is accepted once)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="two_factor_device")
    secret = models.CharField(max_length=64)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Authenticator of {self.user}"


class RecoveryCode(models.Model):
    """A one-time recovery code of a person's second factor (only its hash is stored)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "code_hash"], name="recovery_code_unique")]

    def __str__(self) -> str:
        return f"Recovery code of {self.user}"


class UserSession(models.Model):
    """A browser a person signed in with (its session key's hash), for "where you are signed in"."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="browser_sessions")
    key_hash = models.CharField(max_length=64, unique=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    auth_digest = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "ended_at", "created_at"], name="user_session_open")]

    def __str__(self) -> str:
        return f"Session of {self.user}"


class IdentityProvider(models.Model):
    """An organisation's own OpenID Connect provider: its people sign in there (``accounts.sso``).

    The client secret is stored encrypted under the ``SECRET_KEY`` (``accounts.sso.encrypt_secret``)
    and never shown again once saved. ``require_sso`` refuses password sign-in to addresses at the
    organisation's domains; it holds only while the provider is on."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, primary_key=True, related_name="identity_provider"
    )
    issuer = models.URLField(_("issuer URL"), max_length=300)
    client_id = models.CharField(_("client ID"), max_length=200)
    client_secret_encrypted = models.TextField(blank=True)
    enabled = models.BooleanField(default=False)
    require_sso = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(enabled=True) | models.Q(require_sso=False),
                name="identity_provider_required_only_when_on",
            )
        ]

    def __str__(self) -> str:
        return f"Identity provider of {self.organisation}"

    @property
    def has_secret(self) -> bool:
        return bool(self.client_secret_encrypted)


class OrganisationDomain(models.Model):
    """An e-mail domain an organisation owns: its identity provider vouches for addresses there, and
    only there. A domain belongs to one organisation at most (``accounts.sso`` says who may add one)."""

    class Verification(models.TextChoices):
        ADMIN_ADDRESS = "admin_address", _("The domain of the admin's own address")
        OPERATOR = "operator", _("Confirmed by the operator")

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, unique=True)
    verified_by = models.CharField(max_length=16, choices=Verification.choices)
    added_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.CheckConstraint(condition=models.Q(domain=Lower("domain")), name="organisation_domain_lowercase"),
            models.CheckConstraint(
                condition=models.Q(verified_by__in=["admin_address", "operator"]),
                name="organisation_domain_verification",
            ),
        ]

    def __str__(self) -> str:
        return self.domain


class CalendarFeed(models.Model):
    """A person's secret calendar subscription link (``/calendar/<token>.ics``): their alignment
    reviews and goal period ends as an iCalendar feed (``cadence.calendar_feed``). Only the token's
    hash is stored; the link is shown once. A person has one active link at most: replacing it
    revokes the old one, and a revoked link answers 404."""

    PREFIX = "cal_"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="calendar_feeds")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(revoked_at__isnull=True), name="calendar_feed_one_active"
            )
        ]

    def __str__(self) -> str:
        return f"Calendar feed of {self.user}"

    @classmethod
    def active_of(cls, user: User) -> CalendarFeed | None:
        return cls.objects.filter(user=user, revoked_at__isnull=True).first()

    @classmethod
    def revoke_all(cls, user: User) -> int:
        """Revoke the person's active link (if any); returns how many were revoked."""
        return cls.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())

    @classmethod
    def issue(cls, user: User) -> tuple[CalendarFeed, str]:
        """A new link for the person, replacing (revoking) the one they had; returns it with its
        token, which is never stored. Concurrent requests of one person are serialised on their row."""
        with transaction.atomic():
            User.objects.select_for_update().filter(pk=user.pk).first()
            cls.revoke_all(user)
            raw = cls.PREFIX + secrets.token_urlsafe(32)
            return cls.objects.create(user=user, token_hash=hash_token(raw)), raw

    @classmethod
    def find_active(cls, raw: str) -> CalendarFeed | None:
        """The active feed of a token, with its person (an unknown or revoked token: None)."""
        return (
            cls.objects.select_related("user")
            .filter(token_hash=hash_token(raw), revoked_at__isnull=True, user__is_active=True)
            .first()
        )
