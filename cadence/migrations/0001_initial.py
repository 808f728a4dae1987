# HealthSnapshot moves here from alignment; its table (alignment_healthsnapshot) stays as it is.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("alignment", "0006_outbox_and_snapshots_leave_alignment"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="HealthSnapshot",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("day", models.DateField()),
                        ("score", models.PositiveSmallIntegerField()),
                        ("components", models.JSONField(default=list)),
                        (
                            "partnership",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="health_snapshots",
                                to="alignment.partnership",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "alignment_healthsnapshot",
                        "ordering": ["day"],
                        "constraints": [
                            models.UniqueConstraint(fields=("partnership", "day"), name="health_snapshot_unique"),
                            models.CheckConstraint(condition=models.Q(("score__lte", 100)), name="health_snapshot_range"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
