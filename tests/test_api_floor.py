"""The API floor: the cheapest authenticated read (one goal with a bearer token) pays one query for
who is calling and what they may see, one for the goal, and one Redis round trip for the rate
limit. Nothing about the caller is kept between requests, so a revoked token, a removed
membership or a removed organisation admin is refused on the very next request, also by another
process that answered the caller a moment before."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import redis.connection
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken, OrganisationMembership
from alignment import access as resolver
from alignment import services as plan
from alignment.models import PartnershipMember, Role, Side
from api import scope
from core.errors import NotFound
from tests import factories as f
from tests.api_support import ApiClient, World
from tests.conftest import redis_url

ROOT = Path(__file__).resolve().parent.parent


def captured(client: ApiClient, path: str, **params: object) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, **params)
    return response, [q["sql"] for q in ctx.captured_queries]


# --- Database round trips ------------------------------------------------------------------------


def test_reading_a_goal_costs_one_query_for_the_caller_and_one_for_the_goal(cast):
    world = World(cast)
    client = ApiClient(cast.vendor_editor)
    client.get("me")  # the token's first use is recorded once
    response, sqls = captured(client, f"goals/{world.agreed.pk}")
    assert response.status_code == 200 and response.json()["id"] == str(world.agreed.pk)
    assert len(sqls) == 2, sqls
    caller, goal = sqls
    assert "accounts_apitoken" in caller and "alignment_partnershipmember" in caller
    assert "accounts_organisationmembership" in caller
    assert "goals_goal" in goal and "alignment_partnershipmember" not in goal
    # The goal's partnership is all the access check needs: a read joins no organisation (each
    # join of more tables costs PostgreSQL more time to plan than the goal costs to find).
    assert "alignment_partnership" in goal and "accounts_organisation" not in goal


def test_a_list_joins_no_organisation_unless_it_shows_partnerships(cast):
    World(cast)
    client = ApiClient(cast.vendor_editor)
    client.get("me")
    response, sqls = captured(client, "goals")
    assert response.status_code == 200 and response.json()["results"]
    assert not [sql for sql in sqls if "accounts_organisation" in sql and "goals_goal" in sql], sqls
    response, sqls = captured(client, "partnerships")
    assert response.json()["results"][0]["vendor"]["name"] == cast.partnership.vendor.name
    assert [sql for sql in sqls if "accounts_organisation" in sql and 'FROM "alignment_partnership"' in sql]


@pytest.mark.postgres
def test_postgresql_compiles_no_query_just_in_time(db):
    # JIT compiled the dashboard's portfolio queries for longer than they ran (settings: POSTGRES_JIT).
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


@pytest.mark.parametrize("who", ["vendor_admin", "partner_viewer", "outsider"])
def test_every_caller_pays_the_same_two_queries(cast, who):
    world = World(cast)
    client = ApiClient(getattr(cast, who))
    client.get("me")
    response, sqls = captured(client, f"goals/{world.agreed.pk}")
    assert response.status_code == (404 if who == "outsider" else 200)
    assert len(sqls) == 2, sqls


def test_the_last_use_is_written_at_most_once_a_minute(cast, time_machine):
    world = World(cast)
    time_machine.move_to(timezone.now(), tick=False)
    client = ApiClient(cast.vendor_editor)
    first, first_sqls = captured(client, f"goals/{world.agreed.pk}")
    again, again_sqls = captured(client, f"goals/{world.agreed.pk}")
    assert first.status_code == again.status_code == 200
    assert [s for s in first_sqls if s.startswith("UPDATE")] and len(first_sqls) == 3
    assert not [s for s in again_sqls if s.startswith("UPDATE")] and len(again_sqls) == 2
    time_machine.shift(61)
    later, later_sqls = captured(client, f"goals/{world.agreed.pk}")
    assert later.status_code == 200 and len([s for s in later_sqls if s.startswith("UPDATE")]) == 1


def test_an_incremental_sync_with_nothing_new_costs_no_more_than_a_goal_read(cast):
    """The caller and their standing; then, on PostgreSQL, the feed's bounds, watermark and the
    cursor's check with the index probe in one statement (three statements elsewhere)."""
    World(cast)
    client = ApiClient(cast.partner_viewer)
    cursor = client.get("changes", limit=200).json()["cursor"]
    response, sqls = captured(client, "changes", since=cursor)
    assert response.status_code == 200 and response.json()["results"] == []
    assert response.json()["cursor"] == cursor
    assert len(sqls) == (2 if connection.vendor == "postgresql" else 4), sqls
    assert "alignment_partnershipmember" in sqls[0] and "accounts_apitoken" in sqls[0]


# --- The standing read with the token answers exactly as the database does --------------------


