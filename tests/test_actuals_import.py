"""Actuals import in the browser: a CSV or XLSX file of check-ins is checked (a preview that writes
nothing, with per-row errors naming row and column), then imported (small files in the request, big
ones in one background job), and importing the same file again creates nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alignment.models import ChangeEvent
from goals import imports
from goals import services as goal_services
from goals.models import ActualsImport, CheckIn, CheckInSource, Goal, GoalStatus
from tests import factories as f

TODAY = dt.date.today()
HEADER = ["Goal", "Date", "Value", "Confidence", "Note"]


class Plan:
    def __init__(self, cast):
        self.cast = cast
        self.vendor = cast.access("vendor_approver")
        self.partner = cast.access("partner_approver")
        objective = f.make_objective(self.vendor)
        self.goal = f.agree(f.make_goal(self.vendor, objective), self.vendor, self.partner)
        self.keyed = f.agree(f.make_goal(self.vendor, objective, external_key="CRM-7"), self.vendor, self.partner)
        self.draft = f.make_goal(self.vendor, objective)
        outsider = f.access(cast.outsider, cast.outsider_partnership)
        foreign_objective = f.make_objective(outsider)
        self.foreign = f.make_goal(outsider, foreign_objective)
        self.pid = cast.partnership.pk


@pytest.fixture
def plan(cast):
    return Plan(cast)


def csv_file(rows, header=HEADER, name="actuals.csv", bom=True):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    data = out.getvalue().encode("utf-8-sig" if bom else "utf-8")
    return SimpleUploadedFile(name, data, content_type="text/csv")


def xlsx_file(rows, header=HEADER, name="actuals.xlsx"):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return SimpleUploadedFile(name, out.getvalue(), content_type="application/octet-stream")


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def text_of(response):
    """The page's words, without tags, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def upload(client, pid, file):
    return client.post(reverse("goal_imports", args=[pid]), {"file": file})


def preview(plan, file, who="vendor"):
    access = plan.vendor if who == "vendor" else plan.partner
    return imports.actuals_import_preview(access=access, file_name=file.name, stream=file)


def day(n):
    return (TODAY - dt.timedelta(days=n)).isoformat()


def test_preview_writes_nothing_and_names_each_bad_row_and_column(plan):
    checkins, events = CheckIn.objects.count(), ChangeEvent.objects.count()
    rows = [
        [str(plan.goal.pk), day(3), "120.5", "4", "From the CRM"],  # row 2: good
        ["CRM-7", day(2), "130", "", ""],  # row 3: good, by external key, default confidence
        [str(plan.goal.pk), "03/31/2025", "1", "3", ""],  # row 4: bad date
        [str(plan.goal.pk), day(1), "1,5", "3", ""],  # row 5: bad number
        [str(plan.goal.pk), day(1), "7", "9", ""],  # row 6: confidence out of range
        ["NO-SUCH-KEY", day(1), "7", "3", ""],  # row 7: unknown goal
        [str(plan.draft.pk), day(1), "7", "3", ""],  # row 8: not open for check-ins
        [str(plan.goal.pk), (TODAY + dt.timedelta(days=30)).isoformat(), "7", "3", ""],  # row 9: future
        [str(plan.foreign.pk), day(1), "7", "3", ""],  # row 10: another partnership's goal
    ]
    response = upload(client_for(plan.cast.vendor_approver), plan.pid, csv_file(rows))
    assert response.status_code == 302
    imp = ActualsImport.objects.get()
    assert (imp.status, imp.to_create, imp.duplicates, imp.row_count) == ("preview", 2, 0, 9)
    assert CheckIn.objects.count() == checkins and ChangeEvent.objects.count() == events
    by_row = {e["row"]: e for e in imp.errors}
    assert sorted(by_row) == [4, 5, 6, 7, 8, 9, 10]
    assert by_row[4]["column"] == "Date" and by_row[4]["message"].startswith("Bad date")
    assert by_row[5]["column"] == "Value" and by_row[5]["message"].startswith("Bad number")
    assert by_row[6]["column"] == "Confidence" and "out of range" in by_row[6]["message"]
    assert by_row[7]["column"] == "Goal" and by_row[7]["message"].startswith("Unknown goal")
    assert by_row[8]["column"] == "Goal" and "not open for check-ins" in by_row[8]["message"]
    assert by_row[9]["column"] == "Date" and "future" in by_row[9]["message"]
    assert by_row[10]["column"] == "Goal" and by_row[10]["message"].startswith("Unknown goal")

    page = client_for(plan.cast.vendor_approver).get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert "Import 2 check-ins" in html and "Bad number" in html and "Unknown goal" in html


