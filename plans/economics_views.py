"""The economics panel of the plan page: each side's business drivers and its figures per period,
private to that side unless its approvers share them, and what each objective moves for each side.

Thin views over ``alignment.economics``: the panel is rendered from ``load_economics``, which only
ever holds the figures the reader may see. Every action answers with the panel (htmx swaps it), or
with the panel and the form's errors (422)."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from alignment import economics
from alignment.access import Access
from alignment.forms import DATE, PlainForm
from alignment.models import Driver, FigureVisibility, Objective
from alignment.web import FORM_ERROR, PlanView


class DriverForm(PlainForm):
    name = forms.CharField(
        label=_("Name of the driver"), max_length=120, help_text=_("e.g. services revenue, utilisation")
    )
    unit = forms.CharField(label=_("Unit"), max_length=40, required=False, help_text=_("e.g. EUR k, %, deals"))


class FigureForm(PlainForm):
    driver = forms.ChoiceField(label=_("Driver"))
    period_start = forms.DateField(label=_("Period from"), widget=DATE)
    period_end = forms.DateField(label=_("Period to"), widget=DATE)
    value = forms.DecimalField(label=_("Figure"), max_digits=18, decimal_places=4)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    visibility = forms.ChoiceField(
        label=_("Who sees it"), choices=FigureVisibility.choices, initial=FigureVisibility.PRIVATE
    )

    def __init__(self, *args: Any, access: Access, drivers: list[Driver], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["driver"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(str(d.pk), f"{d.name} ({d.unit})" if d.unit else d.name) for d in drivers]
        if not access.can_approve:
            # Only the side's approvers share a figure: the others record private ones.
            del self.fields["visibility"]


def panel_context(access: Access, **forms_: Any) -> dict[str, Any]:
    """The panel: the reader's side's drivers and figures, the other side's drivers with what it
    shared, and per objective the drivers it moves (three queries for the economics, one for the
    objectives)."""
    data = economics.load_economics(access)
    objectives = list(Objective.objects.filter(partnership=access.partnership).order_by("position", "created_at"))
    moves = []
    for objective in objectives:
        linked = data.for_objective(objective.pk)
        if linked:
            moves.append(
                {
                    "objective": objective,
                    "own": [v for v in linked if v.driver.side == access.side],
                    "other": [v for v in linked if v.driver.side != access.side],
                }
            )
    own_drivers = [v.driver for v in data.own]
    return {
        "access": access,
        "partnership": access.partnership,
        "economics": data,
        "moves": moves,
        "driver_form": forms_.get("driver_form") or DriverForm(auto_id="economics-driver-%s"),
        "figure_form": forms_.get("figure_form")
        or FigureForm(access=access, drivers=own_drivers, auto_id="economics-figure-%s"),
    }


def render_panel(request: HttpRequest, access: Access, status: int = 200, **forms_: Any) -> HttpResponse:
    return render(request, "plan/_economics.html", panel_context(access, **forms_), status=status)


class EconomicsAction(PlanView):
    """A POST that changes the economics and answers with the panel (a plain POST: the plan page)."""

    def done(self) -> HttpResponse:
        if getattr(self.request, "htmx", False):
            return render_panel(self.request, self.access)
        return redirect(reverse("plan", args=[self.access.partnership.pk]) + "#economics")

    def render_form(self, status: int = 200, conflict: dict[str, Any] | None = None) -> HttpResponse:
        return render_panel(self.request, self.access, status=status, **{self.form_name: self.form})

    form_name = ""


class DriverAdd(EconomicsAction):
    form_name = "driver_form"

    def post(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        self.access.require_edit("add business drivers")
        self.form = DriverForm(data=request.POST, auto_id="economics-driver-%s")
        if not self.form.is_valid():
            return self.render_form(status=FORM_ERROR)
        economics.driver_add(access=self.access, **self.form.cleaned_data)
        return self.done()


class DriverRemove(EconomicsAction):
    def post(self, request: HttpRequest, pid: uuid.UUID, did: uuid.UUID) -> HttpResponse:
        economics.driver_remove(access=self.access, driver_id=did)
        return self.done()


class FigureRecord(EconomicsAction):
    form_name = "figure_form"

    def post(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        self.access.require_edit("record figures")
        drivers = list(Driver.objects.filter(partnership=self.access.partnership, side=self.access.side))
        self.form = FigureForm(data=request.POST, access=self.access, drivers=drivers, auto_id="economics-figure-%s")
        if not self.form.is_valid():
            return self.render_form(status=FORM_ERROR)
        data = dict(self.form.cleaned_data)
        economics.figure_record(access=self.access, driver_id=data.pop("driver"), **data)
        return self.done()


class FigureVisibilityChange(EconomicsAction):
    def post(self, request: HttpRequest, pid: uuid.UUID, fid: uuid.UUID) -> HttpResponse:
        economics.figure_set_visibility(
            access=self.access, figure_id=fid, visibility=request.POST.get("visibility", "")
        )
        return self.done()


class FigureDelete(EconomicsAction):
    def post(self, request: HttpRequest, pid: uuid.UUID, fid: uuid.UUID) -> HttpResponse:
        economics.figure_delete(access=self.access, figure_id=fid)
        return self.done()
