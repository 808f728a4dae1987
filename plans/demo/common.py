"""What the demo builders share: the demo vendor, its people, stable ids, and removing the demo."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from accounts import services as accounts_services
from accounts.models import Organisation, OrganisationMembership, User
from alignment.models import ChangeEvent, Partnership
from cadence.health import health_for
from cadence.models import HealthSnapshot
from goals.derive import period_containing
from goals.models import CheckIn, Goal

DEMO_PASSWORD = "joint-plans-not-quotas"
VENDOR_NAME = "Acme Cloud"
ADMIN_EMAIL = "admin@acme-cloud.example"
VOLUME_MANAGER_EMAIL = "volume.manager@acme-cloud.example"
VOLUME_PARTNER_DOMAIN = "volume-partners.example"
DEMO_DOMAINS = (
    "acme-cloud.example",
    "northwind-consulting.example",
    "brightline-solutions.example",
    VOLUME_PARTNER_DOMAIN,
)
NAMESPACE = uuid.UUID("5f0c7a4e-3d5b-4c1e-9a57-0e2b7f1d9c30")
SEED_LOCK = 0x5EED_DE40


def demo_id(key: str) -> uuid.UUID:
    """A stable id for a demo object, so a second run recognises what the first one built."""
    return uuid.uuid5(NAMESPACE, key)


@dataclass
class Login:
    email: str
    who: str


# --- The vendor ---------------------------------------------------------------------------------


def ensure_vendor() -> tuple[Organisation, User]:
    """The demo vendor and its admin, created through the sign-up service the first time."""
    admin = User.objects.filter(email=ADMIN_EMAIL).first()
    if admin is None:
        return accounts_services.workspace_create(
            name=VENDOR_NAME, email=ADMIN_EMAIL, password=DEMO_PASSWORD, full_name="Vera Lindqvist"
        )
    membership = (
        OrganisationMembership.objects.select_related("organisation")
        .filter(user=admin, role=OrganisationMembership.Role.ADMIN)
        .first()
    )
    if membership is None:
        org = Organisation.objects.create(name=VENDOR_NAME)
        OrganisationMembership.objects.create(organisation=org, user=admin, role=OrganisationMembership.Role.ADMIN)
        return org, admin
    return membership.organisation, admin


def demo_vendor() -> Organisation | None:
    membership = (
        OrganisationMembership.objects.select_related("organisation")
        .filter(user__email=ADMIN_EMAIL, role=OrganisationMembership.Role.ADMIN)
        .first()
    )
    return membership.organisation if membership else None


def person(email: str, full_name: str, tz: str = "UTC") -> User:
    user = User.objects.filter(email=email).first()
    return user or User.objects.create_user(email, DEMO_PASSWORD, full_name=full_name, timezone=tz)


def serialise_seeds() -> None:
    """Make concurrent seeds wait for each other until the end of the transaction (two ``make run``
    at once). SQLite needs nothing: its transactions here start IMMEDIATE, holding the write lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEED_LOCK])


def quarters(today: dt.date) -> dict[str, tuple[dt.date, dt.date]]:
    this = period_containing(today, "quarter")
    last = period_containing(this[0] - dt.timedelta(days=1), "quarter")
    nxt = period_containing(this[1] + dt.timedelta(days=1), "quarter")
    # Two quarters up to the end of this one: long enough for several months of check-ins.
    return {"last": last, "this": this, "next": nxt, "half": (last[0], this[1])}


def health_trend(partnerships: list[Any], today: dt.date, weeks: int = 12) -> None:
    """Weekly health snapshots for the trend chart, computed by the health service as of each past
    week (over today's plan data: an approximation that is good enough for a demo)."""
    rows = []
    for w in range(weeks, 0, -1):
        day = today - dt.timedelta(weeks=w)
        when = dt.datetime.combine(day, dt.time(23, 0), tzinfo=dt.UTC)
        for pid, report in health_for(partnerships, now=when).items():
            rows.append(HealthSnapshot(partnership_id=pid, day=day, score=report.score, components=report.as_json()))
    HealthSnapshot.objects.bulk_create(rows, ignore_conflicts=True)


# --- Removing the demo --------------------------------------------------------------------------


def _demo_users() -> Any:
    query = Q()
    for domain in DEMO_DOMAINS:
        query |= Q(email__iendswith=f"@{domain}")
    return User.objects.filter(query)


def remove_demo() -> int:
    """Delete everything the demo built (the demo vendor, its partnerships and partners, the demo
    people). Returns the number of partnerships removed. Nothing outside the demo is touched."""
    with transaction.atomic():
        serialise_seeds()
        vendor = demo_vendor()
        partnership_ids = list(Partnership.objects.filter(vendor=vendor).values_list("pk", flat=True)) if vendor else []
        partner_org_ids = list(Partnership.objects.filter(pk__in=partnership_ids).values_list("partner_id", flat=True))
        for chunk in _chunks(partnership_ids, 500):
            ChangeEvent.objects.filter(partnership_id__in=chunk).delete()
            CheckIn.objects.filter(goal__partnership_id__in=chunk).delete()
            Goal.objects.filter(partnership_id__in=chunk).delete()
            Partnership.objects.filter(pk__in=chunk).delete()
        # Partner organisations go with their last partnership.
        Organisation.objects.filter(pk__in=partner_org_ids).exclude(partnerships_as_partner__isnull=False).exclude(
            partnerships_as_vendor__isnull=False
        ).delete()
        if vendor is not None and not vendor.partnerships_as_vendor.exists():
            vendor.delete()
        _demo_users().delete()
    return len(partnership_ids)


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for k in range(0, len(items), size):
        yield items[k : k + size]
