"""Issue 15, item 6: an organisation admin exports the change history of chosen partnerships as CSV
or JSON, built in the background, downloaded from a link only they can use until it expires. The
export holds exactly the events the admin may see: every event of the chosen partnerships they
administer, and nothing else."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import OrganisationMembership
from alignment import services
from alignment.models import ChangeEvent
from core.errors import NotAllowed, NotFound
from plans import audit
from plans.models import AuditExport
from tests import factories as f


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.STORAGES = settings.STORAGES | {
        "audit_exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "audit"), "base_url": None},
        }
    }
    return tmp_path / "audit"


@pytest.fixture
def history(cast):  # type: ignore[no-untyped-def]
    """Changes in the cast's partnership, in a second partnership of the same vendor, and in an
    outsider's partnership."""
    services.objective_create(
        access=cast.access("vendor_editor"), title='=HYPERLINK("http://evil")', vendor_gain="a", partner_gain="b"
    )
    services.objective_create(access=cast.access("partner_editor"), title="Grow services", vendor_gain="c")
    second = f.make_partnership(cast.vendor_admin, name="Acme × Brightline")
    services.objective_create(access=f.access(cast.vendor_admin, second), title="Second plan objective")
    services.objective_create(access=f.access(cast.outsider, cast.outsider_partnership), title="Not ours")
    return second


def export_now(user, ids, fmt, capture):  # type: ignore[no-untyped-def]
    with capture(execute=True):
        export = audit.audit_export_request(user=user, partnership_ids=ids, fmt=fmt)
    export.refresh_from_db()
    return export


def read(export: AuditExport) -> bytes:
    with audit.storage().open(export.file_name, "rb") as fh:
        return fh.read()


def test_the_csv_holds_exactly_the_events_of_the_chosen_partnerships(cast, history, django_capture_on_commit_callbacks):
    export = export_now(cast.vendor_admin, [cast.partnership.pk], "csv", django_capture_on_commit_callbacks)
    assert export.status == "ready"
    rows = list(csv.DictReader(io.StringIO(read(export).decode("utf-8-sig"))))
    expected = list(ChangeEvent.objects.filter(partnership=cast.partnership).order_by("created_at", "seq"))
    assert [int(r["sequence"]) for r in rows] == [e.seq for e in expected]
    assert export.event_count == len(expected) > 0
    assert {r["partnership"] for r in rows} == {"Acme × Northwind"}
    grow = next(r for r in rows if "Grow services" in r["after"])
    assert (grow["who"], grow["who (e-mail)"], grow["action"], grow["object type"]) == (
        "Pete Editor",
        "editor@partner.test",
        "create",
        "objective",
    )
    assert json.loads(grow["after"])["title"] == "Grow services"
    assert grow["when (UTC)"].endswith("Z")
    formula = next(r for r in rows if "HYPERLINK" in r["after"])
    assert not formula["after"].startswith("=")  # JSON text, and no cell starts a formula
    assert all((v or " ")[0] not in "=+@" for r in rows for v in r.values())


def test_the_json_holds_who_when_what_before_and_after(cast, history, django_capture_on_commit_callbacks):
    objective = services.objective_create(access=cast.access("vendor_editor"), title="Before", vendor_gain="x")
    services.objective_update(access=cast.access("vendor_editor"), objective_id=objective.pk, title="After")
    export = export_now(
        cast.vendor_admin, [cast.partnership.pk, history.pk], "json", django_capture_on_commit_callbacks
    )
    document = json.loads(read(export))
    assert (
        document["event_count"]
        == len(document["events"])
        == ChangeEvent.objects.filter(partnership_id__in=[cast.partnership.pk, history.pk]).count()
    )
    assert {p["name"] for p in document["partnerships"]} == {"Acme × Northwind", "Acme × Brightline"}
    update = next(e for e in document["events"] if e["action"] == "update" and e["object"]["type"] == "objective")
    assert update["before"]["title"] == "Before" and update["after"]["title"] == "After"
    assert update["actor"] == {"name": "Ed Editor", "email": "editor@vendor.test"}
    assert dt.datetime.fromisoformat(update["at"]).tzinfo is not None
    assert "Not ours" not in json.dumps(document)


def test_the_partner_organisations_admin_exports_the_same_plan(cast, history, django_capture_on_commit_callbacks):
    partner_admin = f.make_user("boss@partner.test")
    OrganisationMembership.objects.create(organisation=cast.partnership.partner, user=partner_admin, role="admin")
    assert [p.pk for p in audit.exportable(partner_admin)] == [cast.partnership.pk]
    export = export_now(partner_admin, [cast.partnership.pk], "csv", django_capture_on_commit_callbacks)
    assert export.event_count == ChangeEvent.objects.filter(partnership=cast.partnership).count()
    with pytest.raises(NotFound):  # the vendor's other partnership is not theirs to see
        audit.audit_export_request(user=partner_admin, partnership_ids=[history.pk], fmt="csv")


