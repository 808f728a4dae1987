"""The access resolver: outsiders see and change nothing; members do what their role allows."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import OrganisationMembership, User
from alignment import services as plan
from alignment.access import (
    remember_standing,
    resolve,
    resolve_many,
    scoped,
    standing_on,
    visible_partnerships,
    with_standing,
)
from alignment.models import ChangeEvent, Objective, Partnership, PartnershipMember, Role, Side
from cadence import services as review_services
from core.errors import DomainError, NotAllowed, NotFound
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import commitments as goal_commitments
from goals import derive
from goals import services as goals
from goals.models import CheckIn, Commitment, Goal
from tests import factories as f


@pytest.fixture
def victim(cast):
    """The cast's partnership with a plan in it: objective, a proposed and an agreed goal, a check-in."""
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    proposed = f.make_goal(editor, objective)
    goals.goal_propose(access=editor, goal_id=proposed.pk)
    agreed = f.agree(f.make_goal(editor, objective), cast.access("vendor_approver"), cast.access("partner_approver"))
    check_in = goal_check_ins.check_in_create(access=editor, goal_id=agreed.pk, value=120, measured_on=dt.date.today())
    plan.vision_update(access=editor, why_together="a", what_we_hope="b", how_we_work="c")
    review = plan.review_schedule(access=editor)
    comment = goal_comments.comment_create(access=editor, goal_id=agreed.pk, body="Mine")
    return {
        "objective": objective,
        "proposed": proposed,
        "agreed": agreed,
        "check_in": check_in,
        "review": review,
        "comment": comment,
        "commitment": Commitment.objects.filter(goal=agreed).first(),
    }


# --- Outsiders --------------------------------------------------------------------------------


def test_an_outsider_resolves_nothing(cast):
    with pytest.raises(NotFound):
        resolve(cast.outsider, cast.partnership.pk)


def test_a_missing_partnership_and_a_foreign_one_look_the_same(cast):
    with pytest.raises(NotFound) as foreign:
        resolve(cast.outsider, cast.partnership.pk)
    with pytest.raises(NotFound) as missing:
        resolve(cast.outsider, uuid.uuid4())
    with pytest.raises(NotFound) as malformed:
        resolve(cast.outsider, "not-a-uuid")
    assert foreign.value.message == missing.value.message == malformed.value.message


def test_a_member_of_another_partner_organisation_resolves_nothing(cast):
    stranger = f.make_user("someone@elsewhere.test")
    f.add_member(cast.outsider_partnership, stranger, Side.PARTNER, Role.APPROVER)
    OrganisationMembership.objects.create(organisation=cast.outsider_partnership.partner, user=stranger, role="admin")
    with pytest.raises(NotFound):
        resolve(stranger, cast.partnership.pk)
    assert list(visible_partnerships(stranger)) == [cast.outsider_partnership]


@pytest.mark.parametrize("kind", ["anonymous", "inactive"])
def test_people_who_are_not_signed_in_or_deactivated_resolve_nothing(cast, kind):
    user = AnonymousUser() if kind == "anonymous" else cast.vendor_editor
    if kind == "inactive":
        user.is_active = False
        user.save()
    with pytest.raises(NotFound):
        resolve(user, cast.partnership.pk)
    assert not visible_partnerships(user).exists()
    assert resolve_many(user, [cast.partnership]) == {}


