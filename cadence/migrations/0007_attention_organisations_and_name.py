"""The stored attention rows carry their partnership's organisations and name, and every
partnership has a row (``cadence.models.PartnershipAttention``): the dashboard reads a portfolio
from this table alone. Rows missing (a partnership not stored yet) are added with zeros, to be
computed by the next store or the hourly pass, as a new partnership's row is."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill(apps, schema_editor):
    Partnership = apps.get_model("alignment", "Partnership")
    Attention = apps.get_model("cadence", "PartnershipAttention")
    now = django.utils.timezone.now()
    missing = Partnership.objects.exclude(pk__in=Attention.objects.values("partnership_id")).values_list(
        "pk", flat=True
    )
    Attention.objects.bulk_create(
        [Attention(partnership_id=pid, computed_at=now) for pid in missing.iterator(chunk_size=2000)],
        batch_size=2000,
        ignore_conflicts=True,
    )
    own = Partnership.objects.filter(pk=OuterRef("partnership_id"))
    Attention.objects.update(
        vendor_id=Subquery(own.values("vendor_id")[:1]),
        partner_id=Subquery(own.values("partner_id")[:1]),
        name=Subquery(own.values("name")[:1]),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_language_and_digest_frequency"),
        ("alignment", "0014_feed_horizon_function"),
        ("cadence", "0006_first_partnership_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="partnershipattention",
            name="name",
            field=models.CharField(default="", max_length=200),
        ),
        migrations.AddField(
            model_name="partnershipattention",
            name="partner",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.organisation"
            ),
        ),
        migrations.AddField(
            model_name="partnershipattention",
            name="vendor",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.organisation"
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