def test_outsiders_get_404_and_members_who_are_not_admins_403(cast, history):
    with pytest.raises(NotFound):
        audit.audit_export_request(user=cast.outsider, partnership_ids=[cast.partnership.pk], fmt="csv")
    with pytest.raises(NotAllowed):
        audit.audit_export_request(user=cast.vendor_approver, partnership_ids=[cast.partnership.pk], fmt="csv")
    client = Client()
    client.force_login(cast.vendor_approver)
    assert client.get("/audit/").status_code == 403
    client.force_login(cast.outsider)
    response = client.post("/audit/", {"partnerships": [str(cast.partnership.pk)], "format": "csv"})
    assert response.status_code == 400  # not a choice they are offered
    assert not AuditExport.objects.exists()


def test_it_is_built_after_commit_by_a_task_that_takes_the_id(
    cast, history, monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[object] = []
    monkeypatch.setattr(audit.build_audit_export, "apply_async", lambda *a, **kw: sent.append((a, kw)))
    with django_capture_on_commit_callbacks() as callbacks:
        export = audit.audit_export_request(user=cast.vendor_admin, partnership_ids=[cast.partnership.pk], fmt="csv")
    assert sent == [] and AuditExport.objects.get(pk=export.pk).status == "pending"
    for callback in callbacks:
        callback()
    assert sent == [((), {"args": [str(export.pk)]})]
    assert audit.audit_export_build(export.pk) == "ready"
    assert audit.audit_export_build(export.pk) == "not_claimed"  # a second delivery does nothing


def test_only_the_admin_who_asked_downloads_it_until_it_expires(cast, history, django_capture_on_commit_callbacks):
    export = export_now(cast.vendor_admin, [cast.partnership.pk], "csv", django_capture_on_commit_callbacks)
    url = f"/audit/exports/{export.pk}/download/"
    owner = Client()
    owner.force_login(cast.vendor_admin)
    response = owner.get(url)
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content) == read(export)
    assert "attachment" in response["Content-Disposition"]

    other_admin = f.make_user("second@vendor.test")
    OrganisationMembership.objects.create(organisation=cast.partnership.vendor, user=other_admin, role="admin")
    for who in (other_admin, cast.outsider, cast.vendor_editor):
        client = Client()
        client.force_login(who)
        assert client.get(url).status_code == 404
    assert Client().get(url).status_code == 302  # signed out: to sign in

    with time_machine.travel(export.expires_at + dt.timedelta(seconds=1)):
        assert owner.get(url).status_code == 404


def test_an_admin_who_loses_the_rights_loses_the_download(cast, history, django_capture_on_commit_callbacks):
    export = export_now(cast.vendor_admin, [cast.partnership.pk], "csv", django_capture_on_commit_callbacks)
    OrganisationMembership.objects.filter(user=cast.vendor_admin).update(role="member")
    client = Client()
    client.force_login(cast.vendor_admin)
    assert client.get(f"/audit/exports/{export.pk}/download/").status_code == 404


def test_rights_lost_before_the_build_leave_the_export_empty_handed(cast, history, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        export = audit.audit_export_request(user=cast.vendor_admin, partnership_ids=[cast.partnership.pk], fmt="csv")
    OrganisationMembership.objects.filter(user=cast.vendor_admin).update(role="member")
    for callback in callbacks:
        callback()
    export.refresh_from_db()
    assert export.status == "failed" and not export.file_name


def test_the_page_asks_shows_progress_and_links_the_file(cast, history, django_capture_on_commit_callbacks):
    client = Client()
    client.force_login(cast.vendor_admin)
    page = client.get("/audit/").content.decode()
    assert "Acme × Northwind" in page and "Acme × Brightline" in page and "Other × Elsewhere" not in page
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/audit/", {"partnerships": [str(cast.partnership.pk)], "format": "json"})
    assert response.status_code == 302
    pending = client.get("/audit/", HTTP_HX_REQUEST="true").content.decode()
    assert "being built" in pending and 'hx-trigger="every 2s"' in pending
    for callback in callbacks:
        callback()
    ready = client.get("/audit/").content.decode()
    export = AuditExport.objects.get()
    assert f"/audit/exports/{export.pk}/download/" in ready and "every 2s" not in ready


def test_expired_exports_and_their_files_are_deleted(cast, history, export_dir, django_capture_on_commit_callbacks):
    export = export_now(cast.vendor_admin, [cast.partnership.pk], "csv", django_capture_on_commit_callbacks)
    assert (export_dir / export.file_name).exists()
    assert audit.prune_expired() == 0
    assert audit.prune_expired(now=timezone.now() + audit.ttl() + dt.timedelta(minutes=1)) == 1
    assert not (export_dir / export.file_name).exists() and not AuditExport.objects.exists()
