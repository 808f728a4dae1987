"""The OpenAPI description is served without internet and documents, for every operation, the
errors it can answer with in the problem-details shape."""

from __future__ import annotations

import datetime as dt
import re

from django.db import transaction
from django.test import Client

from alignment import economics, review_comments
from tests.api_support import ApiClient, World

PROBLEM = "application/problem+json"


def schema():
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def test_every_operation_documents_its_errors_as_problem_details(db):
    doc = schema()
    assert "Problem" in doc["components"]["schemas"]
    seen = 0
    for path, method, operation in operations(doc):
        seen += 1
        responses = operation["responses"]
        expected = {"400", "401", "404", "429"}
        if method in ("put", "patch", "delete"):
            expected |= {"403", "409", "412", "428"}
        if method == "post":
            expected |= {"403", "409", "422"}
        assert expected <= set(responses), (method, path, sorted(responses))
        for code in expected:
            assert PROBLEM in responses[code]["content"], (method, path, code)
        success = [c for c in responses if c.startswith("2")]
        assert len(success) == 1, (method, path)
    assert seen > 40


def test_writes_document_if_match_and_posts_document_idempotency_keys(db):
    for path, method, operation in operations(schema()):
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if method in ("put", "patch", "delete"):
            assert "If-Match" in headers, (method, path)
        if method == "post" and path != "/api/v1/auth/token/":
            assert "Idempotency-Key" in headers, (method, path)


def test_the_feed_documents_410(db):
    assert "410" in schema()["paths"]["/api/v1/changes/"]["get"]["responses"]


def test_the_interactive_docs_load_nothing_from_the_internet(db):
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert not re.search(r"""(src|href)=["']https?://""", html)


def test_every_documented_path_answers_the_same_with_and_without_a_trailing_slash(cast):
    world = World(cast)
    ids = {
        "partnerships": world.partnership.pk,
        "visions": world.vision.pk,
        "objectives": world.objective.pk,
        "goals": world.draft.pk,
        "commitments": world.commitment.pk,
        "check-ins": world.check_in.pk,
        "comments": world.comment.pk,
        "reviews": world.review.pk,
        "invitations": world.invitation.pk,
        "review-comments": review_comments.review_comment_create(
            access=cast.access("vendor_editor"), review_id=world.review.pk, body="Agenda point"
        ).pk,
        "drivers": (driver := economics.driver_add(access=cast.access("vendor_admin"), name="net retention")).pk,
        "driver-figures": economics.figure_record(
            access=cast.access("vendor_admin"),
            driver_id=driver.pk,
            period_start=dt.date(2026, 1, 1),
            period_end=dt.date(2026, 3, 31),
            value="101",
        ).pk,
        "templates": "consulting",
    }
    client = ApiClient(cast.vendor_admin)
    ids["tokens"] = client.get("auth/tokens").json()["results"][0]["id"]
    checked = 0
    for path, method, _operation in operations(schema()):
        resource = path.split("/")[3] if not path.startswith("/api/v1/auth/tokens/") else "tokens"
        concrete = path.replace("{id}", str(ids.get(resource, "")))
        statuses = []
        for variant in (concrete, concrete.rstrip("/")):
            with transaction.atomic():  # both variants act on the same state
                response = client.request(method, variant, {} if method != "get" else None, headers={"If-Match": '"1"'})
                statuses.append(response.status_code)
                transaction.set_rollback(True)
        assert statuses[0] == statuses[1] and statuses[0] not in (301, 302, 307, 308), (method, path, statuses)
        checked += 1
    assert checked > 40