# Every service, called by the outsider with their own (valid) access but ids from the victim's
# partnership. Each must fail exactly as it does for an id that does not exist at all.
def _services(ids):
    o, g, a = ids["objective"], ids["proposed"], ids["agreed"]
    return {
        "objective_update": lambda x: plan.objective_update(access=x, objective_id=o, title="Mine"),
        "objective_delete": lambda x: plan.objective_delete(access=x, objective_id=o),
        "review_update": lambda x: plan.review_update(access=x, review_id=ids["review"], notes="Mine"),
        "review_skip": lambda x: plan.review_skip(access=x, review_id=ids["review"]),
        "review_hold": lambda x: review_services.review_hold(
            access=x, review_id=ids["review"], held_on=dt.date.today()
        ),
        "goal_create": lambda x: goals.goal_create(
            access=x,
            objective_id=o,
            title="Mine",
            baseline=1,
            target=2,
            period_start=dt.date(2026, 10, 1),
            period_end=dt.date(2026, 12, 31),
        ),
        "goal_update": lambda x: goals.goal_update(access=x, goal_id=g, title="Mine"),
        "goal_delete": lambda x: goals.goal_delete(access=x, goal_id=g),
        "goal_propose": lambda x: goals.goal_propose(access=x, goal_id=g),
        "goal_approve": lambda x: goals.goal_approve(access=x, goal_id=g, revision=1),
        "goal_request_changes": lambda x: goals.goal_request_changes(access=x, goal_id=g, comment="No"),
        "goal_withdraw": lambda x: goals.goal_withdraw(access=x, goal_id=g),
        "goal_discard_amendment": lambda x: goals.goal_discard_amendment(access=x, goal_id=a),
        "goal_close": lambda x: goals.goal_close(access=x, goal_id=a, outcome="dropped", note="Mine"),
        "commitment_create": lambda x: goal_commitments.commitment_create(
            access=x, goal_id=a, side=Side.VENDOR, text="Mine"
        ),
        "commitment_update": lambda x: goal_commitments.commitment_update(
            access=x, commitment_id=ids["commitment"], text="M"
        ),
        "commitment_delete": lambda x: goal_commitments.commitment_delete(access=x, commitment_id=ids["commitment"]),
        "check_in_create": lambda x: goal_check_ins.check_in_create(access=x, goal_id=a, value=1),
        "check_in_update": lambda x: goal_check_ins.check_in_update(access=x, check_in_id=ids["check_in"], value=1),
        "check_in_delete": lambda x: goal_check_ins.check_in_delete(access=x, check_in_id=ids["check_in"]),
        "comment_create": lambda x: goal_comments.comment_create(access=x, goal_id=a, body="Mine"),
        "comment_update": lambda x: goal_comments.comment_update(access=x, comment_id=ids["comment"], body="Mine"),
        "comment_delete": lambda x: goal_comments.comment_delete(access=x, comment_id=ids["comment"]),
        "goals_derive": lambda x: derive.goals_derive(access=x, objective_id=o),
    }


VICTIM_KEYS = ("objective", "proposed", "agreed", "review", "commitment", "check_in", "comment")
SERVICES = sorted(_services(dict.fromkeys(VICTIM_KEYS)))


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_refuses_an_outsider_as_if_the_object_did_not_exist(cast, victim, service):
    outsider = f.access(cast.outsider, cast.outsider_partnership)
    real = _services({k: v.pk for k, v in victim.items()})[service]
    fake = _services({k: uuid.uuid4() for k in victim})[service]
    events = ChangeEvent.objects.filter(partnership_id=cast.partnership.pk).count()

    with pytest.raises(DomainError) as on_real:
        real(outsider)
    with pytest.raises(DomainError) as on_fake:
        fake(outsider)

    assert on_real.value.status in (400, 404)
    assert (type(on_real.value), on_real.value.message) == (type(on_fake.value), on_fake.value.message)
    assert ChangeEvent.objects.filter(partnership_id=cast.partnership.pk).count() == events
    assert Goal.objects.get(pk=victim["proposed"].pk).title != "Mine"


def test_an_outsider_sees_none_of_the_partnerships_data(cast, victim):
    assert list(visible_partnerships(cast.outsider)) == [cast.outsider_partnership]
    assert not scoped(cast.outsider, Goal.objects.all()).exists()
    assert not scoped(cast.outsider, Objective.objects.all()).exists()
    assert not scoped(cast.outsider, CheckIn.objects.all(), "goal__partnership").exists()
    assert resolve_many(cast.outsider, [cast.partnership, cast.outsider_partnership]).keys() == {
        cast.outsider_partnership.pk
    }


# --- Members and organisation admins ----------------------------------------------------------


