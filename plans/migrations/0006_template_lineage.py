"""Plan templates get a lineage (``plans.models.PlanTemplate``): what their applications are known
by. Existing rows get theirs from what they recorded: an organisation's copy of a shipped template
the shipped key, another organisation template its own id, an application the lineage of its
template, an applied item the lineage of its application."""

from django.db import migrations, models

ORG, PLAN = "org:", "plan:"


def fill_lineage(apps, schema_editor):
    PlanTemplate = apps.get_model("plans", "PlanTemplate")
    TemplateApplication = apps.get_model("plans", "TemplateApplication")
    AppliedTemplateItem = apps.get_model("plans", "AppliedTemplateItem")
    template_lineage = {}
    for row in PlanTemplate.objects.all().only("id", "based_on"):
        row.lineage = row.based_on or f"{ORG}{row.pk}"
        row.save(update_fields=["lineage"])
        template_lineage[f"{ORG}{row.pk}"] = row.lineage
    for application in TemplateApplication.objects.all().only("id", "template_ref"):
        ref = application.template_ref
        application.lineage = template_lineage.get(ref, ref)  # a shipped key, plan:<id>, or a deleted template's
        application.save(update_fields=["lineage"])
        AppliedTemplateItem.objects.filter(application=application).update(lineage=application.lineage)


class Migration(migrations.Migration):
    dependencies = [
        ("plans", "0005_plan_templates"),
    ]

    operations = [
        migrations.AddField(
            model_name="plantemplate",
            name="lineage",
            field=models.CharField(default="", max_length=60),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="templateapplication",
            name="lineage",
            field=models.CharField(default="", max_length=60),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="appliedtemplateitem",
            name="lineage",
            field=models.CharField(default="", max_length=60),
            preserve_default=False,
        ),
        migrations.RunPython(fill_lineage, migrations.RunPython.noop),
    ]
