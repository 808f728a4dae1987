# The first goal waiting for each side and the first overdue commitment of each side, for the
# dashboard's inbox (``plans.dashboard._inbox``), filled for the partnerships that exist when it runs.

from django.db import migrations, models


def fill(apps, schema_editor):
    # Every row again, by the rules themselves (see 0002): the new columns of the rows stored before.
    from cadence.attention import store_all

    store_all()


class Migration(migrations.Migration):
    dependencies = [
        ("cadence", "0003_relationship_pulse"),
    ]

    operations = [
        migrations.AddField(
            model_name="partnershipattention",
            name="first_overdue_partner",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="partnershipattention",
            name="first_overdue_vendor",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="partnershipattention",
            name="first_waiting_partner",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="partnershipattention",
            name="first_waiting_vendor",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
