"""Reads of rows kept compiled per connection (``core.kept_reads.KeptRows``): they give the rows the
queryset gives, for each run's values, and are built once per connection and form on PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from api import plan_updates
from cadence import health
from core.kept_reads import KeptRows
from core.statements import among
from goals.models import Goal
from tests import factories as f


def goals_of(_form: None, *, partnership: Any, goals: list[Any]) -> Any:
    return Goal.objects.filter(among("pk", goals), partnership_id=partnership).order_by("created_at")


@pytest.mark.django_db
def test_kept_rows_give_what_the_queryset_gives_for_each_run(cast, monkeypatch):
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    made = [f.make_goal(editor, objective, title=f"Goal {i}") for i in range(3)]
    built: list[Any] = []

    def as_dicts(form: None, **values: Any) -> Any:
        built.append(values)
        return goals_of(form, **values).values("id", "title", "status")

    dicts = KeptRows("test_goal_dicts", as_dicts)
    tuples = KeptRows("test_goal_tuples", lambda form, **values: goals_of(form, **values).values_list("id", "title"))
    pid = cast.partnership.pk
    for ids in ([made[0].pk], [made[1].pk, made[2].pk], [], [g.pk for g in made]):
        assert dicts(None, partnership=pid, goals=ids) == list(
            goals_of(None, partnership=pid, goals=ids).values("id", "title", "status")
        )
        assert tuples(None, partnership=pid, goals=ids) == list(
            goals_of(None, partnership=pid, goals=ids).values_list("id", "title")
        )
    if connection.vendor == "postgresql":
        # Built with stand-ins twice (the second build checks where the values go), then never again.
        assert len(built) == 2
        assert dicts.template(None, partnership=pid, goals=[made[0].pk]) is not None


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="kept compiled on PostgreSQL only")
def test_kept_rows_read_only_values_querysets(cast):
    rows = KeptRows("test_goal_instances", goals_of)
    with pytest.raises(TypeError):
        rows(None, partnership=cast.partnership.pk, goals=[])


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="kept compiled on PostgreSQL only")
def test_the_reads_of_an_update_put_their_values_in_place(cast):
    """What ``/plan``'s update reads (its change events; of the changed goals, their health's row,
    commitments and flows) is kept compiled: the values go into the statement, which is not built
    through the ORM at each run."""
    pid, some = cast.partnership.pk, [uuid.uuid4()]
    today = timezone.localdate()
    assert health.GOAL_ROWS.template(None, partnership=pid, goals=some) is not None
    assert health.COMMITMENT_ROWS.template(today, current=some, goals=some) is not None
    assert health.FLOW_ROWS.template(today, partnership=pid, goals=some) is not None
    assert plan_updates.EVENTS.template(plan_updates.MAX_EVENTS + 1, partnership=pid, txid=1, seq=2) is not None


@pytest.mark.django_db(transaction=True)
def test_each_thread_keeps_its_own_statements_and_reads_through_its_own_connection(cast):
    """A threaded server (the live server of the tests, a threaded WSGI server) serves requests in
    threads of their own, each with its own connection: what one thread kept compiled is not
    another's, and a read runs on the calling thread's connection."""
    import threading

    from django.db import connections

    editor = cast.access("vendor_editor")
    made = f.make_goal(editor, f.make_objective(editor), title="Threaded")
    rows = KeptRows("test_goal_threads", lambda form, **values: goals_of(form, **values).values_list("id", "title"))
    pid = cast.partnership.pk
    assert rows(None, partnership=pid, goals=[made.pk]) == [(made.pk, "Threaded")]
    seen: list[Any] = []

    def in_a_thread() -> None:
        try:
            seen.append(rows(None, partnership=pid, goals=[made.pk]))
            seen.append(rows.template.attribute in connections["default"].__dict__)
        except Exception as exc:  # reported below, in the test's thread
            seen.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == [[(made.pk, "Threaded")], connection.vendor == "postgresql"]
    assert (rows.template.attribute in connections["default"].__dict__) == (connection.vendor == "postgresql")
    assert rows.template.attribute not in vars(connection)  # not on the proxy every thread shares
