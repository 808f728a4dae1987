"""Builders for test data: the cast of a partnership and plan objects, made through the services."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from accounts.models import Organisation, OrganisationMembership, User
from alignment import services as plan
from alignment.access import Access, resolve
from alignment.models import Objective, Partnership, PartnershipMember, Role, Side
from goals import services as goals
from goals.models import Goal

PASSWORD = "correct-horse-battery-9"
_seq = itertools.count(1)


def make_user(email: str | None = None, **extra: Any) -> User:
    n = next(_seq)
    return User.objects.create_user(email or f"person{n}@example.test", PASSWORD, **extra)


def make_org(name: str = "Org", admin: User | None = None) -> Organisation:
    org = Organisation.objects.create(name=f"{name} {next(_seq)}")
    if admin is not None:
        OrganisationMembership.objects.create(organisation=org, user=admin, role=OrganisationMembership.Role.ADMIN)
    return org


def make_partnership(vendor_admin: User, **fields: Any) -> Partnership:
    vendor = OrganisationMembership.objects.filter(user=vendor_admin, role="admin").first()
    org = vendor.organisation if vendor else make_org("Vendor", vendor_admin)
    fields.setdefault("vendor_drivers", ["licence revenue", "active users"])
    fields.setdefault("partner_drivers", ["services revenue", "utilisation"])
    return plan.partnership_create(actor=vendor_admin, vendor=org, partner_name=f"Partner {next(_seq)}", **fields)


def add_member(p: Partnership, user: User, side: str, role: str) -> PartnershipMember:
    return PartnershipMember.objects.create(partnership=p, user=user, side=side, role=role)


def access(user: User, p: Partnership) -> Access:
    return resolve(user, p.pk)


def make_objective(a: Access, **fields: Any) -> Objective:
    fields.setdefault("title", f"Grow joint pipeline {next(_seq)}")
    fields.setdefault("vendor_gain", "More licence revenue")
    fields.setdefault("partner_gain", "More billable services")
    fields.setdefault("metric_name", "Qualified pipeline")
    fields.setdefault("metric_unit", "EUR k")
    fields.setdefault("baseline", Decimal("100"))
    fields.setdefault("target", Decimal("500"))
    fields.setdefault("target_date", dt.date.today() + dt.timedelta(days=730))
    return plan.objective_create(access=a, **fields)


def make_goal(a: Access, objective: Objective, *, commitments: bool = True, **terms: Any) -> Goal:
    today = dt.date.today()
    terms.setdefault("title", f"Pipeline this quarter {next(_seq)}")
    terms.setdefault("period_start", today - dt.timedelta(days=30))
    terms.setdefault("period_end", today + dt.timedelta(days=60))
    terms.setdefault("metric_name", "Qualified pipeline")
    terms.setdefault("baseline", Decimal("100"))
    terms.setdefault("target", Decimal("200"))
    specs = (
        [
            {"side": Side.VENDOR, "text": "Fund two joint workshops"},
            {"side": Side.PARTNER, "text": "Certify three consultants"},
        ]
        if commitments
        else []
    )
    return goals.goal_create(access=a, objective_id=objective.pk, commitments=specs, **terms)


def agree(goal: Goal, vendor: Access, partner: Access) -> Goal:
    goals.goal_propose(access=vendor, goal_id=goal.pk)
    goal.refresh_from_db()
    goals.goal_approve(access=vendor, goal_id=goal.pk, revision=goal.revision)
    goals.goal_approve(access=partner, goal_id=goal.pk, revision=goal.revision)
    goal.refresh_from_db()
    return goal


__all__ = [
    "PASSWORD",
    "Role",
    "Side",
    "access",
    "add_member",
    "agree",
    "make_goal",
    "make_objective",
    "make_org",
    "make_partnership",
    "make_user",
]
