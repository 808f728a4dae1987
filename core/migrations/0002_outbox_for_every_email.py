# The outbox becomes the one path of every e-mail: invitations (to an address without an account)
# and the goal negotiation e-mails join the reminders. A recipient is a person or an address,
# named in the unique key by ``recipient_key``; the partnership is a plain id (the toolkit knows
# no partnerships), which keeps every row the partnership's log already holds.

from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion

KINDS = [
    ("invitation", "Invitation to a partnership"),
    ("goal_proposed", "A goal was proposed"),
    ("goal_approved", "A goal was approved"),
    ("goal_changes_requested", "Changes to a goal were requested"),
    ("review_upcoming", "An alignment review is coming up"),
    ("review_overdue", "A review was due and has not been recorded"),
    ("approval_waiting", "A goal is waiting for approval"),
    ("checkin_missing", "A goal has no recent check-in"),
    ("weekly_digest", "Weekly digest"),
]


def name_recipients(apps, schema_editor):
    OutboxMessage = apps.get_model("core", "OutboxMessage")
    for pk, recipient_id in OutboxMessage.objects.values_list("pk", "recipient_id").iterator():
        OutboxMessage.objects.filter(pk=pk).update(recipient_key=f"user:{recipient_id}")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="outboxmessage", name="reminder_once"),
        migrations.RemoveConstraint(model_name="outboxmessage", name="reminder_kind_valid"),
        migrations.RemoveIndex(model_name="outboxmessage", name="reminder_log"),
        # The partnership becomes a plain id in the same column (the foreign key constraint goes).
        migrations.AlterField(
            model_name="outboxmessage",
            name="partnership",
            field=models.UUIDField(blank=True, null=True, db_column="partnership_id"),
        ),
        migrations.RenameField(model_name="outboxmessage", old_name="partnership", new_name="partnership_id"),
        migrations.AlterField(
            model_name="outboxmessage", name="partnership_id", field=models.UUIDField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="outboxmessage", name="context", field=models.JSONField(blank=True, default=dict)
        ),
        migrations.AddField(
            model_name="outboxmessage",
            name="to_email",
            field=models.EmailField(blank=True, help_text="For a recipient without an account.", max_length=254),
        ),
        migrations.AddField(
            model_name="outboxmessage",
            name="recipient_key",
            field=models.CharField(default="", max_length=300),
            preserve_default=False,
        ),
        migrations.RunPython(name_recipients, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="outboxmessage",
            name="recipient",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="outbox_messages",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="outboxmessage", name="kind", field=models.CharField(choices=KINDS, max_length=24)
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="status",
            field=models.CharField(
                choices=[("pending", "Pending"), ("sending", "Sending"), ("sent", "Sent"), ("failed", "Failed"),
                         ("skipped", "Skipped")],
                default="pending",
                max_length=8,
            ),
        ),
        migrations.AddIndex(
            model_name="outboxmessage",
            index=models.Index(fields=["partnership_id", "created_at"], name="reminder_log"),
        ),
        migrations.AddConstraint(
            model_name="outboxmessage",
            constraint=models.UniqueConstraint(
                fields=("kind", "subject_type", "subject_id", "occurrence", "recipient_key"), name="outbox_once"
            ),
        ),
        migrations.AddConstraint(
            model_name="outboxmessage",
            constraint=models.CheckConstraint(
                condition=models.Q(("kind__in", [k for k, _ in KINDS])), name="outbox_kind_valid"
            ),
        ),
        migrations.AddConstraint(
            model_name="outboxmessage",
            constraint=models.CheckConstraint(
                condition=models.Q(("recipient__isnull", False), models.Q(("to_email", ""), _negated=True), _connector="OR"),
                name="outbox_has_recipient",
            ),
        ),
    ]
