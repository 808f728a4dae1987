"""Bad input gets a clear 4xx in the problem-details shape, never a 500, and writes nothing."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from alignment.models import ChangeEvent
from goals.models import Goal
from tests.api_support import ApiClient, World, if_match


@pytest.fixture
def world(cast):
    return World(cast)


@pytest.fixture
def editor(cast):
    return ApiClient(cast.vendor_editor)


def goal_body(world, **extra):
    return {
        "objective": str(world.objective.pk),
        "title": "Leads",
        "period_start": "2026-10-01",
        "period_end": "2026-12-31",
        "baseline": "10",
        "target": "40",
        **extra,
    }


def assert_refused(response, status=400, field=None):
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert {"type", "title", "status", "detail", "code", "errors"} <= set(body)
    assert body["status"] == status and body["detail"]
    if field is not None:
        assert field in body["errors"], body["errors"]


@pytest.fixture
def nothing_written(world):
    before = ChangeEvent.objects.count()
    yield
    assert ChangeEvent.objects.count() == before


@pytest.mark.usefixtures("nothing_written")
class TestNothingIsWritten:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("title", "Pipe\x00line"),
            ("description", "\x00"),
            ("metric_unit", "EUR\x00"),
        ],
    )
    def test_nul_bytes_in_texts(self, world, editor, field, value):
        assert_refused(editor.post("goals", goal_body(world, **{field: value})), field=field)

    def test_nul_bytes_in_nested_and_listed_texts(self, world, editor, cast):
        commitments = [{"side": "vendor", "text": "Fund\x00it"}]
        assert_refused(editor.post("goals", goal_body(world, commitments=commitments)), field="commitments.0.text")
        admin = ApiClient(cast.vendor_admin)
        response = admin.patch(
            f"partnerships/{cast.partnership.pk}", {"vendor_drivers": ["licence\x00revenue"]}, headers=if_match(1)
        )
        assert_refused(response, field="vendor_drivers.0")

    def test_lone_surrogates_in_texts_and_field_names(self, world, editor):
        assert_refused(editor.post("comments", raw=f'{{"goal": "{world.draft.pk}", "body": "a\\ud800"}}'), field="body")
        response = editor.post("comments", raw=f'{{"goal": "{world.draft.pk}", "body": "ok", "\\ud800": 1}}')
        assert_refused(response, field="\ud800")
        assert_refused(editor.post("goals", goal_body(world, direction="\ud800")), field="direction")

    def test_nul_bytes_in_field_names(self, world, editor):
        assert_refused(editor.post("goals", {**goal_body(world), "tit\x00le": "x"}), field="tit\x00le")

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("objective", "not-a-uuid"),
            ("objective", "1234"),
            ("objective", 42),
            ("objective", None),
        ],
    )
    def test_bad_uuids_in_the_body(self, world, editor, field, value):
        assert_refused(editor.post("goals", goal_body(world, **{field: value})), field=field)

    def test_an_unknown_but_well_formed_id_is_a_404(self, world, editor):
        assert_refused(editor.post("goals", goal_body(world, objective=str(uuid.uuid4()))), status=404)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("title", "x" * 201),
            ("description", "x" * 10_001),
            ("metric_name", "m" * 121),
        ],
    )
    def test_huge_strings(self, world, editor, field, value):
        assert_refused(editor.post("goals", goal_body(world, **{field: value})), field=field)

    def test_a_huge_body_is_413(self, world, editor):
        response = editor.post("goals", raw=json.dumps(goal_body(world, description="x" * 3_000_000)))
        assert_refused(response, status=413)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("baseline", "1e30"),
            ("target", "12345678901234567890"),
            ("target", "0.00001"),
            ("baseline", "NaN"),
            ("target", "Infinity"),
            ("baseline", "abc"),
            ("target", [1]),
        ],
    )
    def test_out_of_range_and_malformed_numbers(self, world, editor, field, value):
        assert_refused(editor.post("goals", goal_body(world, **{field: value})), field=field)

    @pytest.mark.parametrize("confidence", [0, 6, -1, 2**63, "high", 3.5])
    def test_confidence_out_of_range(self, world, editor, confidence):
        body = {"goal": str(world.agreed.pk), "value": "10", "confidence": confidence}
        assert_refused(editor.post("check-ins", body), field="confidence")

    def test_a_json_nan_literal(self, world, editor):
        raw = json.dumps({"goal": str(world.agreed.pk), "confidence": 3}).replace("}", ', "value": NaN}')
        assert_refused(editor.post("check-ins", raw=raw), field=None)

    @pytest.mark.parametrize(
        "value",
        [
            "2026-02-30",
            "yesterday",
            "0000-01-01",
            "99999-01-01",
            "1899-12-31",
            "3000-01-01",
            20260101,
            "2026-10-01T25:00",
        ],
    )
    def test_bad_dates(self, world, editor, value):
        assert_refused(editor.post("goals", goal_body(world, period_start=value)), field="period_start")

    @pytest.mark.parametrize("value", ["2026-13-01T10:00:00Z", "0001-01-01T00:00:00+05:00", "tomorrow"])
    def test_bad_datetimes(self, world, editor, value):
        body = {"partnership": str(world.partnership.pk), "scheduled_for": value}
        assert_refused(editor.post("reviews", body), field="scheduled_for")

    def test_a_period_that_ends_before_it_starts(self, world, editor):
        response = editor.post("goals", goal_body(world, period_start="2026-12-31", period_end="2026-10-01"))
        assert_refused(response, field="period_end")

    def test_unknown_fields(self, world, editor):
        assert_refused(editor.post("goals", goal_body(world, colour="blue")), field="colour")
        nested = goal_body(world, commitments=[{"side": "vendor", "text": "Do", "priority": 1}])
        assert_refused(editor.post("goals", nested), field="commitments.0.priority")
        assert_refused(
            editor.patch(f"goals/{world.draft.pk}", {"status": "agreed"}, headers=if_match(1)), field="status"
        )

    @pytest.mark.parametrize("raw", ["[]", '"text"', "42", "null", '{"title": ', "\x00", "{'a': 1}"])
    def test_bodies_that_are_not_a_json_object(self, world, editor, raw):
        assert_refused(editor.post("goals", raw=raw))

    @pytest.mark.parametrize("raw", ["[" * 100_000, '{"a": ' * 50_000, '{"body": ' + "9" * 5000 + "}"])
    def test_bodies_nested_too_deep_or_with_absurd_numbers(self, world, editor, raw):
        assert_refused(editor.post("comments", raw=raw))

    def test_a_body_that_is_not_utf8(self, world, editor):
        response = editor.client.post(
            "/api/v1/comments", b'{"body": "\xff"}', content_type="application/json", headers=editor.headers
        )
        assert_refused(response)

    def test_only_json_is_spoken(self, world, editor):
        plain = editor.client.generic(
            "PATCH",
            f"/api/v1/goals/{world.draft.pk}",
            "title=x",
            content_type="text/plain",
            headers={**editor.headers, **if_match(1)},
        )
        assert_refused(plain, status=415)
        html = editor.client.get("/api/v1/goals", headers={**editor.headers, "Accept": "text/html"})
        assert html.status_code == 406

    def test_a_body_that_is_not_json(self, world, editor):
        response = editor.client.post("/api/v1/goals", {"title": "x"}, headers=editor.headers)  # multipart form
        assert_refused(response, status=415)

    def test_a_goal_with_one_bad_commitment_is_not_created_at_all(self, world, editor, cast):
        commitments = [
            {"side": "vendor", "text": "Fund it"},
            {"side": "partner", "text": "Staff it", "owner": str(cast.vendor_editor.public_id)},
        ]
        response = editor.post("goals", goal_body(world, title="All or nothing", commitments=commitments))
        assert_refused(response, field="owner")
        assert not Goal.objects.filter(title="All or nothing").exists()

    def test_a_rejected_update_leaves_the_object_as_it_was(self, world, editor):
        response = editor.patch(
            f"goals/{world.draft.pk}", {"target": "5", "direction": "increase"}, headers=if_match(1)
        )  # target below the baseline for an increase
        assert_refused(response, field="direction")
        goal = Goal.objects.get(pk=world.draft.pk)
        assert goal.version == 1 and goal.target == world.draft.target


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("goals", {"status": "nonsense"}, "status"),
        ("goals", {"status": "\x00"}, "status"),
        ("goals", {"partnership": "nope"}, "partnership"),
        ("goals", {"partnership": "\x00"}, "partnership"),
        ("goals", {"period": "2026-Q5"}, "period"),
        ("goals", {"period": "2026-02-30"}, "period"),
        ("goals", {"period": "\x00"}, "period"),
        ("goals", {"updated_since": "last week"}, "updated_since"),
        ("goals", {"limit": "0"}, "limit"),
        ("goals", {"limit": "100000"}, "limit"),
        ("goals", {"cursor": "garbage"}, "cursor"),
        ("goals", {"cursor": "cD0yMDI2eHg="}, "cursor"),
        ("goals", {"cursor": "\x00"}, "cursor"),
        ("goals", {"colour": "blue"}, "colour"),
        ("changes", {"since": "\x00"}, "since"),
        ("changes", {"limit": "-5"}, "limit"),
    ],
)
def test_bad_query_parameters(world, editor, path, params, field):
    assert_refused(editor.get(path, **params), field=field)


def test_filters_narrow_lists(world, editor):
    today = dt.date.today()
    quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    agreed = editor.get("goals", status="agreed", period=quarter).json()["results"]
    assert [g["id"] for g in agreed] == [str(world.agreed.pk)]
    assert editor.get("goals", period="1999").json()["results"] == []
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    assert editor.get("goals", updated_since=later).json()["results"] == []
    assert len(editor.get("goals", limit=1).json()["results"]) == 1


def test_a_very_long_id_in_the_path_is_a_404_also_with_an_idempotency_key(world, editor):
    response = editor.post(f"goals/{'9' * 5000}/propose", {}, headers={"Idempotency-Key": "long-path"})
    assert_refused(response, status=404)
