"""Forms of the long-term part of the joint plan (vision, objectives), and the bases every form of
the plan uses (``PlainForm``, ``VersionedForm``)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Objective, Partnership

TEXTAREA = {"rows": 3}
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PlainForm(forms.Form):
    """Labels without a trailing colon (they sit above their fields)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class VersionedForm(PlainForm):
    """Every in-place edit form carries the version of the object it edits (no lost updates)."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    # Fields compared and shown side by side when a save meets a newer version.
    conflict_fields: tuple[str, ...] = ()

    def service_changes(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if k != "version"}


class VisionForm(VersionedForm):
    why_together = forms.CharField(
        label=_("Why we are in business together"),
        required=False,
        max_length=10000,
        widget=forms.Textarea(attrs=TEXTAREA),
    )
    what_we_hope = forms.CharField(
        label=_("What we hope to accomplish together"),
        required=False,
        max_length=10000,
        widget=forms.Textarea(attrs=TEXTAREA),
    )
    how_we_work = forms.CharField(
        label=_("How we best work together"), required=False, max_length=10000, widget=forms.Textarea(attrs=TEXTAREA)
    )
    horizon = forms.DateField(label=_("Looking ahead to"), required=False, widget=DATE)
    conflict_fields = ("why_together", "what_we_hope", "how_we_work", "horizon")


class ObjectiveForm(VersionedForm):
    title = forms.CharField(label=_("Objective"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 2})
    )
    vendor_gain = forms.CharField(
        label=_("What it gives the vendor"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    partner_gain = forms.CharField(
        label=_("What it gives the partner"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    success_measure = forms.CharField(label=_("How success is measured"), required=False, max_length=5000)
    metric_name = forms.CharField(label=_("Metric"), required=False, max_length=120)
    metric_unit = forms.CharField(label=_("Unit"), required=False, max_length=40)
    baseline = forms.DecimalField(label=_("Baseline"), required=False, max_digits=18, decimal_places=4)
    target = forms.DecimalField(label=_("Long-term target"), required=False, max_digits=18, decimal_places=4)
    target_date = forms.DateField(label=_("Target date"), required=False, widget=DATE)
    status = forms.ChoiceField(label=_("Status"), choices=Objective.Status.choices, initial=Objective.Status.ACTIVE)
    vendor_drivers = forms.MultipleChoiceField(
        label=_("Vendor's business drivers it serves"), required=False, widget=forms.CheckboxSelectMultiple
    )
    partner_drivers = forms.MultipleChoiceField(
        label=_("Partner's business drivers it serves"), required=False, widget=forms.CheckboxSelectMultiple
    )
    conflict_fields = (
        "title",
        "description",
        "vendor_gain",
        "partner_gain",
        "success_measure",
        "metric_name",
        "metric_unit",
        "baseline",
        "target",
        "target_date",
        "status",
        "vendor_drivers",
        "partner_drivers",
    )

    def __init__(self, *args: Any, partnership: Partnership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for side in ("vendor", "partner"):
            drivers = partnership.drivers_for(side)
            name = f"{side}_drivers"
            if drivers:
                cast(forms.MultipleChoiceField, self.fields[name]).choices = [(d, d) for d in drivers]
            else:
                del self.fields[name]


class ObjectiveCreateForm(ObjectiveForm):
    version = None  # type: ignore[assignment]

    def service_changes(self) -> dict[str, Any]:
        return dict(self.cleaned_data)
