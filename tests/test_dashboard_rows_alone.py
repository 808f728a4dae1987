"""The dashboard reads a portfolio from the stored attention rows alone
(``cadence.models.PartnershipAttention``): every partnership has a row from its creation on, each
row names its partnership's organisations and name, and the totals and the ranked page are
statements of that table, without the partnerships."""

from __future__ import annotations

import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import OrganisationMembership
from alignment import services as plan
from alignment.models import Partnership
from cadence.models import PartnershipAttention
from tests import factories as f


def test_a_partnership_has_its_row_from_its_creation_on(cast):
    with transaction.atomic():
        made = Partnership.objects.create(name="Made by hand", vendor=cast.partnership.vendor, partner=f.make_org())
        row = PartnershipAttention.objects.get(pk=made.pk)  # before any commit: in the creating transaction
    assert (row.vendor_id, row.partner_id, row.name) == (made.vendor_id, made.partner_id, "Made by hand")
    assert (row.waiting_vendor, row.overdue_partner, row.health) == (0, 0, 0)


def test_a_renamed_partnership_sorts_by_its_new_name(cast, client, django_capture_on_commit_callbacks):
    second = f.make_partnership(cast.vendor_admin, name="Beta")
    with django_capture_on_commit_callbacks(execute=True):
        plan.partnership_update(access=cast.access("vendor_admin"), name="Zulu")
    with django_capture_on_commit_callbacks(execute=True):
        plan.partnership_update(access=f.access(cast.vendor_admin, second), name="Alpha")
    assert PartnershipAttention.objects.get(pk=cast.partnership.pk).name == "Zulu"
    client.force_login(cast.vendor_admin)
    rows = client.get("/?sort=name").context["rows"]
    assert [r["partnership"].name for r in rows] == ["Alpha", "Zulu"]


def test_the_totals_and_the_ranked_page_read_the_stored_rows_alone(cast, client):
    f.make_partnership(cast.vendor_admin, name="Second")
    OrganisationMembership.objects.create(
        user=cast.vendor_admin, organisation=cast.outsider_partnership.partner, role=OrganisationMembership.Role.ADMIN
    )  # and one on the partner side
    client.force_login(cast.vendor_admin)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    assert response.status_code == 200
    assert response.context["totals"].partnerships == 3
    assert len(response.context["rows"]) == 3
    of_rows = [q["sql"] for q in queries if re.search(r'FROM "cadence_partnershipattention"', q["sql"])]
    totals = [sql for sql in of_rows if "GROUP BY" in sql]
    page = [sql for sql in of_rows if "ORDER BY" in sql and re.search(r"LIMIT \d+$", sql)]
    assert totals and page, of_rows
    for sql in (*totals, *page):
        assert '"alignment_partnership"' not in sql, sql


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("sort", "index"),
    [
        ("name", "attn_order_name"),
        ("health", "attn_order_health"),
        ("-health", "attn_order_health_desc"),
        ("review", "attn_order_review"),
    ],
)
def test_each_sort_but_attention_reads_its_page_off_an_index_in_its_order(cast, client, sort, index):
    """With sorting ruled out, the planner reads the page's statement off the sort's index: the index
    is in exactly the statement's order (health, the name in "C", the id). Whether it does so on its
    own depends on how many rows the person sees (at 10,000 it does: docs/performance.md)."""
    f.make_partnership(cast.vendor_admin, name="Second")
    client.force_login(cast.vendor_admin)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/", {"sort": sort}).status_code == 200
    page = [
        q["sql"]
        for q in queries
        if 'FROM "cadence_partnershipattention"' in q["sql"]
        and "ORDER BY" in q["sql"]
        and re.search(r"LIMIT \d+$", q["sql"])
    ]
    assert len(page) == 1, page
    with connection.cursor() as cursor:
        # No sort of any kind: an incremental one would finish the order of a shorter index (the one
        # on the next review alone, whose ties it sorts by name).
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
        cursor.execute("EXPLAIN " + page[0])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_sort")
        cursor.execute("RESET enable_incremental_sort")
    assert index in plan, plan
    assert "Sort" not in plan, plan
