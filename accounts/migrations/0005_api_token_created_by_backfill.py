"""Tokens issued before tokens recorded who made them were made by their holder (its own migration:
on PostgreSQL the update's deferred foreign-key checks may not share a transaction with the index
the previous migration creates)."""

from django.db import migrations
from django.db.models import F


def personal_tokens_were_made_by_their_holder(apps, schema_editor):
    apps.get_model("accounts", "ApiToken").objects.filter(organisation__isnull=True).update(created_by=F("user"))


class Migration(migrations.Migration):

    dependencies = [("accounts", "0004_api_token_scopes_and_service_tokens")]

    operations = [migrations.RunPython(personal_tokens_were_made_by_their_holder, migrations.RunPython.noop)]
