"""Live updates on PostgreSQL with concurrent writers: a change shows up as soon as it commits even
while an older transaction is still open, and the cursor never passes that older transaction, so
its change is delivered when it commits late."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from alignment.models import ChangeEvent
from goals import services as goals
from tests import factories as f

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_late_commit_behind_a_newer_change_is_still_delivered(client, cast):
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    early, later = f.make_goal(editor, objective, title="Early"), f.make_goal(editor, objective, title="Later")
    client.force_login(cast.vendor_viewer)
    live = f"/p/{cast.partnership.pk}/live/"
    cursor = client.post(live, {"after": "0.0"}).json()["cursor"]

    written, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                goals.goal_update(access=cast.access("partner_editor"), goal_id=early.pk, target="260")
                written.set()
                release.wait(20)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert written.wait(20)
    goals.goal_update(access=editor, goal_id=later.pk, target="270")  # commits first, with a newer txid

    first = client.post(live, {"after": cursor}).json()
    later_update = ChangeEvent.objects.get(object_id=later.pk, action="update")
    assert later_update.seq in {e["seq"] for e in first["events"]}  # committed: shown at once

    release.set()
    assert done.wait(20)
    thread.join()
    early_update = ChangeEvent.objects.get(object_id=early.pk, action="update")
    assert early_update.seq < later_update.seq  # it was written first and committed last
    assert early_update.seq not in {e["seq"] for e in first["events"]}
    second = client.post(live, {"after": first["cursor"]}).json()
    delivered = {e["seq"]: e["fragments"] for e in second["events"]}
    assert f"goal-{early.pk}" in delivered[early_update.seq]
    # Whatever comes again later is a re-delivery of what was already seen, never something new.
    third = client.post(live, {"after": second["cursor"]}).json()
    assert {e["seq"] for e in third["events"]} <= {e["seq"] for e in second["events"]}
