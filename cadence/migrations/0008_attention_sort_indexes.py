"""Indexes in the dashboard's sort orders on the stored attention rows, on PostgreSQL.

The dashboard pages a portfolio by health (lowest or highest first), by next review or by name, each
then by name in the "C" collation (Python's order of strings) and by id (``plans.dashboard._order``).
Read off these in order, a page of 20 stops after 20 visible rows instead of sorting every visible
row: at 10,000 partnerships, for an admin who sees them all, 13-19 ms of SQL became 0.2-0.5 ms
(EXPLAIN ANALYZE, docs/performance.md). A person who sees a few partnerships is still better served
by reading them and sorting, which the planner does. The default order ("needs attention first")
adds what waits for the reader's side to whether a review is overdue at the time of the request:
no index holds it. SQLite orders names by code points already and has no "C" collation to name:
nothing is done there.
"""

from django.db import migrations

TABLE = "cadence_partnershipattention"
NAME_ORDER = '(name COLLATE "C"), partnership_id'
INDEXES = {
    "attn_order_name": NAME_ORDER,
    "attn_order_health": f"health, {NAME_ORDER}",
    "attn_order_health_desc": f"health DESC, {NAME_ORDER}",
    "attn_order_review": f"next_review, {NAME_ORDER}",  # ascending, nulls last: the page's order
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, columns in INDEXES.items():
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {TABLE} ({columns})")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("cadence", "0007_attention_organisations_and_name")]

    operations = [migrations.RunPython(create, drop)]
