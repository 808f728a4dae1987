"""Forms of goals and what hangs on them: commitments, check-ins, comments, change requests and
deriving interim goals from an objective."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.utils import timezone

from alignment.forms import PlainForm, VersionedForm
from alignment.models import Side

from .derive import MAX_PERIODS
from .models import Direction

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
NUMBER: dict[str, Any] = {"max_digits": 18, "decimal_places": 4}


class GoalTermsForm(VersionedForm):
    title = forms.CharField(label="Goal", max_length=200)
    description = forms.CharField(
        label="Description", required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 2})
    )
    period_start = forms.DateField(label="Period starts", widget=DATE)
    period_end = forms.DateField(label="Period ends", widget=DATE)
    metric_name = forms.CharField(label="Metric", max_length=120)
    metric_unit = forms.CharField(label="Unit", required=False, max_length=40)
    baseline = forms.DecimalField(label="Baseline", **NUMBER)
    target = forms.DecimalField(label="Target", **NUMBER)
    direction = forms.ChoiceField(label="Direction", choices=Direction.choices)
    external_key = forms.CharField(
        label="External key",
        required=False,
        max_length=100,
        help_text="The goal's id in your CRM or spreadsheet, so imports and API clients can name it. "
        "Optional; unique in this plan; not part of the terms.",
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
            self.add_error("period_end", "The period must end on or after its start.")
        return data


class GoalCreateForm(GoalTermsForm):
    version = None  # type: ignore[assignment]
    vendor_commitment = forms.CharField(
        label="What the vendor commits to", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    partner_commitment = forms.CharField(
        label="What the partner commits to", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
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
    side = forms.ChoiceField(label="Side", choices=Side.choices)
    text = forms.CharField(label="Commitment", max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    owner = forms.ChoiceField(label="Owner", required=False, choices=())
    due_date = forms.DateField(label="Due", required=False, widget=DATE)
    conflict_fields = ("text", "due_date")

    def __init__(self, *args: Any, members: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["owner"]).choices = [("", "Nobody yet")] + [
            (str(m.user_id), f"{m.user.display_name} ({m.side})") for m in members
        ]

    def service_changes(self) -> dict[str, Any]:
        data = super().service_changes()
        data["owner"] = int(data["owner"]) if data.get("owner") else None
        return data


class CommitmentCreateForm(CommitmentForm):
    version = None  # type: ignore[assignment]


class CheckInForm(PlainForm):
    value = forms.DecimalField(label="Measured value", **NUMBER)
    measured_on = forms.DateField(label="Measured on", widget=DATE)
    confidence = forms.TypedChoiceField(
        label="Confidence of reaching the target",
        coerce=int,
        initial=3,
        choices=[
            (1, "1 – very unlikely"),
            (2, "2 – unlikely"),
            (3, "3 – even"),
            (4, "4 – likely"),
            (5, "5 – very likely"),
        ],
    )
    note = forms.CharField(label="Note", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["measured_on"].initial = timezone.localdate()


class CommentForm(PlainForm):
    body = forms.CharField(label="Comment", max_length=10000, widget=forms.Textarea(attrs={"rows": 2}))


class RequestChangesForm(PlainForm):
    comment = forms.CharField(label="What should change?", max_length=10000, widget=forms.Textarea(attrs={"rows": 3}))


class CloseForm(PlainForm):
    outcome = forms.ChoiceField(
        label="Outcome", choices=[("achieved", "Achieved"), ("missed", "Missed"), ("dropped", "Dropped")]
    )
    note = forms.CharField(
        label="Note (why, what we learnt)", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class DeriveOptionsForm(PlainForm):
    length = forms.ChoiceField(
        label="Period length",
        initial="quarter",
        choices=[("month", "Month"), ("quarter", "Quarter"), ("half", "Half-year"), ("year", "Year")],
    )
    count = forms.IntegerField(
        label="How many periods",
        required=False,
        min_value=1,
        max_value=MAX_PERIODS,
        widget=forms.NumberInput(attrs={"placeholder": "up to the target date"}),
        help_text="Leave empty for as many as reach the objective's target date.",
    )


class SuggestionForm(PlainForm):
    include = forms.BooleanField(label="Create", required=False, initial=True)
    title = forms.CharField(label="Goal", max_length=200)
    period_start = forms.DateField(label="From", widget=DATE)
    period_end = forms.DateField(label="To", widget=DATE)
    baseline = forms.DecimalField(label="Baseline", **NUMBER)
    target = forms.DecimalField(label="Target", **NUMBER)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns the cleaned data
        start, end = data.get("period_start"), data.get("period_end")
        if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
            self.add_error("period_end", "Must be on or after the start.")
        return data


SuggestionFormSet = forms.formset_factory(
    SuggestionForm, extra=0, max_num=MAX_PERIODS, absolute_max=MAX_PERIODS, validate_max=True
)


class CommitAndApproveForm(PlainForm):
    """What the side whose commitment a proposed goal lacks will do, given as it approves."""

    revision = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    text = forms.CharField(
        label="What our side will do",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="A concrete action your side takes towards this goal, e.g. “Two certified consultants "
        "run three joint workshops”.",
    )
    owner = forms.ChoiceField(label="Who owns it", required=False, choices=())
    due_date = forms.DateField(label="Done by", required=False, widget=DATE)

    def __init__(self, *args: Any, members: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["owner"]).choices = [("", "Nobody in particular")] + [
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
