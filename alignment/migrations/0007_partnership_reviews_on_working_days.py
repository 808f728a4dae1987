# Reviews the cadence puts on a weekend move to the nearest working day unless a partnership
# turns this off. Existing partnerships get the new behaviour for reviews scheduled from now on.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alignment", "0006_outbox_and_snapshots_leave_alignment"),
    ]

    operations = [
        migrations.AddField(
            model_name="partnership",
            name="reviews_on_working_days",
            field=models.BooleanField(
                default=True, help_text="Move reviews that fall on a weekend to the nearest working day."
            ),
        ),
    ]