def test_an_xlsx_with_date_and_number_cells_and_a_csv_are_read_alike(plan):
    rows = [
        [str(plan.goal.pk), TODAY - dt.timedelta(days=5), 150.25, 5, "Quarter close"],
        ["CRM-7", dt.datetime.combine(TODAY - dt.timedelta(days=4), dt.time()), 0.1 + 0.2, None, None],
        [str(plan.goal.pk), "2025-13-40", 1, 3, ""],
    ]
    imp = preview(plan, xlsx_file(rows))
    assert (imp.format, imp.to_create, [(e["row"], e["column"]) for e in imp.errors]) == ("xlsx", 2, [(4, "Date")])
    assert imports.actuals_import_commit(access=plan.vendor, import_id=imp.pk).status == "done"
    made = {(c.goal_id, c.measured_on): c for c in CheckIn.objects.filter(source=CheckInSource.IMPORT)}
    first = made[(plan.goal.pk, TODAY - dt.timedelta(days=5))]
    second = made[(plan.keyed.pk, TODAY - dt.timedelta(days=4))]
    assert (first.value, first.confidence, first.note, first.side) == (Decimal("150.25"), 5, "Quarter close", "vendor")
    assert (second.value, second.confidence) == (Decimal("0.3"), 3)

    # The same rows as CSV (ISO dates, '.' decimals, a header in other spellings) are duplicates now.
    as_csv = csv_file(
        [[str(plan.goal.pk), day(5), "150.25", "5", "Quarter close"], ["CRM-7", day(4), "0.3", "", ""]],
        header=["goal_id", "Measured On", "ACTUAL", "confidence", "Notes"],
    )
    again = preview(plan, as_csv)
    assert (again.format, again.to_create, again.duplicates, again.errors) == ("csv", 0, 2, [])


def test_a_small_file_imports_in_the_request_and_the_same_file_again_creates_nothing(plan):
    client = client_for(plan.cast.vendor_editor)
    rows = [[str(plan.goal.pk), day(n), str(100 + n), "4", f"week {n}"] for n in range(1, 6)]
    events = ChangeEvent.objects.count()
    location = upload(client, plan.pid, csv_file(rows))["Location"]
    imp = ActualsImport.objects.get()
    response = client.post(reverse("goal_import_commit", args=[plan.pid, imp.pk]))
    assert response.status_code == 302
    imp.refresh_from_db()
    assert (imp.status, imp.created_count, imp.skipped_count, imp.error_count) == ("done", 5, 0, 0)
    created = CheckIn.objects.filter(goal=plan.goal, source=CheckInSource.IMPORT)
    assert created.count() == 5
    new_events = ChangeEvent.objects.filter(seq__gt=0).order_by("seq")[events:]
    assert sorted(str(e.object_id) for e in new_events) == sorted(str(c.pk) for c in created)
    assert {(e.object_type, e.action) for e in new_events} == {("checkin", "create")}
    assert all(e.after["source"] == "import" and "(imported)" in e.summary for e in new_events)
    # A second click on "Import" does nothing.
    client.post(reverse("goal_import_commit", args=[plan.pid, imp.pk]))
    assert CheckIn.objects.filter(goal=plan.goal).count() == 5
    assert "5 check-ins created" in text_of(client.get(location))

    second = upload(client, plan.pid, csv_file(rows))["Location"]
    html = text_of(client.get(second))
    again = ActualsImport.objects.order_by("-created_at").first()
    assert (again.to_create, again.duplicates) == (0, 5)
    assert "importing this file creates nothing" in html and "This file was imported before" in html
    assert "Import 0" not in html
    client.post(reverse("goal_import_commit", args=[plan.pid, again.pk]))
    again.refresh_from_db()
    assert (again.status, again.created_count, again.skipped_count) == ("done", 0, 5)
    assert CheckIn.objects.filter(goal=plan.goal).count() == 5