def test_a_member_sees_only_the_partnerships_they_belong_to(cast, victim):
    other = f.make_partnership(cast.vendor_admin, name="Acme × Contoso")
    f.make_goal(f.access(cast.vendor_admin, other), f.make_objective(f.access(cast.vendor_admin, other)))

    assert list(visible_partnerships(cast.partner_viewer)) == [cast.partnership]
    assert set(scoped(cast.partner_viewer, Goal.objects.all())) == {victim["proposed"], victim["agreed"]}
    with pytest.raises(NotFound):
        resolve(cast.partner_viewer, other.pk)


def test_a_vendor_admin_sees_every_partnership_of_their_organisation(cast):
    colleague = f.make_user("colleague@vendor.test")
    OrganisationMembership.objects.create(organisation=cast.partnership.vendor, user=colleague, role="admin")
    theirs = f.make_partnership(colleague, name="Acme × Fabrikam")  # the first admin is no member of it

    assert set(visible_partnerships(cast.vendor_admin)) == {cast.partnership, theirs}
    access = resolve(cast.vendor_admin, theirs.pk)
    assert (access.side, access.role, access.can_manage) == (Side.VENDOR, Role.APPROVER, True)
    assert resolve_many(cast.vendor_admin, [cast.partnership, theirs]).keys() == {cast.partnership.pk, theirs.pk}


def test_an_organisation_member_who_is_no_admin_sees_only_their_memberships(cast):
    plain = f.make_user("plain@vendor.test")
    OrganisationMembership.objects.create(organisation=cast.partnership.vendor, user=plain, role="member")
    assert not visible_partnerships(plain).exists()
    with pytest.raises(NotFound):
        resolve(plain, cast.partnership.pk)


def test_a_partner_admin_approves_for_the_partner_side(cast):
    boss = f.make_user("boss@partner.test")
    OrganisationMembership.objects.create(organisation=cast.partnership.partner, user=boss, role="admin")
    access = resolve(boss, cast.partnership.pk)
    assert (access.side, access.role, access.is_org_admin) == (Side.PARTNER, Role.APPROVER, True)


def test_an_admin_who_is_a_viewer_member_still_approves_for_their_side(cast):
    PartnershipMember.objects.filter(partnership=cast.partnership, user=cast.vendor_admin).update(role=Role.VIEWER)
    access = resolve(cast.vendor_admin, cast.partnership.pk)
    assert (access.role, access.can_approve, access.can_manage) == (Role.APPROVER, True, True)


def test_standing_on_places_everyone_as_the_resolver_does_with_or_without_the_request_standing(cast):
    """``standing_on`` (the sides the change feed and the figures API filter by) gives, for every
    person and side, the partnerships where ``resolve`` puts them on that side: read live, and from
    the standing a request kept (``remember_standing``)."""
    partner_boss = f.make_user("boss@partner.test")
    OrganisationMembership.objects.create(organisation=cast.partnership.partner, user=partner_boss, role="admin")
    # Where a partner admin is also the vendor's admin and no member, the vendor side wins.
    both = f.make_user("both@vendor.test")
    OrganisationMembership.objects.create(organisation=cast.partnership.vendor, user=both, role="admin")
    OrganisationMembership.objects.create(organisation=cast.partnership.partner, user=both, role="admin")
    theirs = f.make_partnership(cast.vendor_admin, name="Acme × Fabrikam")  # the colleague is no member of it
    everyone = [*(getattr(cast, n) for n in cast.__dataclass_fields__ if isinstance(getattr(cast, n), User))]
    for person in [*everyone, partner_boss, both]:
        expected = {side: set() for side in Side.values}
        for p in (cast.partnership, theirs, cast.outsider_partnership):
            access = resolve_many(person, [p]).get(p.pk)
            if access is not None:
                expected[access.side].add(p.pk)
        kept = User.objects.get(pk=person.pk)
        remember_standing(kept, with_standing(User.objects.filter(pk=person.pk), "id").get())
        for side in Side.values:
            live = set(ChangeEvent.objects.filter(standing_on(person, side)).values_list("partnership_id", flat=True))
            from_standing = set(
                ChangeEvent.objects.filter(standing_on(kept, side)).values_list("partnership_id", flat=True)
            )
            assert live == from_standing == expected[side], (person.email, side)


