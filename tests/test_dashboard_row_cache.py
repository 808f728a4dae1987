"""The dashboard's partnership rows from the cache (plans.dashboard_rows, core.fragment_cache): read
again when nothing they show changed, rendered again the moment something did."""

from __future__ import annotations

import re

import pytest
from django.test.signals import template_rendered

from core import fragment_cache
from goals import services as goals
from tests import factories as f

ROW = "dashboard/_row.html"


@pytest.fixture
def row_renders():
    seen: list[str] = []

    def listen(sender, template, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if template.name == ROW:
            seen.append(template.name)

    template_rendered.connect(listen)
    yield seen
    template_rendered.disconnect(listen)


def row_of(html: str, partnership) -> str:  # type: ignore[no-untyped-def]
    match = re.search(rf'<li class="partnership-row card">(?:(?!</li>).)*?/p/{partnership.pk}/.*?</dl>', html, re.S)
    assert match, "the partnership's row is not on the dashboard"
    return match.group(0)


def dashboard(client) -> str:  # type: ignore[no-untyped-def]
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_second_dashboard_reads_its_rows_and_shows_the_same(client, cast, row_renders):
    client.force_login(cast.vendor_admin)
    first = dashboard(client)
    rendered = len(row_renders)
    assert rendered >= 1
    second = dashboard(client)
    assert len(row_renders) == rendered  # every row from the cache
    assert row_of(first, cast.partnership) == row_of(second, cast.partnership)


def test_a_goal_waiting_for_my_side_shows_at_once(client, cast):
    client.force_login(cast.partner_approver)
    assert "Pipeline Q4" not in row_of(dashboard(client), cast.partnership)
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor, title="Grow the joint pipeline"), title="Pipeline Q4")
    goals.goal_propose(access=editor, goal_id=goal.pk)
    assert "Pipeline Q4" in row_of(dashboard(client), cast.partnership)


def test_a_renamed_partner_organisation_shows_at_once(client, cast):
    client.force_login(cast.vendor_admin)
    dashboard(client)
    partner = cast.partnership.partner
    partner.name = "Renamed Partner Ltd"
    partner.save(update_fields=["name"])
    assert "Renamed Partner Ltd" in row_of(dashboard(client), cast.partnership)


def test_rows_are_rendered_every_time_with_the_cache_off(client, cast, row_renders, settings):
    settings.HEALTH_CACHE_SECONDS = 0
    client.force_login(cast.vendor_admin)
    dashboard(client)
    once = len(row_renders)
    dashboard(client)
    assert len(row_renders) == 2 * once


def test_a_key_refuses_what_is_not_plain_data(cast):
    with pytest.raises(TypeError):
        fragment_cache.key("x", ROW, {"partnership": cast.partnership})


def test_a_full_page_from_the_cache_loads_none_of_its_rows(client, cast):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(cast.vendor_admin)
    with CaptureQueriesContext(connection) as cold:
        dashboard(client)
    with CaptureQueriesContext(connection) as warm:
        dashboard(client)
    tables = " ".join(q["sql"] for q in warm.captured_queries)
    assert "alignment_healthsnapshot" not in tables and "goals_goal" not in tables
    assert len(warm.captured_queries) < len(cold.captured_queries)


def test_a_new_snapshot_shows_in_the_trend_within_the_hour(client, cast):
    import datetime as dt

    import time_machine
    from django.utils import timezone

    from cadence.models import HealthSnapshot

    start = timezone.now().replace(minute=5, second=0, microsecond=0)
    client.force_login(cast.vendor_admin)
    with time_machine.travel(start, tick=False):
        assert "spark" not in row_of(dashboard(client), cast.partnership)
        today = timezone.localdate()
        for days, score in ((2, 40), (1, 55)):
            HealthSnapshot.objects.create(
                partnership=cast.partnership, day=today - dt.timedelta(days=days), score=score
            )
        assert "spark" not in row_of(dashboard(client), cast.partnership)  # the same hour: from the cache
    with time_machine.travel(start + dt.timedelta(hours=1), tick=False):
        assert "spark" in row_of(dashboard(client), cast.partnership)


def test_the_rows_a_dashboard_renders_are_stored_in_one_round_trip(client, cast, row_renders, monkeypatch):
    f.make_partnership(cast.vendor_admin, name="Second")
    client.force_login(cast.vendor_admin)
    calls: list[tuple[str, int]] = []
    real_set, real_set_many = fragment_cache.cache.set, fragment_cache.cache.set_many
    inside: list[bool] = []  # a cache without its own set_many (locmem) sets key by key within it

    def set_one(key, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not inside:
            calls.append(("set", 1 if key.startswith("dashboard-row:") else 0))
        return real_set(key, *args, **kwargs)

    def set_many(data, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(("set_many", sum(k.startswith("dashboard-row:") for k in data)))
        inside.append(True)
        try:
            return real_set_many(data, *args, **kwargs)
        finally:
            inside.pop()

    monkeypatch.setattr(fragment_cache.cache, "set", set_one)
    monkeypatch.setattr(fragment_cache.cache, "set_many", set_many)
    first = dashboard(client)
    rendered = len(row_renders)
    assert rendered == 2
    rows = [(kind, n) for kind, n in calls if n]
    assert rows == [("set_many", 2)], calls  # both rows, once, together
    second = dashboard(client)
    assert len(row_renders) == rendered  # found where they were stored
    assert row_of(first, cast.partnership) == row_of(second, cast.partnership)


def test_a_piece_is_stored_when_the_block_ends_or_at_once_outside_one(monkeypatch):
    monkeypatch.setattr(fragment_cache, "render_to_string", lambda name, context: f"<p>{context['n']}</p>")
    inside, outside = fragment_cache.key("test-piece", ROW, 1), fragment_cache.key("test-piece", ROW, 2)
    with fragment_cache.stored_together():
        assert fragment_cache.render(ROW, {"n": 1}, cache_key=inside) == "<p>1</p>"
        assert fragment_cache.lookup([inside]) == {}  # not yet
    assert fragment_cache.lookup([inside]) == {inside: "<p>1</p>"}
    fragment_cache.render(ROW, {"n": 2}, cache_key=outside)
    assert fragment_cache.lookup([outside]) == {outside: "<p>2</p>"}
