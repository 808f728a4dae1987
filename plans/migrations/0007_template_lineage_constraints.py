"""Every template, application and applied item has a lineage; an item's key is unique per
partnership and lineage (two templates' items with the same key no longer collide)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("plans", "0006_template_lineage"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="appliedtemplateitem",
            name="applied_template_item_unique",
        ),
        migrations.AddConstraint(
            model_name="appliedtemplateitem",
            constraint=models.UniqueConstraint(
                fields=("partnership", "lineage", "key"), name="applied_template_item_lineage_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="appliedtemplateitem",
            constraint=models.CheckConstraint(condition=~models.Q(lineage=""), name="applied_template_item_lineage"),
        ),
        migrations.AddConstraint(
            model_name="plantemplate",
            constraint=models.CheckConstraint(condition=~models.Q(lineage=""), name="plan_template_lineage"),
        ),
        migrations.AddConstraint(
            model_name="templateapplication",
            constraint=models.CheckConstraint(condition=~models.Q(lineage=""), name="template_application_lineage"),
        ),
    ]