def test_a_file_of_10000_rows_commits_in_one_background_job_with_row_errors(plan, django_capture_on_commit_callbacks):
    rows = []
    for i in range(10_000):
        goal = plan.goal if i % 2 else plan.keyed
        value = "oops" if i % 1000 == 999 else f"{i}.5"
        rows.append([str(goal.pk), day(i % 300), value, str(1 + i % 5), ""])
    client = client_for(plan.cast.vendor_approver)
    upload(client, plan.pid, csv_file(rows))
    imp = ActualsImport.objects.get()
    assert (imp.to_create, len(imp.errors)) == (9_990, 10)
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(reverse("goal_import_commit", args=[plan.pid, imp.pk]))
    imp.refresh_from_db()
    assert imp.status == "queued" and CheckIn.objects.count() == 0
    assert len(callbacks) == 1
    callbacks[0]()  # the worker's run (Celery runs eagerly in the tests)
    imp.refresh_from_db()
    assert (imp.status, imp.created_count, imp.skipped_count, imp.error_count) == ("done", 9_990, 0, 10)
    assert [e["row"] for e in imp.errors] == [1001 + 1000 * k for k in range(10)]
    assert {e["column"] for e in imp.errors} == {"Value"}
    assert CheckIn.objects.filter(source=CheckInSource.IMPORT).count() == 9_990
    assert ChangeEvent.objects.filter(object_type="checkin", action="create").count() == 9_990
    # The job runs once: a duplicate delivery finds nothing to claim.
    assert imports.actuals_import_run(imp.pk) == "not_claimed"
    page = text_of(client.get(reverse("goal_import", args=[plan.pid, imp.pk])))
    assert "9990 check-ins created" in page and "Rows with errors" in page

    upload(client, plan.pid, csv_file(rows))
    again = ActualsImport.objects.order_by("-created_at").first()
    assert (again.to_create, again.duplicates) == (0, 9_990)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("goal_import_commit", args=[plan.pid, again.pk]))
    again.refresh_from_db()
    assert (again.status, again.created_count, again.skipped_count) == ("done", 0, 9_990)
    assert CheckIn.objects.count() == 9_990


def test_a_goal_closed_after_the_preview_gets_a_row_error_at_commit(plan):
    imp = preview(plan, csv_file([[str(plan.goal.pk), day(1), "5", "3", ""], ["CRM-7", day(1), "6", "3", ""]]))
    goal_services.goal_close(access=plan.vendor, goal_id=plan.goal.pk, outcome="dropped", note="Budget cut")
    imp = imports.actuals_import_commit(access=plan.vendor, import_id=imp.pk)
    assert (imp.created_count, imp.error_count) == (1, 1)
    assert imp.errors[0]["row"] == 2 and "not open for check-ins" in imp.errors[0]["message"]


def test_identical_rows_in_one_file_import_once_and_each_side_keeps_its_own(plan):
    row = [str(plan.goal.pk), day(2), "42", "3", "same"]
    imp = preview(plan, csv_file([row, row]))
    assert (imp.to_create, imp.duplicates) == (1, 1)
    imports.actuals_import_commit(access=plan.vendor, import_id=imp.pk)
    partner = preview(plan, csv_file([row]), who="partner")
    assert (partner.to_create, partner.duplicates) == (1, 0)


