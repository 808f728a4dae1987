"""The database itself holds the plan's invariants: each write below bypasses the services and is
refused by a constraint, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import ApiToken, Organisation, OrganisationMembership, User
from alignment.models import (
    AlignmentReview,
    Invitation,
    Partnership,
    PartnershipMember,
    Side,
    Vision,
    VisionEndorsement,
)
from cadence.models import HealthSnapshot
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals.models import Approval, CheckIn, Comment, Commitment, Goal, GoalRevision
from tests import factories as f

NOW = timezone.now()


@pytest.fixture
def w(cast) -> SimpleNamespace:
    """One of everything, made through the services, so each violation below is the only fault."""
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    agreed = f.agree(f.make_goal(editor, objective), cast.access("vendor_approver"), cast.access("partner_approver"))
    draft = f.make_goal(editor, objective)
    check_in = goal_check_ins.check_in_create(access=editor, goal_id=agreed.pk, value=150, measured_on=dt.date.today())
    comment = goal_comments.comment_create(access=editor, goal_id=agreed.pk, body="Looks good")
    p = cast.partnership
    vision = Vision.objects.get(partnership=p)
    token, _ = ApiToken.issue(user=cast.vendor_editor, name="CRM sync")
    return SimpleNamespace(
        p=p,
        cast=cast,
        objective=objective,
        agreed=agreed,
        draft=draft,
        check_in=check_in,
        comment=comment,
        vision=vision,
        token=token,
        endorsement=VisionEndorsement.objects.create(vision=vision, revision=1, side=Side.VENDOR),
        membership=OrganisationMembership.objects.get(user=cast.vendor_admin),
        member=PartnershipMember.objects.get(partnership=p, user=cast.vendor_editor),
        commitment=Commitment.objects.filter(goal=agreed).first(),
        approval=Approval.objects.filter(goal=agreed).first(),
        revision=GoalRevision.objects.get(goal=agreed, number=1),
        review=AlignmentReview.objects.create(partnership=p, scheduled_for=NOW, occurrence=NOW),
        snapshot=HealthSnapshot.objects.create(partnership=p, day=dt.date.today(), score=60),
        invitation=Invitation.objects.create(
            partnership=p,
            email="new@partner.test",
            side=Side.PARTNER,
            token_hash="a" * 64,
            expires_at=NOW + dt.timedelta(days=14),
        ),
    )


def update(obj: Any, **values: Any) -> None:
    type(obj).objects.filter(pk=obj.pk).update(**values)


def copy(obj: Any, **values: Any) -> None:
    """Insert a second row like ``obj`` (a new primary key), with some values changed."""
    fields = {fld.attname: getattr(obj, fld.attname) for fld in obj._meta.concrete_fields if not fld.primary_key}
    type(obj).objects.create(**(fields | values))


# (constraint, write that breaks it). Unique constraints are named in PostgreSQL's message; SQLite
# names check constraints and lists the columns of unique ones.
VIOLATIONS = [
    # accounts
    ("user_email_ci_unique", lambda w: User.objects.bulk_create([User(email="Admin@Vendor.TEST")])),
    ("org_membership_unique", lambda w: copy(w.membership, role="member")),
    ("org_membership_role", lambda w: update(w.membership, role="owner")),
    ("accounts_apitoken_token_hash_key", lambda w: copy(w.token, name="Copy")),
    # partnerships and members
    ("partnership_pair_unique", lambda w: copy(w.p, name="Same two organisations")),
    ("partnership_two_orgs", lambda w: update(w.p, partner_id=w.p.vendor_id)),
    ("partnership_margin_range", lambda w: update(w.p, margin_percent=Decimal("100.5"))),
    ("partnership_margin_range", lambda w: update(w.p, margin_percent=Decimal("-1"))),
    ("partnership_referral_fee_range", lambda w: update(w.p, referral_fee_percent=Decimal("120"))),
    ("partnership_custom_needs_rrule", lambda w: update(w.p, review_cadence="custom", review_rrule="")),
    ("partnership_member_unique", lambda w: copy(w.member, role="approver")),
    ("partnership_member_side", lambda w: update(w.member, side="both")),
    ("partnership_member_role", lambda w: update(w.member, role="owner")),
    ("invitation_side", lambda w: update(w.invitation, side="both")),
    ("invitation_role", lambda w: update(w.invitation, role="owner")),
    ("alignment_invitation_token_hash_key", lambda w: copy(w.invitation, email="other@partner.test")),
    # vision and objectives
    ("alignment_vision_partnership_id_key", lambda w: Vision.objects.create(partnership=w.p)),
    ("vision_endorsement_unique", lambda w: copy(w.endorsement)),
    ("vision_endorsement_side", lambda w: update(w.endorsement, side="both")),
    ("objective_status", lambda w: update(w.objective, status="paused")),
    (
        "objective_dates_order",
        lambda w: update(w.objective, baseline_date=dt.date(2027, 6, 30), target_date=dt.date(2027, 1, 1)),
    ),
    # reviews and health
    ("review_occurrence_unique", lambda w: copy(w.review, scheduled_for=NOW + dt.timedelta(hours=2))),
    ("review_status", lambda w: update(w.review, status="postponed")),
    ("review_held_has_date", lambda w: update(w.review, status="held", held_on=None)),
    ("health_snapshot_unique", lambda w: copy(w.snapshot, score=70)),
    ("health_snapshot_range", lambda w: update(w.snapshot, score=101)),
    # goals
    ("goal_period_order", lambda w: update(w.draft, period_end=w.draft.period_start - dt.timedelta(days=1))),
    ("goal_status_valid", lambda w: update(w.draft, status="done")),
    ("goal_direction_valid", lambda w: update(w.draft, direction="sideways")),
    ("goal_agreed_has_revision", lambda w: update(w.draft, status="agreed", agreed_revision=None)),
    ("goal_agreed_has_revision", lambda w: update(w.agreed, status="achieved", agreed_revision=None)),
    ("goal_agreed_revision_le_revision", lambda w: update(w.agreed, agreed_revision=w.agreed.revision + 1)),
    ("goal_amendment_only_when_agreed", lambda w: update(w.draft, amendment="draft")),
    ("goal_revision_unique", lambda w: copy(w.revision)),
    ("commitment_side", lambda w: update(w.commitment, side="both")),
    ("commitment_done_at", lambda w: update(w.commitment, done=True, done_at=None)),
    ("approval_once_per_side", lambda w: copy(w.approval)),
    ("approval_side", lambda w: update(w.approval, side="both")),
    ("check_in_confidence", lambda w: update(w.check_in, confidence=0)),
    ("check_in_confidence", lambda w: update(w.check_in, confidence=6)),
    ("check_in_side", lambda w: update(w.check_in, side="both")),
    ("comment_side", lambda w: update(w.comment, side="both")),
]


def _is_unique(name: str) -> bool:
    return name.endswith(("_unique", "_key")) or name == "approval_once_per_side"


@pytest.mark.parametrize(("constraint", "write"), VIOLATIONS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VIOLATIONS)])
def test_the_database_refuses_a_write_that_breaks_an_invariant(w, constraint, write):
    with pytest.raises(IntegrityError) as exc, transaction.atomic():
        write(w)
    message = str(exc.value)
    if connection.vendor == "postgresql" or not _is_unique(constraint):
        assert constraint in message, message
    else:
        assert "UNIQUE constraint failed" in message, message


def test_the_fixture_itself_breaks_no_constraint(w):
    """Each violation above changes one thing of a valid plan (so the refusal is about that thing)."""
    assert Goal.objects.filter(status="agreed", agreed_revision=1).count() == 1
    assert CheckIn.objects.count() == Comment.objects.count() == 1


def test_reviews_without_an_occurrence_may_share_the_partnership(w):
    """The occurrence is unique only when set: reviews scheduled by hand do not collide."""
    for hours in (1, 2):
        AlignmentReview.objects.create(partnership=w.p, scheduled_for=NOW + dt.timedelta(hours=hours))
    assert AlignmentReview.objects.filter(partnership=w.p, occurrence__isnull=True).count() == 2


def test_the_same_organisations_may_partner_the_other_way_round(w):
    """The pair is ordered: a partner may also be the vendor of its own vendor."""
    Partnership.objects.create(vendor=w.p.partner, partner=w.p.vendor, name="Reverse")
    assert Partnership.objects.filter(vendor=w.p.partner, partner=w.p.vendor).exists()


def test_a_goal_may_be_approved_once_per_side_on_each_revision(w):
    Approval.objects.create(goal=w.agreed, revision=2, side=Side.VENDOR)
    assert Approval.objects.filter(goal=w.agreed, side=Side.VENDOR).count() == 2


def test_an_organisation_can_be_partner_in_many_partnerships(w):
    vendor = Organisation.objects.create(name="Second vendor")
    Partnership.objects.create(vendor=vendor, partner=w.p.partner, name="Another vendor, same partner")
    assert w.p.partner.partnerships_as_partner.count() == 2


@pytest.mark.postgres
def test_constraints_hold_on_postgresql_too(w):
    """Marked so CI with REQUIRE_POSTGRES=1 proves this file ran against PostgreSQL."""
    assert connection.vendor == "postgresql"
    for constraint, write in VIOLATIONS:
        with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
            write(w)
