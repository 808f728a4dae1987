"""The numbers the dashboard sorts a whole portfolio by (``alignment.attention``): counted in the
database by the same rule the page shows, cached per plan generation, hour and day, and computed
before the hour turns so that no dashboard request computes a whole portfolio."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cadence import attention
from goals import commitments as goal_commitments
from goals import services as goals
from plans.dashboard import _waiting_goals
from tests import factories as f


def pending_goals_in_every_state(cast):
    """Goals waiting for one side or the other, in each state of the workflow, and one that waits
    for nobody any more."""
    editor, partner_editor = cast.access("vendor_editor"), cast.access("partner_editor")
    vendor, partner = cast.access("vendor_approver"), cast.access("partner_approver")
    objective = f.make_objective(editor)
    ours = f.make_goal(editor, objective, title="Proposed by the vendor")
    goals.goal_propose(access=editor, goal_id=ours.pk)
    theirs = f.make_goal(partner_editor, objective, title="Proposed by the partner")
    goals.goal_propose(access=partner_editor, goal_id=theirs.pk)
    sent_back = f.make_goal(editor, objective, title="Sent back to the vendor")
    goals.goal_propose(access=editor, goal_id=sent_back.pk)
    goals.goal_request_changes(access=partner_editor, goal_id=sent_back.pk, comment="Lower, please")
    half = f.make_goal(editor, objective, title="Approved by the partner only")
    goals.goal_propose(access=editor, goal_id=half.pk)
    goals.goal_approve(access=partner, goal_id=half.pk, revision=1)
    amended = f.agree(f.make_goal(editor, objective, title="Amended"), vendor, partner)
    goals.goal_update(access=partner_editor, goal_id=amended.pk, target="999")
    goals.goal_propose(access=partner_editor, goal_id=amended.pk)
    f.agree(f.make_goal(editor, objective, title="Agreed, nothing pending"), vendor, partner)
    return theirs


def test_counts_follow_the_rule_the_page_lists_goals_by(cast):
    pending_goals_in_every_state(cast)
    p = cast.partnership
    [fact] = attention.compute([p.pk], timezone.now(), timezone.localdate()).values()
    for side in ("vendor", "partner"):
        listed = _waiting_goals([p.pk], {p.pk: side})[p.pk]
        assert fact.waiting[side] == len(listed), side
    # A proposal waits for every side that has not approved it, the proposing side included (a
    # goal is agreed only when both approved); a revision sent back waits for the side that proposed it.
    # vendor: both proposals, the vendor's proposal the partner approved, the amendment, the one sent
    # back; partner: both proposals and the amendment (it approved the "partner only" one already)
    assert fact.waiting == {"vendor": 5, "partner": 3}


def test_cached_facts_are_recomputed_after_a_change_and_only_then(cast, client):
    theirs = pending_goals_in_every_state(cast)
    p = cast.partnership
    assert attention.attention_for([p.pk])[p.pk].waiting["vendor"] == 5
    with CaptureQueriesContext(connection) as unchanged:
        assert attention.attention_for([p.pk])[p.pk].waiting["vendor"] == 5
    assert len(unchanged) == 0, "nothing changed: read from the cache"
    goals.goal_approve(access=cast.access("vendor_approver"), goal_id=theirs.pk, revision=1)  # no longer ours
    assert attention.attention_for([p.pk])[p.pk].waiting["vendor"] == 4
    client.force_login(cast.vendor_editor)
    row = client.get("/").context["rows"][0]
    assert row["waiting_count"] == len(row["waiting"]) == 4


def test_overdue_commitments_are_counted_for_the_day_asked(cast):
    editor = cast.access("vendor_editor")
    goal = f.agree(
        f.make_goal(editor, f.make_objective(editor)), cast.access("vendor_approver"), cast.access("partner_approver")
    )
    today = timezone.localdate()
    for c in goal.commitments.all():
        goal_commitments.commitment_update(access=editor, commitment_id=c.pk, due_date=today)
    p, now = cast.partnership, timezone.now()
    assert attention.attention_for([p.pk], now, today)[p.pk].overdue == {"vendor": 0, "partner": 0}
    tomorrow = attention.attention_for([p.pk], now, today + dt.timedelta(days=1))[p.pk]
    assert tomorrow.overdue == {"vendor": 1, "partner": 1}, "same plan, a new day: counted again"


def test_beat_computes_the_next_hour_before_it_starts(cast):
    f.make_partnership(cast.vendor_admin, name="Second")
    ended = f.make_partnership(cast.vendor_admin, name="Ended", status="ended")
    before = dt.datetime(2026, 11, 27, 9, 52, tzinfo=dt.UTC)
    ids = list(f.Partnership.objects.exclude(status="ended").values_list("pk", flat=True))
    assert attention.warm(now=before) == len(ids) == 3  # the cast's two and "Second"
    next_hour = dt.datetime(2026, 11, 27, 10, 1, tzinfo=dt.UTC)
    with CaptureQueriesContext(connection) as ctx:
        facts = attention.attention_for(ids, next_hour, timezone.localdate(next_hour))
    assert set(facts) == set(ids) and len(ctx) == 0
    with CaptureQueriesContext(connection) as ctx:
        attention.attention_for([ended.pk], next_hour, timezone.localdate(next_hour))
    assert len(ctx) > 0, "ended partnerships are not warmed"


def test_every_beat_entry_names_a_task_a_worker_has(settings):
    """The hourly warm-up among them: a misspelt task name in the schedule would never run."""
    from partnerplan.celery import app

    app.loader.import_default_modules()
    assert settings.CELERY_BEAT_SCHEDULE["health-warm"]["task"] == "alignment.warm_health_cache"
    assert settings.CELERY_BEAT_SCHEDULE["health-warm"]["schedule"].minute == {52}
    missing = {
        name: entry["task"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items() if entry["task"] not in app.tasks
    }
    assert missing == {}


def test_the_warm_up_task_warms_through_the_worker(cast):
    from cadence.tasks import warm_health

    assert warm_health.apply().get() == 2  # the cast's two partnerships (eager in tests)
