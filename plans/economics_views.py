"""The economics panel of the plan page: each side's business drivers and its figures per period,
private to that side unless its approvers share them, and what each objective moves for each side.

Thin views over ``alignment.economics``: the panel is rendered from ``load_economics``, which only
ever holds the figures the reader may see. Every action answers with the panel (htmx swaps it), or
with the panel and the form's errors (422). Without JavaScript every form is a plain POST that
redirects to the plan page, and a figure's edit form is a page of its own."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alignment import economics
from alignment.access import Access
from alignment.forms import DATE, PlainForm, VersionedForm
from alignment.models import Driver, DriverFigure, FigureVisibility, Objective
from alignment.web import FORM_ERROR, PlanView
from core.errors import NotAllowed, NotFound


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


class FigureEditForm(VersionedForm):
    """What ``figure_update`` changes of a recorded figure (who sees it has its own buttons)."""

    period_start = forms.DateField(label=_("Period from"), widget=DATE)
    period_end = forms.DateField(label=_("Period to"), widget=DATE)
    value = forms.DecimalField(label=_("Figure"), max_digits=18, decimal_places=4)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    conflict_fields = ("period_start", "period_end", "value", "note")


# One figure is edited at a time: opening another form re-renders the panel. The id names no
# figure, so the presence list never tells the other side the id of a private one.
FIGURE_EDIT_ID = "economics-figure-edit"


def panel_context(
    access: Access,
    *,
    editing: Any = None,
    edit_form: FigureEditForm | None = None,
    conflict: dict[str, Any] | None = None,
    **forms_: Any,
) -> dict[str, Any]:
    """The panel: the reader's side's drivers and figures, the other side's drivers with what it
    shared, and per objective the drivers it moves (three queries for the economics, one for the
    objectives). With ``editing``, that figure of the reader's side is shown as ``edit_form``."""
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
        "editing": editing,
        "edit_form": edit_form,
        # A figure older than the panel shows is edited above the lists.
        "editing_elsewhere": editing is not None
        and not any(f.pk == editing for view in data.own for f in view.figures),
        "conflict": conflict,
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


class FigureEdit(EconomicsAction):
    """Change one of one's own side's figures (period, value, note) through ``figure_update``, at
    the version the form was opened on: a save against a newer version shows both side by side and
    keeps what was typed. With htmx the panel comes back with the form in the figure's place;
    without, the form is a page of its own and a save redirects to the plan."""

    figure: DriverFigure

    def find_figure(self) -> DriverFigure:
        """The figure as ``figure_update`` finds it: another side's private figure does not exist
        for the reader (404), a shared one is not theirs to change (403), and only editors change
        figures (403)."""
        figure = (
            economics.figures_visible_to(self.access).select_related("driver").filter(pk=self.kwargs["fid"]).first()
        )
        if figure is None:
            raise NotFound(gettext("No such figure."))
        self.access.require_edit("change figures")
        if figure.driver.side != self.access.side:
            raise NotAllowed(gettext("This figure is the other side's; each side changes its own."))
        self.figure = figure
        return figure

    def fragment_id(self) -> str:
        return FIGURE_EDIT_ID

    def get(self, request: HttpRequest, pid: uuid.UUID, fid: uuid.UUID) -> HttpResponse:
        figure = self.find_figure()
        initial = {name: getattr(figure, name) for name in FigureEditForm.conflict_fields}
        # As typed: 71.25, not the stored 71.2500.
        initial["value"] = format(figure.value.normalize(), "f")
        self.form = FigureEditForm(initial=initial | {"version": figure.version}, **self.form_options())
        return self.render_form()

    def post(self, request: HttpRequest, pid: uuid.UUID, fid: uuid.UUID) -> HttpResponse:
        self.find_figure()
        self.form = FigureEditForm(data=request.POST, **self.form_options())
        if not self.form.is_valid():
            return self.render_form(status=FORM_ERROR)
        economics.figure_update(
            access=self.access,
            figure_id=fid,
            expected_version=self.form.cleaned_data["version"],
            **self.form.service_changes(),
        )
        return self.done()

    def render_form(self, status: int = 200, conflict: dict[str, Any] | None = None) -> HttpResponse:
        if getattr(self.request, "htmx", False):
            return render_panel(
                self.request, self.access, status=status, editing=self.figure.pk, edit_form=self.form, conflict=conflict
            )
        context = {
            "access": self.access,
            "partnership": self.access.partnership,
            "figure": self.figure,
            "edit_form": self.form,
            "conflict": conflict,
            "standalone": True,
        }
        return render(self.request, "plan/economics_figure_edit.html", context, status=status)
