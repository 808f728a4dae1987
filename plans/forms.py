"""Forms of the dashboard: its filters and starting a new partnership."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from alignment.forms import PlainForm
from alignment.models import Partnership


class DashboardFilterForm(PlainForm):
    SORTS = [
        ("attention", _("Needs attention first")),
        ("name", _("Name")),
        ("health", _("Health (lowest first)")),
        ("-health", _("Health (highest first)")),
        ("review", _("Next review")),
    ]

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *Partnership.Status.choices]
    )
    waiting = forms.BooleanField(label=_("Only with goals waiting for us"), required=False)
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=SORTS)


class PartnershipCreateForm(PlainForm):
    partner_name = forms.CharField(label=_("Partner company"), max_length=200)
    name = forms.CharField(
        label=_("Partnership name"),
        max_length=200,
        required=False,
        help_text=_("Leave empty for “Your company × Partner”."),
    )
    partner_type = forms.ChoiceField(
        label=_("Kind of partner"), choices=Partnership.PartnerType.choices, initial=Partnership.PartnerType.RESELLER
    )
    vendor = forms.ChoiceField(label=_("Your company"), choices=())

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
