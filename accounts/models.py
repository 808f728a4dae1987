"""People, the organisations they belong to, and their API tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
import zoneinfo
from functools import cached_property
from typing import ClassVar

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


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

    REVIEW_UPCOMING = "review_upcoming", "An alignment review is coming up"
    REVIEW_OVERDUE = "review_overdue", "A review was due and has not been recorded"
    APPROVAL_WAITING = "approval_waiting", "A goal is waiting for my side's approval"
    CHECKIN_MISSING = "checkin_missing", "A goal I own has no recent check-in"
    WEEKLY_DIGEST = "weekly_digest", "A weekly digest of my partnerships"
    GOAL_NEGOTIATION = "goal_negotiation", "The other side approved, sent back or proposed a goal"


class User(AbstractUser):
    """A person. Signs in with an e-mail address (unique, case-insensitive)."""

    username = None  # type: ignore[assignment]
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField("e-mail address", max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    # Kinds of e-mail this person does not want (``ReminderKind`` values).
    muted_reminder_kinds = models.JSONField(default=list, blank=True)

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

    def vendor_organisations(self) -> models.QuerySet[Organisation]:
        """The rule "acts as a vendor", in one place: the organisations of this person that may
        start partnerships as the vendor. An organisation acts as a vendor when it is the vendor of
        a partnership, or when it is nobody's partner (a workspace made by sign-up, before its
        first partnership). An organisation that is only ever a partner (made when a vendor
        started a partnership with it) does not: its people see their vendors, never the vendor's
        actions ("Start a new partnership")."""
        as_vendor = Organisation.objects.filter(partnerships_as_vendor__isnull=False).values("pk")
        as_partner = Organisation.objects.filter(partnerships_as_partner__isnull=False).values("pk")
        return (
            Organisation.objects.filter(memberships__user=self)
            .filter(models.Q(pk__in=as_vendor) | ~models.Q(pk__in=as_partner))
            .order_by("name")
        )

    @cached_property
    def acts_as_vendor(self) -> bool:
        """Does this person belong to an organisation that acts as a vendor (``vendor_organisations``)?"""
        return self.vendor_organisations().exists()

    def save(self, *args: object, **kwargs: object) -> None:
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


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
        help_text="Vendors may invite our colleagues to a partnership without one of our admins confirming.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OrganisationMembership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

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


def hash_token(raw: str) -> str:
    """SHA-256 of a high-entropy token. Tokens have 256 bits, so a fast hash is enough."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A named bearer token for the REST API. Only its hash is stored; the token is shown once."""

    PREFIX = "pp_"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12, help_text="The first characters, to recognise a token.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def issue(cls, *, user: User, name: str) -> tuple[ApiToken, str]:
        """Create a token and return it with its plaintext, which is never stored."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, token_hash=hash_token(raw), hint=raw[:10])
        return token, raw

    @classmethod
    def find_active(cls, raw: str) -> ApiToken | None:
        return cls.objects.active().select_related("user").filter(token_hash=hash_token(raw)).first()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
