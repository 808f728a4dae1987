"""The top bar, the partnership's sections as tabs on every one of its pages, and the one rule that
decides who is offered vendor things ("acts as a vendor")."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.models import Organisation, OrganisationMembership
from alignment.models import AlignmentReview
from goals import services as goals
from tests import factories as f


def pages(cast) -> dict[str, str]:
    p = cast.partnership.pk
    review = AlignmentReview.objects.create(partnership=cast.partnership, scheduled_for="2031-01-06T10:00:00Z")
    return {
        "plan": f"/p/{p}/",
        "queue": f"/p/{p}/review/",
        "reviews": f"/p/{p}/reviews/",
        "review": f"/p/{p}/reviews/{review.pk}/",
        "health": f"/p/{p}/health/",
        "settings": f"/p/{p}/settings/",
        "invitations": f"/invite/manage/{p}/",
        "print": f"/p/{p}/print/",
    }


CURRENT = {
    "plan": "Plan",
    "queue": "Review queue",
    "reviews": "Reviews",
    "review": "Reviews",
    "health": "Health",
    "settings": "Settings",
    "invitations": "Invitations",
    "print": "Print / export",
}


def tab_labels(html: str) -> list[str]:
    nav = html.split('<nav class="tabs"', 1)[1].split("</nav>", 1)[0]
    return [re.sub(r"<[^>]+>", "", label).strip() for label in re.findall(r"<a [^>]*>(.*?)</a>", nav, re.S)]


def current_tab(html: str) -> str:
    nav = html.split('<nav class="tabs"', 1)[1].split("</nav>", 1)[0]
    [label] = re.findall(r'aria-current="page">(.*?)</a>', nav, re.S)
    return re.sub(r"<[^>]+>", "", label).strip()


def test_every_page_of_a_partnership_has_its_sections_as_tabs(client, cast):
    client.force_login(cast.vendor_admin)
    for name, url in pages(cast).items():
        html = client.get(url).content.decode()
        assert tab_labels(html) == [
            "Plan",
            "Review queue",
            "Reviews",
            "Health",
            "Settings",
            "Invitations",
            "Print / export",
        ], name
        assert current_tab(html) == CURRENT[name], name
        assert 'class="partnership-links"' not in html  # the old row of links is gone


def test_only_people_who_may_invite_see_the_invitations_tab(client, cast):
    client.force_login(cast.partner_viewer)
    html = client.get(f"/p/{cast.partnership.pk}/").content.decode()
    assert "Invitations" not in tab_labels(html)
    client.force_login(cast.vendor_editor)
    assert "Invitations" not in tab_labels(client.get(f"/p/{cast.partnership.pk}/").content.decode())


def test_the_review_queue_tab_counts_what_waits_for_the_persons_side(client, cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor))
    goals.goal_propose(access=editor, goal_id=goal.pk)
    goals.goal_approve(access=cast.access("vendor_approver"), goal_id=goal.pk, revision=1)
    p = cast.partnership.pk
    client.force_login(cast.partner_viewer)
    html = client.get(f"/p/{p}/").content.decode()
    assert f'hx-get="/p/{p}/fragment/queue-count/"' in html
    count = client.get(f"/p/{p}/fragment/queue-count/").content.decode()
    assert 'data-waiting="1"' in count and "waiting for your side" in count
    client.force_login(cast.vendor_viewer)  # the vendor side approved already
    assert 'data-waiting="0"' in client.get(f"/p/{p}/fragment/queue-count/").content.decode()
    client.force_login(cast.outsider)
    assert client.get(f"/p/{p}/fragment/queue-count/").status_code == 404


def test_the_top_bar_offers_the_persons_menu_and_never_sign_up_to_a_signed_in_person(client, cast):
    client.force_login(cast.partner_approver)
    html = client.get("/").content.decode()
    header = html.split("</header>", 1)[0]
    assert 'href="/settings/"' in header and ">Sign out</button>" in header and "Pat Partner" in header
    assert "signup" not in header and "Create a workspace" not in header
    client.logout()
    header = client.get("/accounts/login/").content.decode().split("</header>", 1)[0]
    assert 'href="/accounts/signup/"' in header


# --- "Acts as a vendor" --------------------------------------------------------------------------


def join(user, org: Organisation, role: str = "admin") -> None:
    OrganisationMembership.objects.create(organisation=org, user=user, role=role)


def test_a_vendor_and_a_new_workspace_act_as_a_vendor_a_partner_organisation_does_not(cast):
    assert cast.vendor_admin.acts_as_vendor
    partner_admin = f.make_user()
    join(partner_admin, cast.partnership.partner)
    assert not partner_admin.acts_as_vendor
    assert list(partner_admin.vendor_organisations()) == []
    fresh = f.make_user()
    workspace = f.make_org("Fresh", fresh)  # made by sign-up: nobody's partner yet
    assert [o.pk for o in fresh.vendor_organisations()] == [workspace.pk]
    # A partner organisation that starts partnerships of its own acts as a vendor from then on.
    f.make_partnership(partner_admin)
    del partner_admin.acts_as_vendor
    assert partner_admin.acts_as_vendor
    assert cast.partnership.partner in list(partner_admin.vendor_organisations())


def test_partner_people_are_never_offered_a_new_partnership(client, cast):
    partner_admin = f.make_user(full_name="Priya Partner")
    join(partner_admin, cast.partnership.partner)
    f.add_member(cast.partnership, partner_admin, "partner", "approver")
    client.force_login(partner_admin)
    html = client.get("/").content.decode()
    assert reverse("partnership_new") not in html and "New partnership" not in html
    assert f"with {cast.partnership.vendor.name} (your vendor)" in html
    assert client.get(reverse("partnership_new")).status_code == 404
    client.force_login(cast.vendor_admin)
    html = client.get("/").content.decode()
    assert 'href="/partnerships/new/"' in html and "New partnership" in html


@pytest.mark.parametrize("who", ["partner_approver", "partner_viewer"])
def test_partner_members_without_an_organisation_see_no_vendor_actions(client, cast, who):
    client.force_login(getattr(cast, who))
    html = client.get("/").content.decode()
    assert "New partnership" not in html and "Start a partnership" not in html
