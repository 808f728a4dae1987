"""Statements compiled once per connection (``core.statements``): the bearer token with its holder's
standing, and the API's read of one object by key. They return what the ORM returns, are built
once, answer for the values of each run (a token revoked or expired since is not found), and run
through the ORM where a value cannot be put in place."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken, Organisation, hash_token
from alignment import services as plan
from api import resources, scope
from cadence import services as review_services
from core.statements import Compiled
from tests import factories as f
from tests.api_support import ApiClient
from tests.test_api_sync_contract import bearer


def same_instance(ours, theirs) -> None:  # type: ignore[no-untyped-def]
    """Equal columns, annotations and related objects read with them (``select_related``)."""
    assert type(ours) is type(theirs)
    state = {"_state", "_prefetched_objects_cache"}
    assert {k: v for k, v in vars(ours).items() if k not in state} == {
        k: v for k, v in vars(theirs).items() if k not in state
    }
    assert ours._state.fields_cache.keys() == theirs._state.fields_cache.keys()
    for name, related in ours._state.fields_cache.items():
        same_instance(related, theirs._state.fields_cache[name])
    assert not ours._state.adding and ours._state.db == theirs._state.db


@pytest.mark.parametrize("with_standing", [True, False])
def test_the_token_read_gives_what_the_orm_gives(cast, with_standing):
    _token, raw = ApiToken.issue(user=cast.vendor_editor, name="sync")
    ours = scope.find_token(raw, with_standing=with_standing)
    [theirs] = scope._tokens(hash_token(raw), timezone.now(), with_standing)
    same_instance(ours, theirs)
    assert ours.user.email == cast.vendor_editor.email
    if with_standing:
        assert cast.partnership.pk.hex in ours.standing_members.replace("-", "")
    assert scope.find_token(raw + "x", with_standing=with_standing) is None


def test_the_token_read_is_built_once_per_connection_and_runs_as_one_statement(cast, monkeypatch):
    _token, raw = ApiToken.issue(user=cast.partner_viewer, name="sync")
    assert scope.find_token(raw, with_standing=True) is not None  # compiled here, if not before
    built = []
    real = scope._tokens
    monkeypatch.setattr(scope, "_tokens", lambda *args: built.append(args) or real(*args))
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert scope.find_token(raw, with_standing=True).user == cast.partner_viewer
    assert len(queries) == 3
    if connection.vendor == "postgresql":
        assert built == []
        assert scope._TOKEN[True].plan() is not None
    else:
        # SQLite gets a time as text: the stand-in for ``now`` cannot be found, so each read is built.
        assert len(built) == 3 and scope._TOKEN[True].plan() is None


def test_each_run_answers_for_its_own_values_revoked_and_expired_tokens_are_none(cast):
    token, raw = ApiToken.issue(
        user=cast.vendor_editor, name="short", expires_at=timezone.now() + dt.timedelta(hours=1)
    )
    other, other_raw = ApiToken.issue(user=cast.partner_approver, name="other")
    assert scope.find_token(raw, with_standing=True) == token
    assert scope.find_token(other_raw, with_standing=True) == other
    assert scope.find_token(raw, with_standing=False).user == cast.vendor_editor
    later = timezone.now() + dt.timedelta(hours=2)
    assert scope._TOKEN[True](token_hash=hash_token(raw), now=later) == []
    assert scope._TOKEN[True](token_hash=hash_token(other_raw), now=later) == [other]
    other.revoked_at = timezone.now()
    other.save(update_fields=["revoked_at"])
    assert scope.find_token(other_raw, with_standing=True) is None
    client = ApiClient()
    client.headers = bearer(other_raw)
    assert client.get("me").status_code == 401


def test_reading_one_object_by_key_gives_what_the_orm_gives_with_related_and_prefetched(cast):
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    goal = f.make_goal(editor, objective)
    review = plan.review_schedule(access=editor, scheduled_for=timezone.now() - dt.timedelta(days=1), title="Q1")
    review_services.review_hold(
        access=editor,
        review_id=review.pk,
        held_on=timezone.localdate() - dt.timedelta(days=1),
        attendees=[cast.vendor_editor, cast.partner_approver],
        schedule_next=False,
    )
    for resource, pk in [
        (resources.GOALS, goal.pk),
        (resources.REVIEWS, review.pk),
        (resources.PARTNERSHIPS, cast.partnership.pk),
    ]:
        for reading in (True, False):
            [ours] = resources._by_key(resource, reading)(pk=pk)
            [theirs] = resource.queryset(reading=reading).filter(pk=pk).order_by()[:1]
            same_instance(ours, theirs)
            if resource.prefetch:
                assert list(ours.attendees.all()) == list(theirs.attendees.all())
                assert len(ours.attendees.all()) == 2
                assert "attendees" in ours._prefetched_objects_cache
        assert resources._by_key(resource, True)(pk=objective.pk) == []  # another type's key


def test_a_value_that_does_not_reach_the_parameters_unchanged_is_read_through_the_orm(cast):
    """A build that turns its value into another is never compiled: each run builds it."""
    runs = []

    def build(name):  # type: ignore[no-untyped-def]
        runs.append(name)
        return Organisation.objects.filter(name=name.strip())

    by_name = Compiled("test_organisation_by_stripped_name", Organisation, build, name=str)
    assert by_name.plan() is None
    org = cast.partnership.vendor
    assert by_name(name=f"  {org.name} ") == [org]
    assert by_name(name="nobody") == []
    assert runs[-2:] == [f"  {org.name} ", "nobody"]
    with pytest.raises(TypeError):
        by_name(title="x")
