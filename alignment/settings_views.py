"""Partnership settings: the partnership itself, its economic model, the review schedule, each side's
business drivers, and the people of each side with their roles.

Everyone in the partnership may read the settings; only admins of an organisation change them
(``Access.can_manage``), each for their own side's drivers and people, except the review schedule,
which the partnership's approvers change too (``Access.can_change_schedule``). Every change goes through
``partnership_update`` (version-checked), ``member_update`` or ``member_remove``; errors are turned
into answers by ``PlanView`` (outsiders 404, non-admins 403, bad input back on the form).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.forms import timezone_choices
from alignment.web import PlanView
from core.errors import InvalidInput
from core.templatetags.formatting import side_word

from . import services
from .forms import VersionedForm
from .models import Partnership, PartnershipMember, Role, Side

TEXTAREA = {"rows": 3}


class GeneralForm(VersionedForm):
    name = forms.CharField(label=_("Partnership name"), max_length=200)
    partner_type = forms.ChoiceField(label=_("Partner type"), choices=Partnership.PartnerType.choices)
    status = forms.ChoiceField(label=_("Status"), choices=Partnership.Status.choices)
    conflict_fields = ("name", "partner_type", "status")


class EconomicsForm(VersionedForm):
    percent: dict[str, Any] = {
        "required": False,
        "min_value": Decimal(0),
        "max_value": Decimal(100),
        "max_digits": 5,
        "decimal_places": 2,
    }
    margin_percent = forms.DecimalField(label=_("Partner margin (%)"), **percent)
    referral_fee_percent = forms.DecimalField(label=_("Referral fee (%)"), **percent)
    economic_notes = forms.CharField(
        label=_("Notes on the economic model"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs=TEXTAREA),
        help_text=_("Context for the plan, never its goal."),
    )
    conflict_fields = ("margin_percent", "referral_fee_percent", "economic_notes")


class ScheduleForm(VersionedForm):
    review_cadence = forms.ChoiceField(label=_("Review cadence"), choices=Partnership.Cadence.choices)
    review_rrule = forms.CharField(
        label=_("Custom recurrence (RRULE)"),
        required=False,
        max_length=500,
        help_text=_("Only for a custom cadence, e.g. FREQ=MONTHLY;INTERVAL=2;BYDAY=1TU."),
    )
    review_time = forms.TimeField(
        label=_("Local time of reviews"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    review_duration_minutes = forms.IntegerField(label=_("Length (minutes)"), min_value=15, max_value=480)
    timezone = forms.ChoiceField(label=_("Time zone of reviews"), choices=timezone_choices)
    reminder_offsets_days = forms.CharField(
        label=_("Reminders (days before a review)"),
        required=False,
        max_length=100,
        help_text=_("Whole numbers from 0 to 90, separated by commas, e.g. 7, 1."),
    )
    reviews_on_working_days = forms.BooleanField(
        label=_("Keep reviews off weekends"),
        required=False,
        help_text=_(
            "A review that falls on a Saturday moves to the Friday before, one on a Sunday to the Monday "
            "after (in the time zone of reviews). A custom rule that names weekend days is kept as written."
        ),
    )
    conflict_fields = (
        "review_cadence",
        "review_rrule",
        "review_time",
        "review_duration_minutes",
        "timezone",
        "reminder_offsets_days",
        "reviews_on_working_days",
    )

    def clean_reminder_offsets_days(self) -> list[int]:
        raw = self.cleaned_data["reminder_offsets_days"].replace(";", ",")
        days = []
        for part in (p.strip() for p in raw.split(",")):
            if not part:
                continue
            if not part.isdigit() or not 0 <= int(part) <= 90:
                raise forms.ValidationError(gettext("“%(part)s” is not a whole number from 0 to 90.") % {"part": part})
            days.append(int(part))
        if len(days) > 10:
            raise forms.ValidationError(gettext("At most 10 reminders."))
        return sorted(set(days), reverse=True)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("review_cadence") == Partnership.Cadence.CUSTOM and not (data.get("review_rrule") or "").strip():
            self.add_error("review_rrule", gettext("A custom cadence needs a recurrence rule."))
        return data


class DriversForm(VersionedForm):
    """One side's strategic business drivers, one per line (the field is named after the side)."""

    side: str = Side.VENDOR

    def __init__(self, *args: Any, side: str = Side.VENDOR, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.side = side
        self.field_name = f"{side}_drivers"
        self.fields[self.field_name] = forms.CharField(
            label=gettext("Business drivers of the %(side)s side") % {"side": side_word(side)},
            required=False,
            max_length=3000,
            widget=forms.Textarea(attrs={"rows": 5}),
            help_text=gettext("One per line, e.g. services revenue, utilisation, billable rate (at most 20)."),
        )
        self.conflict_fields = (self.field_name,)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        raw = data.get(self.field_name)
        if isinstance(raw, str):
            drivers = [line.strip() for line in raw.splitlines() if line.strip()]
            if len(drivers) > 20:
                self.add_error(self.field_name, gettext("At most 20 drivers."))
            elif any(len(d) > 120 for d in drivers):
                self.add_error(self.field_name, gettext("Keep each driver under 120 characters."))
            else:
                data[self.field_name] = list(dict.fromkeys(drivers))
        return data


SECTIONS: dict[str, type[VersionedForm]] = {
    "general": GeneralForm,
    "economics": EconomicsForm,
    "schedule": ScheduleForm,
    "drivers": DriversForm,
}


def initial_for(p: Partnership, section: str, side: str) -> dict[str, Any]:
    if section == "drivers":
        return {"version": p.version, f"{side}_drivers": "\n".join(p.drivers_for(side))}
    form_class = SECTIONS[section]
    initial: dict[str, Any] = {"version": p.version}
    for name in form_class.base_fields:
        if name == "version":
            continue
        value = getattr(p, name)
        initial[name] = ", ".join(str(d) for d in value) if name == "reminder_offsets_days" else value
    return initial


def _form(section: str, access: Any, data: Any = None) -> VersionedForm:
    kwargs: dict[str, Any] = {"side": access.side} if section == "drivers" else {}
    if data is not None:
        return SECTIONS[section](data=data, **kwargs)
    return SECTIONS[section](initial=initial_for(access.partnership, section, access.side), **kwargs)


def render_settings(
    request: HttpRequest,
    access: Any,
    *,
    bound: VersionedForm | None = None,
    section: str = "",
    conflict: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    p = access.partnership
    forms_by_section = {name: _form(name, access) for name in SECTIONS}
    if bound is not None:
        forms_by_section[section] = bound
    members: dict[str, list[PartnershipMember]] = {Side.VENDOR: [], Side.PARTNER: []}
    for m in (
        PartnershipMember.objects.filter(partnership=p)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    ):
        members[m.side].append(m)
    return render(
        request,
        "settings/partnership.html",
        {
            "access": access,
            "partnership": p,
            "forms": forms_by_section,
            "section": section,
            "conflict": conflict,
            "members": members,
            "own_side": access.side,
            "other_side": access.other_side,
            "roles": Role.choices,
            "own_drivers": p.drivers_for(access.side),
            "other_drivers": p.drivers_for(access.other_side),
        },
        status=status,
    )


class PartnershipSettings(PlanView):
    """``GET /p/<pid>/settings/``: the settings page (read-only for people who are not admins)."""

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return render_settings(request, self.access)


class PartnershipSettingsSection(PlanView):
    """``POST /p/<pid>/settings/<section>/``: save one section through ``partnership_update``."""

    http_method_names = ["post"]
    section = ""

    def form_kwargs(self) -> dict[str, Any]:
        return {"side": self.access.side} if self.section == "drivers" else {}

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        self.section = kwargs["section"]
        if self.section not in SECTIONS:
            raise Http404("No such settings section.")
        if self.section == "schedule":
            self.access.require_change_schedule()  # approvers too
        else:
            self.access.require_manage("change the partnership settings")
        self.form = _form(self.section, self.access, data=request.POST)
        if not self.form.is_valid():
            return self.render_form(status=400)
        changes = self.form.service_changes()
        services.partnership_update(access=self.access, expected_version=self.form.cleaned_data["version"], **changes)
        messages.success(request, gettext("Settings saved."))
        return redirect(reverse("partnership_settings", args=[self.access.partnership.pk]) + f"#{self.section}")

    def render_form(self, status: int = 200, conflict: dict[str, Any] | None = None) -> HttpResponse:
        return render_settings(
            self.request, self.access, bound=self.form, section=self.section, conflict=conflict, status=status
        )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class MemberRole(PlanView):
    """``POST /p/<pid>/settings/members/<mid>/role/``: change the role of someone on the admin's side."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        self.access.require_manage("change roles")
        form = RoleForm(request.POST)
        if not form.is_valid():
            return self.refusal(InvalidInput(gettext("Choose a role: viewer, editor or approver.")))
        member = services.member_update(access=self.access, member_id=kwargs["mid"], role=form.cleaned_data["role"])
        messages.success(
            request,
            gettext("%(name)s is now %(role)s.")
            % {"name": member.user.display_name, "role": member.get_role_display().lower()},
        )
        return redirect(reverse("partnership_settings", args=[self.access.partnership.pk]) + "#people")


class MemberRemove(PlanView):
    """``POST /p/<pid>/settings/members/<mid>/remove/``: take someone of the admin's side off the
    partnership."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        self.access.require_manage("remove people")
        member = (
            PartnershipMember.objects.filter(partnership=self.access.partnership, pk=kwargs["mid"])
            .select_related("user")
            .first()
        )
        services.member_remove(access=self.access, member_id=kwargs["mid"])
        if member is None:
            messages.success(request, gettext("The person no longer has access to this partnership."))
        else:
            messages.success(
                request,
                gettext("%(name)s no longer has access to this partnership.") % {"name": member.user.display_name},
            )
        return redirect(reverse("partnership_settings", args=[self.access.partnership.pk]) + "#people")
