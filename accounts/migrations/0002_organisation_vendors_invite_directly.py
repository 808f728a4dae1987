# An organisation decides whether its vendors may invite its people to a partnership directly, or
# whether one of its admins confirms each such invitation first (the default).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="organisation",
            name="vendors_invite_directly",
            field=models.BooleanField(
                default=False,
                help_text="Vendors may invite our colleagues to a partnership without one of our admins confirming.",
            ),
        ),
    ]
