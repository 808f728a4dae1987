"""Forms of the dashboard: its filters and starting a new partnership."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from alignment.forms import PlainForm
from alignment.models import Partnership


class DashboardFilterForm(PlainForm):
    SORTS = [
        ("attention", "Needs attention first"),
        ("name", "Name"),
        ("health", "Health (lowest first)"),
        ("-health", "Health (highest first)"),
        ("review", "Next review"),
    ]

    q = forms.CharField(label="Search", required=False, max_length=100)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *Partnership.Status.choices]
    )
    waiting = forms.BooleanField(label="Only with goals waiting for us", required=False)
    sort = forms.ChoiceField(label="Sort by", required=False, choices=SORTS)


class PartnershipCreateForm(PlainForm):
    partner_name = forms.CharField(label="Partner company", max_length=200)
    name = forms.CharField(
        label="Partnership name", max_length=200, required=False, help_text="Leave empty for “Your company × Partner”."
    )
    partner_type = forms.ChoiceField(
        label="Kind of partner", choices=Partnership.PartnerType.choices, initial=Partnership.PartnerType.RESELLER
    )
    vendor = forms.ChoiceField(label="Your company", choices=())

    def __init__(self, *args: Any, organisations: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organisations = {str(o.pk): o for o in organisations}
        cast(forms.ChoiceField, self.fields["vendor"]).choices = [(str(o.pk), o.name) for o in organisations]
        if len(organisations) == 1:
            self.fields["vendor"].widget = forms.HiddenInput()
            self.fields["vendor"].initial = str(organisations[0].pk)

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        kwargs = {
            "vendor": self.organisations[data["vendor"]],
            "partner_name": data["partner_name"],
            "partner_type": data["partner_type"],
        }
        if data["name"].strip():
            kwargs["name"] = data["name"].strip()
        return kwargs