class TestWhoMayImport:
    def test_a_viewer_cannot_import(self, plan, cast):
        client = client_for(cast.vendor_viewer)
        assert client.get(reverse("goal_imports", args=[plan.pid])).status_code == 403
        assert upload(client, plan.pid, csv_file([[str(plan.goal.pk), day(1), "1", "3", ""]])).status_code == 403
        assert ActualsImport.objects.count() == 0 and CheckIn.objects.count() == 0

    def test_an_outsider_gets_404_everywhere(self, plan, cast):
        imp = preview(plan, csv_file([[str(plan.goal.pk), day(1), "1", "3", ""]]))
        client = client_for(cast.outsider)
        assert client.get(reverse("goal_imports", args=[plan.pid])).status_code == 404
        assert client.get(reverse("goal_import", args=[plan.pid, imp.pk])).status_code == 404
        assert client.post(reverse("goal_import_commit", args=[plan.pid, imp.pk])).status_code == 404
        own = cast.outsider_partnership.pk
        assert client.get(reverse("goal_import", args=[own, imp.pk])).status_code == 404
        assert CheckIn.objects.count() == 0

    def test_editors_of_either_side_import_and_the_plan_links_to_it(self, plan, cast):
        imports_url, plan_url = reverse("goal_imports", args=[plan.pid]), reverse("plan", args=[plan.pid])
        for user in (cast.vendor_editor, cast.partner_editor):
            client = client_for(user)
            assert client.get(imports_url).status_code == 200
            assert imports_url in client.get(plan_url).content.decode()
        assert imports_url not in client_for(cast.partner_viewer).get(plan_url).content.decode()

    def test_an_uploader_who_lost_the_editor_role_imports_nothing_in_the_background(self, plan, cast, settings):
        settings.ACTUALS_IMPORT_SYNC_ROWS = 0
        editor = cast.access("vendor_editor")
        file = csv_file([[str(plan.goal.pk), day(1), "1", "3", ""]])
        imp = imports.actuals_import_preview(access=editor, file_name=file.name, stream=file)
        imports.actuals_import_commit(access=editor, import_id=imp.pk)
        cast.partnership.members.filter(user=cast.vendor_editor).update(role="viewer")
        assert imports.actuals_import_run(imp.pk) == "done"
        imp.refresh_from_db()
        assert (imp.created_count, imp.error_count) == (0, 1) and "No permission" in imp.errors[0]["message"]
        assert CheckIn.objects.count() == 0


class TestFilesRefused:
    def refused(self, plan, file, expected):
        response = upload(client_for(plan.cast.vendor_editor), plan.pid, file)
        assert response.status_code == 422
        assert expected in response.content.decode()
        assert ActualsImport.objects.count() == 0

    def test_other_kinds_of_file(self, plan):
        self.refused(plan, SimpleUploadedFile("actuals.txt", b"goal,date,value\n"), "Upload a CSV (.csv) or Excel")
        self.refused(plan, SimpleUploadedFile("actuals.xls", b"\xd0\xcf\x11\xe0"), "Old Excel files (.xls)")
        self.refused(plan, SimpleUploadedFile("actuals.xlsx", b"not a zip"), "could not be read as an Excel")

    def test_a_workbook_that_unpacks_to_too_much(self, plan, settings):
        settings.ACTUALS_IMPORT_MAX_BYTES = 1024
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("xl/worksheets/sheet1.xml", "<" + " " * 100_000 + ">")
        self.refused(plan, SimpleUploadedFile("bomb.xlsx", out.getvalue()), "unpacks to too much")

    def test_a_file_that_is_not_utf8(self, plan):
        self.refused(plan, SimpleUploadedFile("a.csv", "goal,date,value\nx,é,1\n".encode("latin-1")), "CSV UTF-8")

    def test_a_file_too_big_or_with_too_many_rows(self, plan, settings):
        settings.ACTUALS_IMPORT_MAX_BYTES = 1024 * 1024
        self.refused(plan, SimpleUploadedFile("a.csv", b"goal,date,value\n" + b"x" * 1024 * 1024), "larger than 1 MB")
        settings.ACTUALS_IMPORT_MAX_ROWS = 3
        rows = [[str(plan.goal.pk), day(n), "1", "3", ""] for n in range(4)]
        self.refused(plan, csv_file(rows), "more than 3 rows")

    def test_a_header_without_the_required_columns(self, plan):
        self.refused(plan, csv_file([["x", "1"]], header=["Goal", "Amount due"]), "missing: date")
        self.refused(plan, csv_file([], header=["When", "Value"]), "goal (or external key)")
        self.refused(plan, SimpleUploadedFile("a.csv", b"\n ,\n"), "The file is empty")


def test_preview_queries_do_not_grow_with_the_file(plan):
    client = client_for(plan.cast.vendor_editor)

    def count(n):
        rows = [[str(plan.goal.pk if i % 2 else plan.keyed.pk), day(i % 200), str(i), "3", ""] for i in range(n)]
        rows.append(["CRM-7", day(1), "1", "3", ""])
        with CaptureQueriesContext(connection) as ctx:
            assert upload(client, plan.pid, csv_file(rows)).status_code == 302
        return len(ctx.captured_queries)

    assert count(10) == count(1000)


