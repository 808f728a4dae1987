"""The API side of actuals import: ``POST /api/v1/partnerships/{id}/check-ins/bulk`` answers per row
(created, duplicate, error) by the import's rules, replays for an Idempotency-Key, refuses a
malformed body with a 400 problem, and runs the same number of queries for 10 rows as for 1,000.
Goals carry an ``external_key`` (set through the API with If-Match) and check-ins their ``source``."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alignment.models import ChangeEvent
from goals.models import CheckIn, Goal
from tests import factories as f
from tests.api_support import ApiClient, if_match

TODAY = dt.date.today()


def day(n):
    return (TODAY - dt.timedelta(days=n)).isoformat()


@pytest.fixture
def plan(cast):
    vendor, partner = cast.access("vendor_approver"), cast.access("partner_approver")
    objective = f.make_objective(vendor)
    outsider = f.access(cast.outsider, cast.outsider_partnership)

    class Plan:
        goal = f.agree(f.make_goal(vendor, objective), vendor, partner)
        keyed = f.agree(f.make_goal(vendor, objective, external_key="CRM-7"), vendor, partner)
        draft = f.make_goal(vendor, objective)
        foreign = f.make_goal(outsider, f.make_objective(outsider))
        url = f"partnerships/{cast.partnership.pk}/check-ins/bulk"

    return Plan


def problem(response, status=400):
    assert response.status_code == status, response.content[:400]
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


def test_each_row_is_created_a_duplicate_or_an_error(plan, cast):
    api = ApiClient(cast.vendor_editor)
    rows = [
        {"goal": str(plan.goal.pk), "measured_on": day(2), "value": "120.5", "confidence": 4, "note": "CRM"},
        {"external_key": "CRM-7", "measured_on": day(2), "value": 88},
        {"goal": "CRM-7", "measured_on": day(2), "value": 88},  # the same row again: a duplicate
        {"goal": str(plan.foreign.pk), "measured_on": day(1), "value": 1},
        {"goal": str(plan.draft.pk), "measured_on": day(1), "value": 1},
        {"goal": str(plan.goal.pk), "measured_on": "31.12.2025", "value": "1,5", "confidence": 8},
    ]
    response = api.post(plan.url, {"rows": rows})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["summary"] == {"created": 2, "duplicate": 1, "error": 3}
    results = body["results"]
    assert [r["status"] for r in results] == ["created", "created", "duplicate", "error", "error", "error"]
    assert [r["index"] for r in results] == list(range(6))
    made = results[0]["check_in"]
    assert (made["goal"], made["value"], made["confidence"], made["source"], made["side"]) == (
        str(plan.goal.pk),
        "120.5000",
        4,
        "import",
        "vendor",
    )
    assert results[1]["check_in"]["goal"] == str(plan.keyed.pk) and results[1]["check_in"]["confidence"] == 3
    assert results[2]["check_in"] is None and results[2]["errors"] == []
    assert results[3]["errors"][0]["field"] == "goal" and results[3]["errors"][0]["message"].startswith("Unknown goal")
    assert "not open for check-ins" in results[4]["errors"][0]["message"]
    assert {e["field"] for e in results[5]["errors"]} == {"measured_on", "value", "confidence"}
    assert CheckIn.objects.count() == 2
    assert ChangeEvent.objects.filter(object_type="checkin", action="create").count() == 2
    # The same rows again: everything that was created is a duplicate now.
    again = api.post(plan.url, {"rows": rows[:3]}).json()
    assert again["summary"] == {"created": 0, "duplicate": 3, "error": 0}


def test_an_idempotency_key_replays_the_first_answer_and_writes_nothing(plan, cast):
    api = ApiClient(cast.vendor_editor)
    body = {"rows": [{"goal": str(plan.goal.pk), "measured_on": day(1), "value": 5}]}
    first = api.post(plan.url, body, headers={"Idempotency-Key": "bulk-1"})
    events = ChangeEvent.objects.count()
    replay = api.post(plan.url, body, headers={"Idempotency-Key": "bulk-1"})
    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json() and replay.json()["summary"]["created"] == 1
    assert replay["Idempotent-Replayed"] == "true"
    assert CheckIn.objects.count() == 1 and ChangeEvent.objects.count() == events
    other = {"rows": [{"goal": str(plan.goal.pk), "measured_on": day(1), "value": 6}]}
    assert api.post(plan.url, other, headers={"Idempotency-Key": "bulk-1"}).status_code == 422


class TestMalformedBodies:
    @pytest.mark.parametrize(
        ("raw", "field"),
        [
            ("{not json", None),
            (json.dumps([{"goal": "x"}]), None),
            (json.dumps({}), "rows"),
            (json.dumps({"rows": "all of them"}), "rows"),
            (json.dumps({"rows": []}), "rows"),
            (json.dumps({"rows": [42]}), "rows"),
            (json.dumps({"rows": [{"measured_on": "2025-01-01", "value": 1, "colour": "red"}]}), "rows"),
            (json.dumps({"rows": [{"goal": "x"}]}), "rows"),
            (json.dumps({"rows": [{"goal": "x", "measured_on": "2025-01-01", "value": 1}] * 1001}), "rows"),
            (json.dumps({"rows": [], "extra": True}), "extra"),
        ],
    )
    def test_a_malformed_body_is_a_400_problem_and_writes_nothing(self, plan, cast, raw, field):
        body = problem(ApiClient(cast.vendor_editor).post(plan.url, raw=raw))
        if field is not None:
            assert any(key.split(".")[0] == field for key in body["errors"]), body
        assert CheckIn.objects.count() == 0

    def test_junk_values_are_row_errors_never_a_500(self, plan, cast):
        rows = [
            {"goal": "\x00", "measured_on": day(1), "value": 1},
            {"goal": str(plan.goal.pk), "measured_on": ["2025"], "value": {"a": 1}, "note": ["x"]},
            {"goal": str(plan.goal.pk), "measured_on": day(1), "value": 1e300, "confidence": True},
            {"goal": str(plan.goal.pk), "measured_on": "0000-01-01", "value": "1" * 40},
            {"goal": str(plan.goal.pk), "measured_on": day(1), "value": "1.00001", "note": "a\x1bb"},
            {"goal": "\ud800", "external_key": "k" * 500, "measured_on": day(1), "value": 1},
        ]
        response = ApiClient(cast.vendor_editor).post(plan.url, {"rows": rows})
        assert response.status_code == 200, response.content
        assert response.json()["summary"] == {"created": 0, "duplicate": 0, "error": 6}
        assert CheckIn.objects.count() == 0


def test_a_viewer_is_refused_and_an_outsider_gets_404(plan, cast):
    body = {"rows": [{"goal": str(plan.goal.pk), "measured_on": day(1), "value": 5}]}
    problem(ApiClient(cast.vendor_viewer).post(plan.url, body), 403)
    problem(ApiClient(cast.outsider).post(plan.url, body), 404)
    assert CheckIn.objects.count() == 0


@pytest.mark.postgres  # SQLite caps the parameters of one statement: its bulk inserts are split
def test_bulk_queries_do_not_grow_with_the_rows(plan, cast):
    api = ApiClient(cast.vendor_editor)

    def count(n, offset):
        rows = [
            {"goal": str(plan.goal.pk) if i % 2 else "CRM-7", "measured_on": day(i % 200), "value": offset + i}
            for i in range(n)
        ]
        with CaptureQueriesContext(connection) as ctx:
            response = api.post(plan.url, {"rows": rows}, headers={"Idempotency-Key": f"k-{offset}"})
        assert response.json()["summary"]["created"] == n
        return len(ctx.captured_queries)

    count(1, -10)  # the token's first use records its last-used time (then not again for a while)
    assert count(10, 0) == count(1000, 100_000)


def test_goals_carry_an_external_key_set_with_if_match_and_check_ins_their_source(plan, cast):
    api = ApiClient(cast.vendor_editor)
    url = f"goals/{plan.goal.pk}"
    goal = api.get(url).json()
    assert goal["external_key"] == ""
    assert api.patch(url, {"external_key": "SF-1"}).status_code == 428
    assert api.patch(url, {"external_key": "SF-1"}, headers=if_match(goal["version"] - 1)).status_code == 412
    changed = api.patch(url, {"external_key": "SF-1"}, headers=if_match(goal["version"]))
    assert changed.status_code == 200 and changed.json()["external_key"] == "SF-1"
    assert changed.json()["version"] == goal["version"] + 1 and changed.json()["status"] == "agreed"
    assert changed.json()["revision"] == goal["revision"]
    taken = api.patch(url, {"external_key": "CRM-7"}, headers=if_match(changed.json()["version"]))
    assert "external_key" in problem(taken)["errors"]
    assert Goal.objects.get(pk=plan.goal.pk).external_key == "SF-1"

    made = api.post("check-ins", {"goal": str(plan.goal.pk), "value": "3", "measured_on": day(1)})
    assert made.status_code == 201 and made.json()["source"] == "api"
    plan_doc = api.get(f"partnerships/{cast.partnership.pk}/plan").json()
    assert {g["external_key"] for g in plan_doc["goals"]} >= {"SF-1", "CRM-7"}
    assert [c["source"] for c in plan_doc["check_ins"]] == ["api"]


def test_the_schema_describes_the_bulk_endpoint(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/partnerships/{id}/check-ins/bulk/"]["post"]
    assert operation["operationId"] == "partnerships_check_ins_bulk"
    assert {"200", "400", "403", "404"} <= set(operation["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
