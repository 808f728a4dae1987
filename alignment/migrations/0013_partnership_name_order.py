"""An index in the dashboard's order of names (code points, "C") then ids, on PostgreSQL.

The dashboard orders partnerships by name in the "C" collation (Python's order of strings) and
breaks ties by id. Reviews fall on the same instant in many plans (a cadence's day at its time):
the soonest six of 10,000 partnerships can be six of 5,000 due at one instant, which this index
finds by walking names in order (``plans.dashboard._soonest_reviews``). SQLite orders names
by code points already and has no "C" collation to name: nothing is done there.
"""

from django.db import migrations

NAME = "alignment_partnership_name_c_id"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS {NAME} ON alignment_partnership ((name COLLATE "C"), id)')


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("alignment", "0012_msp_partner_type")]

    operations = [migrations.RunPython(create, drop)]