def test_visible_partnerships_are_the_same_from_the_request_standing_as_read_live(cast):
    """An API read scopes its queries by the partnerships its token's holder may see, named from the
    standing read with the token (no membership subqueries): the same partnerships as read live."""
    partner_boss = f.make_user("boss@partner.test")
    OrganisationMembership.objects.create(organisation=cast.partnership.partner, user=partner_boss, role="admin")
    f.make_partnership(cast.vendor_admin, name="Acme × Fabrikam")
    nobody = f.make_user("nobody@elsewhere.test")
    everyone = [*(getattr(cast, n) for n in cast.__dataclass_fields__ if isinstance(getattr(cast, n), User))]
    for person in [*everyone, partner_boss, nobody]:
        kept = User.objects.get(pk=person.pk)
        remember_standing(kept, with_standing(User.objects.filter(pk=person.pk), "id").get())
        with CaptureQueriesContext(connection) as named:
            from_standing = set(visible_partnerships(kept).values_list("pk", flat=True))
        assert not [q for q in named.captured_queries if "partnershipmember" in q["sql"].lower()]
        assert from_standing == set(visible_partnerships(person).values_list("pk", flat=True)), person.email
    assert not visible_partnerships(nobody).exists()
    assert visible_partnerships(cast.vendor_admin).count() == 2


def test_resolve_many_answers_with_a_fixed_number_of_queries(cast, django_assert_num_queries):
    many = [f.make_partnership(cast.vendor_admin, name=f"Acme × P{i}") for i in range(5)]
    with django_assert_num_queries(2):
        few_result = resolve_many(cast.vendor_editor, [cast.partnership])
    with django_assert_num_queries(2):
        many_result = resolve_many(cast.vendor_admin, [cast.partnership, *many])
    assert few_result[cast.partnership.pk].role == Role.EDITOR
    assert len(many_result) == 6


# --- What each role may do --------------------------------------------------------------------


def _actions(cast, victim):
    a, g = victim["agreed"].pk, victim["proposed"].pk
    newcomer = f.make_user("newcomer@example.test")
    return {
        "comment": lambda x: goal_comments.comment_create(access=x, goal_id=a, body="Nice"),
        "edit vision": lambda x: plan.vision_update(access=x, how_we_work="Weekly"),
        "add objective": lambda x: f.make_objective(x),
        "add goal": lambda x: f.make_goal(x, victim["objective"]),
        "edit goal": lambda x: goals.goal_update(access=x, goal_id=g, target=Decimal("400")),
        "request changes": lambda x: goals.goal_request_changes(access=x, goal_id=g, comment="More"),
        "check in": lambda x: goal_check_ins.check_in_create(access=x, goal_id=a, value=130),
        "schedule review": lambda x: plan.review_schedule(
            access=x, scheduled_for=dt.datetime(2027, 1, 5, 10, tzinfo=dt.UTC)
        ),
        "approve goal": lambda x: goals.goal_approve(access=x, goal_id=g, revision=1),
        "endorse vision": lambda x: plan.vision_endorse(access=x, revision=2),
        "close goal": lambda x: goals.goal_close(access=x, goal_id=a, outcome="dropped", note="Stop"),
        "add member": lambda x: plan.member_add(access=x, user=newcomer, side=x.side, role=Role.VIEWER),
        "change settings": lambda x: plan.partnership_update(access=x, economic_notes="New terms"),
    }


