"""Property-based run of the whole API against its own OpenAPI schema (schemathesis): whatever a
client sends, within the schema or outside it, the API answers without a server error, with a
status the schema documents, and with a body that matches the schema. Path ids point at real
objects so that the generated requests reach the services. Examples are bounded to keep CI fast."""

from __future__ import annotations

import datetime as dt
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import ApiToken
from alignment import economics, review_comments
from plans import templates_service
from tests.api_support import World

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Bounded for CI; API_FUZZ_SCALE=10 runs ten times as many examples for a deeper search.
SCALE = int(os.environ.get("API_FUZZ_SCALE", "1"))
EXAMPLES = {GenerationMode.POSITIVE: 15 * SCALE, GenerationMode.NEGATIVE: 10 * SCALE}


def real_ids(world, token):
    admin = world.cast.access("vendor_admin")
    return {
        "/api/v1/partnerships/": world.partnership.pk,
        "/api/v1/visions/": world.vision.pk,
        "/api/v1/objectives/": world.objective.pk,
        "/api/v1/goals/": world.proposed.pk,
        "/api/v1/commitments/": world.commitment.pk,
        "/api/v1/check-ins/": world.check_in.pk,
        "/api/v1/comments/": world.comment.pk,
        "/api/v1/reviews/": world.review.pk,
        "/api/v1/invitations/": world.invitation.pk,
        "/api/v1/auth/tokens/": token.pk,
        "/api/v1/review-comments/": review_comments.review_comment_create(
            access=world.cast.access("vendor_admin"), review_id=world.review.pk, body="Agenda point"
        ).pk,
        "/api/v1/drivers/": (driver := economics.driver_add(access=admin, name="net retention", unit="%")).pk,
        "/api/v1/driver-figures/": economics.figure_record(
            access=admin,
            driver_id=driver.pk,
            period_start=dt.date(2026, 1, 1),
            period_end=dt.date(2026, 3, 31),
            value="101",
        ).pk,
        # The vendor organisation's own copy of a shipped template (read, changed and deleted by id).
        "/api/v1/templates/": templates_service.template_customise(
            user=world.cast.vendor_admin, organisation_id=world.partnership.vendor_id, key="consulting"
        ).pk,
    }


@pytest.fixture
def wsgi_app():
    """The real WSGI app, kept from closing the test's database connection after each request
    (Django's test client does the same)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    app = get_wsgi_application()

    def with_peer(environ, start_response):
        environ.setdefault(
            "REMOTE_ADDR", "127.0.0.1"
        )  # a server always knows its peer; werkzeug's test client does not
        return app(environ, start_response)

    try:
        yield with_peer
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_api_keeps_its_schema_for_any_input(cast, wsgi_app):
    world = World(cast)
    token, raw = ApiToken.issue(user=cast.vendor_admin, name="schemathesis")
    ids = real_ids(world, token)
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    calls: list[str] = []
    for operation in operations:
        path_ids = {}
        if "{id}" in operation.path:
            prefix = next(p for p in ids if operation.path.startswith(p))
            path_ids = {"id": str(ids[prefix])}
        for mode, examples in EXAMPLES.items():
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_ids or None)

            @given(case=strategy)
            @settings(
                max_examples=examples,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                case.call_and_validate(headers={"Authorization": f"Bearer {raw}"}, checks=CHECKS)
                calls.append(case.operation.label)

            run()
    assert len(set(calls)) == len(operations) and len(calls) > 10 * len(operations)


def test_stateful_sequences_through_the_schemas_links_keep_the_schema(cast, wsgi_app):
    """Schemathesis follows the schema's links (create, then read, change and delete what was made)
    in random sequences: no server error, and every answer as documented."""
    World(cast)
    _token, raw = ApiToken.issue(user=cast.vendor_admin, name="schemathesis stateful")
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    machine = schema.as_state_machine()

    class Authenticated(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Bearer {raw}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)

    run_state_machine_as_test(
        Authenticated,
        settings=settings(
            max_examples=10 * SCALE,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
