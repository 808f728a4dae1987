"""The alignment health page: every component with its points and why, the trend, and access."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cadence.health import WEIGHTS, partnership_health
from cadence.models import HealthSnapshot
from tests import factories as f

pytestmark = pytest.mark.django_db


def url(p) -> str:
    return reverse("partnership_health", args=[p.pk])


def test_outsiders_get_404(client, cast):
    client.force_login(cast.outsider)
    assert client.get(url(cast.partnership)).status_code == 404


def test_page_explains_every_component_with_its_points(client, cast):
    client.force_login(cast.partner_viewer)
    response = client.get(url(cast.partnership))
    assert response.status_code == 200
    html = response.content.decode()
    report = partnership_health(cast.partnership)
    # No goal agreed by both sides yet: "Getting started" instead of a score, the parts still explained.
    assert not report.started and "Getting started" in html
    assert f"Alignment health <strong>{report.score}</strong> of 100" not in html
    for c in report.components:
        assert c.label in html
        assert f"of {c.weight}</span>" in html
    assert html.count('class="health-component ') == len(WEIGHTS)
    assert "The vision is not written yet." in html
    assert "No alignment review is scheduled." in html


def test_trend_shows_stored_snapshots_and_todays_live_score(client, cast):
    today = timezone.now().date()
    HealthSnapshot.objects.create(
        partnership=cast.partnership, day=today - dt.timedelta(days=10), score=12, components=[]
    )
    HealthSnapshot.objects.create(partnership=cast.partnership, day=today, score=99, components=[])  # stale
    client.force_login(cast.vendor_editor)
    html = client.get(url(cast.partnership)).content.decode()
    live = partnership_health(cast.partnership).score
    assert "health 12</title>" in html
    assert f"{today:%d %b %Y}: health {live}</title>" in html
    assert "health 99" not in html


def test_htmx_gets_only_the_explanation(client, cast):
    client.force_login(cast.vendor_editor)
    html = client.get(url(cast.partnership), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html and 'class="health-explained"' in html


def test_the_partial_escapes_explanations_that_quote_user_text(cast):
    editor = cast.access("vendor_editor")
    f.make_objective(editor, title="<b>Bold</b> move")
    html = render_to_string("health/_explained.html", {"health": partnership_health(cast.partnership)})
    assert "&lt;b&gt;Bold&lt;/b&gt; move" in html and "<b>Bold" not in html


def _queries(client, u) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(u).status_code == 200
    return len(ctx)


def test_query_count_does_not_grow_with_the_plan(client, cast):
    editor, vendor, partner = (cast.access(w) for w in ("vendor_editor", "vendor_approver", "partner_approver"))
    objective = f.make_objective(editor)
    f.agree(f.make_goal(editor, objective), vendor, partner)
    client.force_login(cast.vendor_editor)
    _queries(client, url(cast.partnership))
    small = _queries(client, url(cast.partnership))
    for _ in range(5):
        f.agree(f.make_goal(editor, f.make_objective(editor)), vendor, partner)
    HealthSnapshot.objects.bulk_create(
        [
            HealthSnapshot(partnership=cast.partnership, day=timezone.now().date() - dt.timedelta(days=d), score=50)
            for d in range(1, 40)
        ]
    )
    assert _queries(client, url(cast.partnership)) == small