def _attached(raw: str):  # type: ignore[no-untyped-def]
    """The token's holder as the API sees them on a read: with the standing read with the token."""
    token = scope.find_token(raw, with_standing=True)
    assert token is not None
    scope.attach(token.user, token)
    return token.user


@pytest.mark.parametrize(
    "who",
    [
        "vendor_admin",
        "vendor_editor",
        "vendor_approver",
        "vendor_viewer",
        "partner_approver",
        "partner_editor",
        "partner_viewer",
        "outsider",
    ],
)
def test_access_from_the_standing_is_the_access_the_database_gives(cast, who):
    person = getattr(cast, who)
    _token, raw = ApiToken.issue(user=person, name="standing")
    caller = _attached(raw)
    for partnership in (cast.partnership, cast.outsider_partnership):
        with CaptureQueriesContext(connection) as ctx:
            from_standing = resolver.access_for(caller, partnership)
            many = resolver.resolve_many(caller, [partnership])
        assert len(ctx) == 0
        live = resolver._live_access(person, partnership)
        assert from_standing == live, (who, partnership)
        assert many.get(partnership.pk) == live
    visible = set(resolver.visible_partnerships(caller).values_list("pk", flat=True))
    assert visible == set(resolver.visible_partnerships(person).values_list("pk", flat=True))


def test_a_partner_admin_who_is_no_member_reads_from_the_standing_too(cast):
    partner_admin = f.make_user("admin@partner.test")
    OrganisationMembership.objects.create(
        organisation_id=cast.partnership.partner_id, user=partner_admin, role=OrganisationMembership.Role.ADMIN
    )
    _token, raw = ApiToken.issue(user=partner_admin, name="standing")
    access = resolver.access_for(_attached(raw), cast.partnership)
    assert access is not None and (access.side, access.role, access.is_org_admin) == (Side.PARTNER, Role.APPROVER, True)


def test_a_read_only_token_narrows_the_access_read_with_it(cast):
    _token, raw = ApiToken.issue(user=cast.vendor_admin, name="report", read_only=True)
    access = scope.access_for(_attached(raw), cast.partnership)
    assert access is not None and access.role == Role.VIEWER and not access.is_org_admin


def test_a_person_in_very_many_partnerships_is_answered_with_the_live_queries(cast, monkeypatch):
    """Past ``STANDING_MEMBERSHIPS`` the standing is not read into memory: the resolver asks the
    database (two queries more), with the same answers."""
    monkeypatch.setattr(resolver, "STANDING_MEMBERSHIPS", 1)
    world = World(cast)
    f.add_member(cast.outsider_partnership, cast.vendor_editor, Side.PARTNER, Role.VIEWER)
    client = ApiClient(cast.vendor_editor)
    client.get("me")
    response, sqls = captured(client, f"goals/{world.agreed.pk}")
    assert response.status_code == 200 and len(sqls) == 4, sqls
    outsider = ApiClient(cast.outsider)
    outsider.get("me")
    assert captured(outsider, f"goals/{world.agreed.pk}")[0].status_code == 404
    _token, raw = ApiToken.issue(user=cast.vendor_editor, name="standing")
    caller = _attached(raw)
    assert resolver._standing(caller) is None
    assert resolver.access_for(caller, cast.outsider_partnership) == resolver._live_access(
        cast.vendor_editor, cast.outsider_partnership
    )


def test_a_read_for_a_write_reads_the_standing_again_after_its_lock(cast):
    """Within one request a read answers from the standing read with the token; a write's
    ``resolve(for_update=True)`` never does: a membership removed meanwhile counts."""
    _token, raw = ApiToken.issue(user=cast.vendor_editor, name="standing")
    caller = _attached(raw)
    PartnershipMember.objects.filter(user=cast.vendor_editor).delete()
    assert resolver.resolve(caller, cast.partnership.pk).role == Role.EDITOR  # this request's standing
    with pytest.raises(NotFound):
        resolver.resolve(caller, cast.partnership.pk, for_update=True)


def test_writes_do_not_read_a_standing_with_the_token(cast):
    world = World(cast)
    client = ApiClient(cast.vendor_editor)
    tag = client.get(f"goals/{world.draft.pk}")["ETag"]
    with CaptureQueriesContext(connection) as ctx:
        response = client.patch(f"goals/{world.draft.pk}", {"title": "Renamed"}, headers={"If-Match": tag})
    assert response.status_code == 200, response.content[:300]
    token_query = next(q["sql"] for q in ctx.captured_queries if "accounts_apitoken" in q["sql"])
    assert "alignment_partnershipmember" not in token_query


# --- Redis round trips ---------------------------------------------------------------------------


