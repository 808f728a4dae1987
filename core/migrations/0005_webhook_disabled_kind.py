# Outbound webhooks (issue 15): the organisation's admins hear when a webhook is turned off after
# failing deliveries.

from django.db import migrations, models

KINDS = [
    ("invitation", "Invitation to a partnership"),
    ("invitation_confirm", "An invitation of a colleague waits for confirmation"),
    ("invitation_link_request", "An invitee asked for a new link"),
    ("goal_proposed", "A goal was proposed"),
    ("goal_approved", "A goal was approved"),
    ("goal_changes_requested", "Changes to a goal were requested"),
    ("review_upcoming", "An alignment review is coming up"),
    ("review_overdue", "A review was due and has not been recorded"),
    ("approval_waiting", "A goal is waiting for approval"),
    ("checkin_missing", "A goal has no recent check-in"),
    ("weekly_digest", "Weekly digest"),
    ("signup_confirm", "Confirm the address of a sign-up"),
    ("signup_existing", "Someone tried to sign up with a registered address"),
    ("webhook_disabled", "A webhook was turned off after failing deliveries"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_signup_kinds"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="outboxmessage", name="outbox_kind_valid"),
        migrations.AlterField(
            model_name="outboxmessage", name="kind", field=models.CharField(choices=KINDS, max_length=24)
        ),
        migrations.AddConstraint(
            model_name="outboxmessage",
            constraint=models.CheckConstraint(
                condition=models.Q(("kind__in", [k for k, _ in KINDS])), name="outbox_kind_valid"
            ),
        ),
    ]