LEVELS = ["viewer", "editor", "approver", "admin"]
# The lowest level allowed to do each action.
MINIMUM = {
    "comment": "viewer",
    "edit vision": "editor",
    "add objective": "editor",
    "add goal": "editor",
    "edit goal": "editor",
    "request changes": "editor",
    "check in": "editor",
    "schedule review": "editor",
    "approve goal": "approver",
    "endorse vision": "approver",
    "close goal": "approver",
    "add member": "admin",
    "change settings": "admin",
}
PEOPLE = {
    ("vendor", "viewer"): "vendor_viewer",
    ("vendor", "editor"): "vendor_editor",
    ("vendor", "approver"): "vendor_approver",
    ("vendor", "admin"): "vendor_admin",
    ("partner", "viewer"): "partner_viewer",
    ("partner", "editor"): "partner_editor",
    ("partner", "approver"): "partner_approver",
}
TABLE = [
    (side, level, action, LEVELS.index(level) >= LEVELS.index(minimum))
    for (side, level) in PEOPLE
    for action, minimum in MINIMUM.items()
]


@pytest.mark.parametrize(
    ("side", "level", "action", "allowed"),
    TABLE,
    ids=[f"{s}-{lv}-{a.replace(' ', '_')}-{'yes' if ok else 'no'}" for s, lv, a, ok in TABLE],
)
def test_role_rules(cast, victim, side, level, action, allowed):
    access = cast.access(PEOPLE[(side, level)])
    run = _actions(cast, victim)[action]
    if allowed:
        run(access)
    else:
        events = ChangeEvent.objects.count()
        with pytest.raises(NotAllowed):
            run(access)
        assert ChangeEvent.objects.count() == events


def test_an_admin_manages_only_their_own_sides_people(cast):
    newcomer = f.make_user("newcomer@example.test")
    with pytest.raises(NotAllowed):
        plan.member_add(access=cast.access("vendor_admin"), user=newcomer, side=Side.PARTNER, role=Role.APPROVER)
    partner_member = PartnershipMember.objects.get(partnership=cast.partnership, user=cast.partner_viewer)
    with pytest.raises(NotAllowed):
        plan.member_update(access=cast.access("vendor_admin"), member_id=partner_member.pk, role=Role.APPROVER)
    with pytest.raises(NotAllowed):
        plan.member_remove(access=cast.access("vendor_admin"), member_id=partner_member.pk)
    assert PartnershipMember.objects.get(pk=partner_member.pk).role == Role.VIEWER


def test_only_the_committed_side_marks_its_commitment_done(cast, victim):
    partner_commitment = Commitment.objects.get(goal=victim["agreed"], side=Side.PARTNER)
    with pytest.raises(NotAllowed):
        goal_commitments.commitment_update(
            access=cast.access("vendor_approver"), commitment_id=partner_commitment.pk, done=True
        )
    done = goal_commitments.commitment_update(
        access=cast.access("partner_editor"), commitment_id=partner_commitment.pk, done=True
    )
    assert done.done and done.done_at is not None


def test_a_side_corrects_only_its_own_check_ins(cast, victim):
    with pytest.raises(NotAllowed):
        goal_check_ins.check_in_update(access=cast.access("partner_editor"), check_in_id=victim["check_in"].pk, value=1)


def test_only_the_author_edits_a_comment(cast, victim):
    with pytest.raises(NotAllowed):
        goal_comments.comment_update(
            access=cast.access("vendor_approver"), comment_id=victim["comment"].pk, body="Not mine"
        )


def test_partnerships_are_created_only_for_an_organisation_one_belongs_to(cast):
    with pytest.raises(NotFound):
        plan.partnership_create(actor=cast.outsider, vendor=cast.partnership.vendor, partner_name="Sneaky Ltd")
    assert not Partnership.objects.filter(partner__name="Sneaky Ltd").exists()


def test_an_admin_cannot_rewrite_the_other_sides_business_drivers(cast):
    from alignment.services import partnership_update
    from core.errors import NotAllowed

    with pytest.raises(NotAllowed, match="partner side's are theirs"):
        partnership_update(access=cast.access("vendor_admin"), partner_drivers=["set by the vendor"])
    cast.partnership.refresh_from_db()
    assert "set by the vendor" not in cast.partnership.partner_drivers
    updated = partnership_update(access=cast.access("vendor_admin"), vendor_drivers=["licence revenue"])
    assert updated.vendor_drivers == ["licence revenue"]
