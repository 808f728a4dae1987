"""The person's side in SQL (``alignment.access.viewer_side``) is the resolver's, read from the
request's standing (ids named outright: arrays on PostgreSQL) and without it (the membership joined,
the organisations in a subquery); the dashboard's numbers and pages are the same either way."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import OrganisationMembership, User
from alignment import access
from alignment.models import PartnershipMember, Role, Side
from plans import dashboard
from tests import factories as f


@pytest.fixture
def portfolio(db):  # type: ignore[no-untyped-def]
    """A person who stands on each side for each reason, and a partnership they do not see."""
    person, other = f.make_user("person@vendor.test"), f.make_user("other@elsewhere.test")
    admin_only = f.make_partnership(person, name="Admin only")  # vendor side: they administer the vendor
    PartnershipMember.objects.filter(partnership=admin_only, user=person).delete()
    member_too = f.make_partnership(person, name="Member too")  # vendor side: membership and admin
    switched = f.make_partnership(person, name="Switched")  # partner side: the membership wins
    PartnershipMember.objects.filter(partnership=switched, user=person).update(side=Side.PARTNER)
    partner_admin = f.make_partnership(other, name="Partner admin")  # partner side: they administer the partner
    OrganisationMembership.objects.create(
        user=person, organisation=partner_admin.partner, role=OrganisationMembership.Role.ADMIN
    )
    member_elsewhere = f.make_partnership(other, name="Member elsewhere")  # their membership's side
    f.add_member(member_elsewhere, person, Side.VENDOR, Role.VIEWER)
    unseen = f.make_partnership(other, name="Unseen")
    expected = {
        admin_only.pk: Side.VENDOR,
        member_too.pk: Side.VENDOR,
        switched.pk: Side.PARTNER,
        partner_admin.pk: Side.PARTNER,
        member_elsewhere.pk: Side.VENDOR,
    }
    return person, expected, unseen


def sides(user):  # type: ignore[no-untyped-def]
    qs = dashboard.with_membership(user, access.visible_partnerships(user)).annotate(side=access.viewer_side(user))
    return dict(qs.values_list("pk", "side"))


def with_standing(person):  # type: ignore[no-untyped-def]
    fresh = User.objects.get(pk=person.pk)  # the standing is kept on the request's user instance
    access.read_standing(fresh)
    assert access.standing_ids(fresh) is not None
    return fresh


def test_the_side_in_sql_is_the_resolvers_with_the_standing_and_without(portfolio):
    person, expected, unseen = portfolio
    assert access.standing_ids(person) is None
    live = sides(person)
    assert live == expected and unseen.pk not in live
    assert sides(with_standing(person)) == expected
    assert {pk: access.resolve(person, pk).side for pk in expected} == expected


def test_the_dashboards_numbers_and_pages_are_the_same_with_the_standing(portfolio):
    person, _, _ = portfolio
    fresh = with_standing(person)
    now = timezone.now()
    assert dashboard._totals(fresh, dashboard.ranked(fresh, now), now) == dashboard._totals(
        person, dashboard.ranked(person, now), now
    )
    for sort in ("attention", "health", "-health", "review", "name"):

        def page(user, sort=sort):  # type: ignore[no-untyped-def]
            ranked = dashboard.ranked(user, now).order_by(*dashboard._order(sort))
            return list(ranked.values(*dashboard.KEY_FIELDS))

        assert page(fresh) == page(person) and len(page(person)) == 5