@pytest.mark.postgres  # SQLite caps the parameters of one statement: its bulk inserts are split
def test_commit_queries_do_not_grow_with_the_file(plan, settings):
    settings.ACTUALS_IMPORT_SYNC_ROWS = 5000

    def count(n, offset):
        rows = [[str(plan.goal.pk), day(i % 200), str(offset + i), "3", ""] for i in range(n)]
        imp = preview(plan, csv_file(rows))
        with CaptureQueriesContext(connection) as ctx:
            done = imports.actuals_import_commit(access=plan.vendor, import_id=imp.pk)
        assert done.created_count == n
        return len(ctx.captured_queries)

    assert count(10, 0) == count(1000, 100_000)


def test_imported_check_ins_say_so_on_the_goal_page(plan):
    imp = preview(plan, csv_file([[str(plan.goal.pk), day(1), "77", "3", "from the CRM"]]))
    imports.actuals_import_commit(access=plan.vendor, import_id=imp.pk)
    html = client_for(plan.cast.vendor_editor).get(reverse("goal_detail", args=[plan.pid, plan.goal.pk])).content
    assert b"imported</span>" in html


class TestExternalKey:
    def test_editors_set_it_on_the_goal_form_without_opening_a_revision(self, plan, cast):
        goal = plan.goal
        client = client_for(cast.vendor_editor)
        data = {
            "title": goal.title,
            "description": goal.description,
            "period_start": goal.period_start.isoformat(),
            "period_end": goal.period_end.isoformat(),
            "metric_name": goal.metric_name,
            "metric_unit": goal.metric_unit,
            "baseline": str(goal.baseline),
            "target": str(goal.target),
            "direction": goal.direction,
            "external_key": "SF-0042",
            "version": goal.version,
        }
        url = reverse("goal_edit", args=[plan.pid, goal.pk])
        assert client.post(url, data).status_code == 200
        goal.refresh_from_db()
        assert (goal.external_key, goal.status, goal.amendment, goal.revision) == ("SF-0042", GoalStatus.AGREED, "", 1)
        # The version grew: a form still holding the old one meets the conflict, not a lost update.
        stale = client.post(url, data | {"external_key": "SF-9"})
        assert stale.status_code == 409
        # Unique in the plan.
        taken = client.post(url, data | {"external_key": "CRM-7", "version": goal.version})
        assert taken.status_code == 422 and "Another goal of this plan has this key" in taken.content.decode()

    def test_keys_are_unique_per_partnership_only(self, plan, cast):
        outsider = f.access(cast.outsider, cast.outsider_partnership)
        goal_services.goal_update(access=outsider, goal_id=plan.foreign.pk, external_key="CRM-7")
        assert Goal.objects.filter(external_key="CRM-7").count() == 2


def test_the_page_of_a_running_import_refreshes_itself_until_it_is_done(plan, settings):
    settings.ACTUALS_IMPORT_SYNC_ROWS = 0
    client = client_for(plan.cast.vendor_editor)
    imp = preview(plan, csv_file([[str(plan.goal.pk), day(1), "5", "3", ""]]))
    imports.actuals_import_commit(access=plan.vendor, import_id=imp.pk)  # queued: the job runs after commit
    url = reverse("goal_import", args=[plan.pid, imp.pk])
    fragment = client.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and b"<html" not in fragment.content
    assert b'hx-trigger="every 2s"' in fragment.content and b"queued" in fragment.content
    imports.actuals_import_run(imp.pk)
    done = client.get(url, headers={"HX-Request": "true"})
    assert b"hx-trigger" not in done.content and "1 check-in created" in text_of(done)


def test_the_import_pages_run_the_same_queries_whatever_the_number_of_imports(plan):
    client = client_for(plan.cast.vendor_editor)
    file = [[str(plan.goal.pk), day(1), "5", "3", ""]]

    def count():
        with CaptureQueriesContext(connection) as listing:
            assert client.get(reverse("goal_imports", args=[plan.pid])).status_code == 200
        newest = ActualsImport.objects.order_by("-created_at").first()
        with CaptureQueriesContext(connection) as one:
            assert client.get(reverse("goal_import", args=[plan.pid, newest.pk])).status_code == 200
        return len(listing.captured_queries), len(one.captured_queries)

    preview(plan, csv_file(file))
    few = count()
    for _ in range(5):
        preview(plan, csv_file(file))
    assert count() == few
