# The stored attention numbers of every partnership (``cadence.attention.store``), filled for the
# partnerships that exist when it runs.

import django.db.models.deletion
from django.db import migrations, models


def fill(apps, schema_editor):
    # The rows are computed by the rules themselves (``goals.rules``, ``cadence.health``, …), which
    # are code, not history: this uses the code of the release that adds the table. The hourly beat
    # task and ``manage.py store_attention`` compute the same rows again at any time.
    from cadence.attention import store_all

    store_all()


class Migration(migrations.Migration):
    dependencies = [
        ("alignment", "0010_change_partnership_time"),
        ("cadence", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="PartnershipAttention",
            fields=[
                (
                    "partnership",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="attention",
                        serialize=False,
                        to="alignment.partnership",
                    ),
                ),
                ("waiting_vendor", models.PositiveIntegerField(default=0)),
                ("waiting_partner", models.PositiveIntegerField(default=0)),
                ("overdue_vendor", models.PositiveIntegerField(default=0)),
                ("overdue_partner", models.PositiveIntegerField(default=0)),
                ("next_review", models.DateTimeField(blank=True, null=True)),
                ("health", models.PositiveSmallIntegerField(default=0)),
                ("started", models.BooleanField(default=False)),
                ("agreed_goals", models.PositiveIntegerField(default=0)),
                ("current_goals", models.PositiveIntegerField(default=0)),
                ("on_track_goals", models.PositiveIntegerField(default=0)),
                ("computed_at", models.DateTimeField()),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("health__lte", 100)), name="attention_health_range")
                ],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