@pytest.fixture
def redis_cache(settings):  # type: ignore[no-untyped-def]
    """The rate limits on Redis (as in production), whatever cache the tests run with."""
    if "redis" not in django_settings.CACHES["default"]["BACKEND"]:
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url()}
        }
    cache.clear()
    return cache


@pytest.fixture
def redis_trips(monkeypatch):  # type: ignore[no-untyped-def]
    """Every command (or pipeline) sent to Redis from this process."""
    sent: list[bytes] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(command if isinstance(command, bytes) else b"".join(command))
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return sent


@pytest.mark.redis
def test_the_rate_limit_costs_one_redis_round_trip(cast, redis_cache, redis_trips):
    world = World(cast)
    client = ApiClient(cast.vendor_editor)
    assert client.get(f"goals/{world.agreed.pk}").status_code == 200  # loads the script once
    redis_trips.clear()
    first = client.get(f"goals/{world.agreed.pk}")
    assert first.status_code == 200 and len(redis_trips) == 1, redis_trips
    assert b"EVALSHA" in redis_trips[0]
    redis_trips.clear()
    second = client.get(f"goals/{world.agreed.pk}")
    assert len(redis_trips) == 1
    assert int(second["X-RateLimit-Remaining"]) == int(first["X-RateLimit-Remaining"]) - 1


@pytest.mark.redis
def test_the_rate_limit_on_redis_refuses_past_the_limit_and_forgets_the_window(cast, redis_cache, settings):
    settings.API_THROTTLE_RATES = {"user": "3/minute"}
    client = ApiClient(cast.vendor_editor)
    answers = [client.get("me") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1]["X-RateLimit-Remaining"] == "0" and 1 <= int(answers[-1]["Retry-After"]) <= 60
    counters = list(redis_cache._cache.get_client().scan_iter("*rl:api-user:*"))
    assert len(counters) == 1
    assert 0 < redis_cache._cache.get_client().ttl(counters[0]) <= 65, "the count expires with its window"
    other = ApiClient(cast.partner_viewer)
    assert other.get("me").status_code == 200, "each person has a count of their own"


# --- Revocation, seen by another process ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def other_process(transactional_db):  # type: ignore[no-untyped-def]
    """The app under gunicorn (two workers) in processes of their own, on the test database."""
    db = connection.settings_dict
    database_url = (
        f"postgres://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "partnerplan.settings.test",
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "CONN_MAX_AGE": "60",  # the workers keep their connections, as in production
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "partnerplan.wsgi",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start: {server.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.2)
        with httpx.Client(base_url=f"{base}/api/v1/", timeout=10) as http:
            yield http
    finally:
        server.terminate()
        server.wait(timeout=30)
        connection.close()


def _warm(http: httpx.Client, path: str, raw: str) -> None:
    """Enough requests that both workers have answered this caller (and kept what they keep)."""
    for _ in range(6):
        assert http.get(path, headers={"Authorization": f"Bearer {raw}"}).status_code == 200


def _status(http: httpx.Client, path: str, raw: str) -> int:
    return http.get(path, headers={"Authorization": f"Bearer {raw}"}).status_code


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_revocations_count_on_the_very_next_request_in_another_process(cast, other_process):
    http = other_process
    world = World(cast)
    goal = f"goals/{world.agreed.pk}"

    # A revoked token: 401 at once.
    token, raw = ApiToken.issue(user=cast.vendor_editor, name="crm")
    _warm(http, goal, raw)
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert [_status(http, goal, raw) for _ in range(4)] == [401] * 4

    # A removed partnership membership: the partnership's goals are 404 at once.
    _token, viewer_raw = ApiToken.issue(user=cast.vendor_viewer, name="crm")
    _warm(http, goal, viewer_raw)
    member = PartnershipMember.objects.get(partnership=cast.partnership, user=cast.vendor_viewer)
    plan.member_remove(access=f.access(cast.vendor_admin, cast.partnership), member_id=member.pk)
    assert [_status(http, goal, viewer_raw) for _ in range(4)] == [404] * 4
    assert _status(http, "me", viewer_raw) == 200, "the person still signs in: only the partnership is gone"

    # A removed organisation admin (who sees the partnership as its admin, not as a member): 404 at once.
    admin = f.make_user("second-admin@vendor.test")
    admin_role = OrganisationMembership.objects.create(
        organisation_id=cast.partnership.vendor_id, user=admin, role=OrganisationMembership.Role.ADMIN
    )
    _token, admin_raw = ApiToken.issue(user=admin, name="crm")
    _warm(http, goal, admin_raw)
    OrganisationMembership.objects.filter(pk=admin_role.pk).update(role=OrganisationMembership.Role.MEMBER)
    assert [_status(http, goal, admin_raw) for _ in range(4)] == [404] * 4
