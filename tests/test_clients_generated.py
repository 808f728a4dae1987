"""A Python client generated from the OpenAPI schema (openapi-python-client) builds, and a sync
written against it works: ``partnerships_plan``, then ``changes_list`` to the end with typed events
(the union discriminated by ``type``), a write with ``comments_create``, the conditional GET of the
plan (304), and a replica equal to a fresh plan, type by type, id by id and version by version."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from django.test import Client

from accounts.models import ApiToken
from tests.api_support import World

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parent.parent
LISTS = {
    "endorsements": "endorsement",
    "members": "member",
    "objectives": "objective",
    "goals": "goal",
    "agreed_revisions": "agreed-revision",
    "approvals": "approval",
    "commitments": "commitment",
    "check_ins": "check-in",
    "comments": "comment",
    "reviews": "review",
}


def generate(tmp_path: Path) -> Any:
    schema = Client().get("/api/schema/", {"format": "json"}).json()
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    (tmp_path / "config.yaml").write_text(
        "post_hooks: []\nproject_name_override: pp_generated\npackage_name_override: pp_generated\n"
    )
    generator = Path(sys.executable).parent / "openapi-python-client"
    completed = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--output-path",
            str(tmp_path / "pp_generated"),
            "--meta",
            "none",
            "--config",
            str(tmp_path / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Warning" not in completed.stdout, completed.stdout  # every schema construct was understood
    compiled = subprocess.run([sys.executable, "-m", "compileall", "-q", str(tmp_path / "pp_generated")])
    assert compiled.returncode == 0
    sys.path.insert(0, str(tmp_path))
    return importlib.import_module("pp_generated")


def versions(items: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {kind: {pk: data.get("version") for pk, data in objects.items()} for kind, objects in items.items()}


def test_a_generated_client_syncs_a_plan(cast, live_server, tmp_path):
    world = World(cast)
    _token, raw = ApiToken.issue(user=cast.vendor_editor, name="generated")
    package = generate(tmp_path)
    api = importlib.import_module("pp_generated.api")
    plan_op = importlib.import_module("pp_generated.api.partnerships.partnerships_plan")
    changes_op = importlib.import_module("pp_generated.api.changes.changes_list")
    create_comment = importlib.import_module("pp_generated.api.comments.comments_create")
    models = importlib.import_module("pp_generated.models")
    assert api is not None
    client = package.AuthenticatedClient(base_url=live_server.url, token=raw, raise_on_unexpected_status=True)
    pid = UUID(str(cast.partnership.pk))

    document = plan_op.sync_detailed(pid, client=client)
    assert document.status_code == 200
    plan = document.parsed
    replica: dict[str, dict[str, Any]] = {kind: {} for kind in LISTS.values()}
    for key, kind in LISTS.items():
        for item in getattr(plan, key):
            replica[kind][str(item.id)] = item.to_dict()
    cursor = plan.cursor

    body = models.CommentCreateIn(goal=UUID(str(world.draft.pk)), body="Written by a generated client")
    created = create_comment.sync_detailed(client=client, body=body)
    assert created.status_code == 201 and created.parsed.body == "Written by a generated client"

    seen_types = set()
    while True:
        page = changes_op.sync(client=client, partnership=pid, since=cursor, limit=3)
        assert isinstance(page, models.ChangesPageOut), page
        for event in page.results:
            event_type = event.type_.value if hasattr(event.type_, "value") else event.type_
            seen_types.add((type(event).__name__, event_type))
            if event_type not in replica:
                continue
            if event.action.value == "delete":
                replica[event_type].pop(str(event.id), None)
            else:
                replica[event_type][str(event.id)] = event.data.to_dict()
        cursor = page.cursor
        if not page.has_more:
            break
    assert ("CommentChange", "comment") in seen_types  # the union was decoded by its discriminator

    fresh = plan_op.sync(pid, client=client)
    expected = {kind: {str(i.id): i.to_dict() for i in getattr(fresh, key)} for key, kind in LISTS.items()}
    assert versions(replica) == versions(expected)
    assert replica == expected

    # The plan's ETag works as documented: 304 with If-None-Match while nothing changed.
    etag = document.headers["etag"]
    again = client.get_httpx_client().get(f"/api/v1/partnerships/{pid}/plan", headers={"If-None-Match": etag})
    assert again.status_code in (200, 304)
    unchanged = client.get_httpx_client().get(
        f"/api/v1/partnerships/{pid}/plan", headers={"If-None-Match": again.headers["etag"]}
    )
    assert unchanged.status_code == 304
