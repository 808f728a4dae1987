# The outbox moves here from alignment (it was alignment.ReminderDelivery, for reminders only); its
# table (alignment_reminderdelivery) stays as it is. 0002 makes it the outbox of every e-mail.

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

KINDS = ["review_upcoming", "review_overdue", "approval_waiting", "checkin_missing", "weekly_digest", "goal_negotiation"]


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("alignment", "0006_outbox_and_snapshots_leave_alignment"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OutboxMessage",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("kind", models.CharField(choices=[(k, k) for k in KINDS], max_length=24)),
                        ("subject_type", models.CharField(max_length=24)),
                        ("subject_id", models.CharField(max_length=64)),
                        ("occurrence", models.DateTimeField()),
                        (
                            "status",
                            models.CharField(
                                choices=[("pending", "Pending"), ("sending", "Sending"), ("sent", "Sent"),
                                         ("failed", "Failed"), ("skipped", "Skipped (muted)")],
                                default="pending",
                                max_length=8,
                            ),
                        ),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("last_error", models.CharField(blank=True, max_length=500)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("claimed_at", models.DateTimeField(blank=True, null=True)),
                        ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                        ("sent_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "partnership",
                            models.ForeignKey(
                                blank=True, null=True, on_delete=django.db.models.deletion.CASCADE,
                                related_name="reminder_deliveries", to="alignment.partnership",
                            ),
                        ),
                        (
                            "recipient",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="reminders",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "alignment_reminderdelivery",
                        "ordering": ["-created_at"],
                        "indexes": [
                            models.Index(fields=["status", "next_attempt_at"], name="reminder_due"),
                            models.Index(fields=["partnership", "created_at"], name="reminder_log"),
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("kind", "subject_type", "subject_id", "occurrence", "recipient"),
                                name="reminder_once",
                            ),
                            models.CheckConstraint(condition=models.Q(("kind__in", KINDS)), name="reminder_kind_valid"),
                            models.CheckConstraint(
                                condition=models.Q(("status__in", ["pending", "sending", "sent", "failed", "skipped"])),
                                name="reminder_status_valid",
                            ),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
