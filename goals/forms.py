"""Forms of goals and what hangs on them: commitments, check-ins, comments, change requests and
deriving interim goals from an objective."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from alignment.forms import PlainForm, VersionedForm
from alignment.models import Side
from core.templatetags.formatting import side_word

from .derive import MAX_PERIODS
from .models import Direction

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
NUMBER: dict[str, Any] = {"max_digits": 18, "decimal_places": 4}


class GoalTermsForm(VersionedForm):
    title = forms.CharField(label=_("Goal"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 2})
    )
    period_start = forms.DateField(label=_("Period starts"), widget=DATE)
    period_end = forms.DateField(label=_("Period ends"), widget=DATE)
    metric_name = forms.CharField(label=_("Metric"), max_length=120)
    metric_unit = forms.CharField(label=_("Unit"), required=False, max_length=40)
    baseline = forms.DecimalField(label=_("Baseline"), **NUMBER)
    target = forms.DecimalField(label=_("Target"), **NUMBER)
    direction = forms.ChoiceField(label=_("Direction"), choices=Direction.choices)
    external_key = forms.CharField(
        label=_("External key"),
        required=False,
        max_length=100,
        help_text=_(
            "The goal's id in your CRM or spreadsheet, so imports and API clients can name it. "
            "Optional; unique in this plan; not part of the terms."
        ),
    )
    conflict_fields = (
        "title",
        "description",
        "period_start",
        "period_end",
        "metric_name",
        "metric_unit",
        "baseline",
        "target",
        "direction",
        "external_key",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns the cleaned data
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end < start:
            self.add_error("period_end", _("The period must end on or after its start."))
        return data


class GoalCreateForm(GoalTermsForm):
    version = None  # type: ignore[assignment]
    vendor_commitment = forms.CharField(
        label=_("What the vendor commits to"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    partner_commitment = forms.CharField(
        label=_("What the partner commits to"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def service_changes(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        commitments = []
        for side in Side.values:
            text = data.pop(f"{side}_commitment", "").strip()
            if text:
                commitments.append({"side": side, "text": text})
        return data | {"commitments": commitments}


class CommitmentForm(VersionedForm):
    side = forms.ChoiceField(label=pgettext_lazy("vendor or partner", "Side"), choices=Side.choices)
    text = forms.CharField(label=_("Commitment"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    owner = forms.ChoiceField(label=_("Owner"), required=False, choices=())
    due_date = forms.DateField(label=_("Due"), required=False, widget=DATE)
    conflict_fields = ("text", "due_date")

    def __init__(self, *args: Any, members: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["owner"]).choices = [("", _("Nobody yet"))] + [
            (str(m.user_id), _("%(name)s (%(side)s)") % {"name": m.user.display_name, "side": side_word(m.side)})
            for m in members
        ]

    def service_changes(self) -> dict[str, Any]:
        data = super().service_changes()
        data["owner"] = int(data["owner"]) if data.get("owner") else None
        return data


class CommitmentCreateForm(CommitmentForm):
    version = None  # type: ignore[assignment]


class CheckInForm(PlainForm):
    value = forms.DecimalField(label=_("Measured value"), **NUMBER)
    measured_on = forms.DateField(label=_("Measured on"), widget=DATE)
    confidence = forms.TypedChoiceField(
        label=_("Confidence of reaching the target"),
        coerce=int,
        initial=3,
        choices=[
            (1, _("1 – very unlikely")),
            (2, _("2 – unlikely")),
            (3, _("3 – even")),
            (4, _("4 – likely")),
            (5, _("5 – very likely")),
        ],
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["measured_on"].initial = timezone.localdate()


class DisputeForm(VersionedForm):
    """The other side's number for a figure, and why it differs (``check_ins.check_in_dispute``)."""

    value = forms.DecimalField(label=_("Your side's number"), **NUMBER)
    note = forms.CharField(label=_("Why it differs"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


class CorrectionForm(VersionedForm):
    """A figure of a closed goal corrected after the close, and why (``check_ins.check_in_update``
    with ``correction``): the history shows the value before and after with the reason."""

    value = forms.DecimalField(label=_("Measured value"), **NUMBER)
    measured_on = forms.DateField(label=_("Measured on"), widget=DATE)
    reason = forms.CharField(
        label=_("Why it is corrected"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("The history shows the reason with the value before and after."),
    )
    conflict_fields = ("value", "measured_on")


class CommentForm(PlainForm):
    body = forms.CharField(label=_("Comment"), max_length=10000, widget=forms.Textarea(attrs={"rows": 2}))


class RequestChangesForm(PlainForm):
    comment = forms.CharField(
        label=_("What should change?"), max_length=10000, widget=forms.Textarea(attrs={"rows": 3})
    )


class CloseForm(PlainForm):
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=[("achieved", _("Achieved")), ("missed", _("Missed")), ("dropped", _("Dropped"))]
    )
    note = forms.CharField(
        label=_("Note (why, what we learnt)"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class DeriveOptionsForm(PlainForm):
    length = forms.ChoiceField(
        label=_("Period length"),
        initial="quarter",
        choices=[("month", _("Month")), ("quarter", _("Quarter")), ("half", _("Half-year")), ("year", _("Year"))],
    )
    count = forms.IntegerField(
        label=_("How many periods"),
        required=False,
        min_value=1,
        max_value=MAX_PERIODS,
        widget=forms.NumberInput(attrs={"placeholder": _("up to the target date")}),
        help_text=_("Leave empty for as many as reach the objective's target date."),
    )


class SuggestionForm(PlainForm):
    include = forms.BooleanField(label=_("Create"), required=False, initial=True)
    title = forms.CharField(label=_("Goal"), max_length=200)
    period_start = forms.DateField(label=pgettext_lazy("start of a period", "From"), widget=DATE)
    period_end = forms.DateField(label=pgettext_lazy("end of a period", "To"), widget=DATE)
    baseline = forms.DecimalField(label=_("Baseline"), **NUMBER)
    target = forms.DecimalField(label=_("Target"), **NUMBER)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns the cleaned data
        start, end = data.get("period_start"), data.get("period_end")
        if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
            self.add_error("period_end", _("Must be on or after the start."))
        return data


SuggestionFormSet = forms.formset_factory(
    SuggestionForm, extra=0, max_num=MAX_PERIODS, absolute_max=MAX_PERIODS, validate_max=True
)


class CommitAndApproveForm(PlainForm):
    """What the side whose commitment a proposed goal lacks will do, given as it approves."""

    revision = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    text = forms.CharField(
        label=_("What our side will do"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "A concrete action your side takes towards this goal, e.g. “Two certified consultants "
            "run three joint workshops”."
        ),
    )
    owner = forms.ChoiceField(label=_("Who owns it"), required=False, choices=())
    due_date = forms.DateField(label=_("Done by"), required=False, widget=DATE)

    def __init__(self, *args: Any, members: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["owner"]).choices = [("", _("Nobody in particular"))] + [
            (str(m.user_id), m.user.display_name) for m in members
        ]

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "revision": data["revision"],
            "text": data["text"],
            "owner": int(data["owner"]) if data.get("owner") else None,
            "due_date": data.get("due_date"),
        }
