"""Rendered goal cards in the cache (goals.card_cache): the plan page reads a card's HTML instead of
rendering it again, and never shows a card older than the plan, the day, the viewer's side and
role, their language or time zone, or an approver's name."""

from __future__ import annotations

import re

import pytest
from django.test.signals import template_rendered
from django.utils import translation

from goals import check_ins as goal_check_ins
from goals import services as goals
from goals.card_cache import cached_goal_cards, render_card
from goals.cards import goal_cards
from tests import factories as f

CARD = "goals/_goal_card.html"


@pytest.fixture
def proposed(cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor, title="Grow the joint pipeline"), title="Pipeline Q4")
    return goals.goal_propose(access=editor, goal_id=goal.pk)


class Renders:
    """How many times the card template was rendered."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, sender, template, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if template.name == CARD:
            self.count += 1


@pytest.fixture
def card_renders():
    renders = Renders()
    template_rendered.connect(renders)
    yield renders
    template_rendered.disconnect(renders)


def card_html(page: str, goal) -> str:  # type: ignore[no-untyped-def]
    match = re.search(rf'<article id="goal-{goal.pk}".*?</article>', page, re.S)
    assert match, "the card is not on the page"
    return match.group(0)


def plan_page(client, cast) -> str:  # type: ignore[no-untyped-def]
    response = client.get(f"/p/{cast.partnership.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_second_plan_page_reads_the_card_and_shows_the_same_markup(client, cast, proposed, card_renders):
    client.force_login(cast.partner_approver)
    first = plan_page(client, cast)
    assert card_renders.count == 1
    second = plan_page(client, cast)
    assert card_renders.count == 1  # from the cache
    assert card_html(first, proposed) == card_html(second, proposed)


def test_cached_and_rendered_cards_are_the_same_markup(cast, proposed, settings):
    access = cast.access("partner_approver")
    stored = cached_goal_cards(access, open_only=True)
    assert stored[0].cache_key and not stored[0].html
    rendered = render_card(stored[0])
    again = cached_goal_cards(access, open_only=True)
    assert again[0].html == rendered
    settings.HEALTH_CACHE_SECONDS = 0  # caching off: rendered every time, stored never
    plain = cached_goal_cards(access, open_only=True)
    assert not plain[0].cache_key and not plain[0].html
    assert render_card(plain[0]) == rendered
    assert render_card(goal_cards(access, open_only=True)[0]) == rendered


def test_a_change_to_the_plan_shows_at_once(client, cast, proposed):
    client.force_login(cast.vendor_viewer)
    assert "Approval pending" in card_html(plan_page(client, cast), proposed)
    goals.goal_approve(access=cast.access("partner_approver"), goal_id=proposed.pk, revision=proposed.revision)
    card = card_html(plan_page(client, cast), proposed)
    assert f"Approved revision {proposed.revision} by {cast.partner_approver.display_name}" in card


def test_a_check_in_moves_the_progress_of_an_agreed_goal(client, cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor, title="Grow the joint pipeline"), title="Pipeline Q4")
    agreed = f.agree(goal, cast.access("vendor_approver"), cast.access("partner_approver"))
    client.force_login(cast.partner_viewer)
    before = card_html(plan_page(client, cast), agreed)
    goal_check_ins.check_in_create(access=cast.access("vendor_editor"), goal_id=agreed.pk, value=agreed.target)
    after = card_html(plan_page(client, cast), agreed)
    assert before != after and 'value="100"' in after


def test_each_side_and_role_gets_its_own_buttons(client, cast, proposed):
    goals.goal_approve(access=cast.access("vendor_approver"), goal_id=proposed.pk, revision=proposed.revision)
    client.force_login(cast.partner_approver)
    approver = card_html(plan_page(client, cast), proposed)
    client.force_login(cast.partner_viewer)
    viewer = card_html(plan_page(client, cast), proposed)
    client.force_login(cast.vendor_approver)
    vendor = card_html(plan_page(client, cast), proposed)
    assert "goal-actions" in approver and "goal-actions" not in viewer
    assert f"{proposed.pk}/approve/" in approver and f"{proposed.pk}/approve/" not in vendor


def test_an_approvers_new_name_shows_although_the_plan_did_not_change(client, cast, proposed):
    approver = cast.partner_approver
    goals.goal_approve(access=cast.access("partner_approver"), goal_id=proposed.pk, revision=proposed.revision)
    client.force_login(cast.vendor_viewer)
    assert f"by {approver.display_name}" in card_html(plan_page(client, cast), proposed)
    approver.full_name = "Renamed Approver"
    approver.save(update_fields=["full_name"])
    assert "by Renamed Approver" in card_html(plan_page(client, cast), proposed)


def test_language_and_time_zone_are_part_of_the_key(cast, proposed):
    access = cast.access("partner_approver")
    english = cached_goal_cards(access, open_only=True)[0].cache_key
    with translation.override("de"):
        german = cached_goal_cards(access, open_only=True)[0].cache_key
    from django.utils import timezone

    with timezone.override("Australia/Sydney"):
        sydney = cached_goal_cards(access, open_only=True)[0].cache_key
    assert len({english, german, sydney}) == 3
