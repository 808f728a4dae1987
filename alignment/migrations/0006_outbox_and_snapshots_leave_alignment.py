# The outbox (now core.OutboxMessage) and the health snapshots (now cadence.HealthSnapshot) move to
# the apps that own them. Their tables stay as they are: only Django's model state moves here.
# Invitations get the nonce their link token is derived from (see Invitation.issue_link).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alignment", "0005_change_log_without_duplicate_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="HealthSnapshot"),
                migrations.DeleteModel(name="ReminderDelivery"),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name="invitation",
            name="link_nonce",
            field=models.CharField(blank=True, default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="invitation",
            name="link_issued_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
