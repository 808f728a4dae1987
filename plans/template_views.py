"""Plan templates in the browser (``plans.templates_service``).

- A plan's "Start from a template" page: the templates, a preview of what the chosen one creates,
  and the button that applies it (drafts only, nothing twice).
- "Save as template" and "Clone structure to…" from a plan.
- An organisation's templates: the shipped ones (an admin customises one into the organisation's
  own) and the organisation's own, which its admins edit and delete.

Outsiders get 404, members without the role 403 (``PlanView`` and ``core.web.domain_errors``).
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.forms import BoundField
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from alignment.access import resolve_many, visible_partnerships
from alignment.models import Objective, Partnership, Side
from alignment.web import PlanView
from core.errors import DomainError, StaleVersion
from core.web import domain_errors, form_errors
from goals.derive import PERIOD_MONTHS

from . import template_library as library
from . import templates_service as templates
from .models import AppliedTemplateItem, PlanTemplate, TemplateType

# --- Forms ----------------------------------------------------------------------------------------


class SaveTemplateForm(forms.Form):
    name = forms.CharField(label=_("Name of the template"), max_length=library.NAME_LIMIT)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class CloneForm(forms.Form):
    target = forms.ChoiceField(label=_("Copy the structure to"))

    def __init__(self, *args: Any, targets: list[tuple[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["target"]).choices = targets


LENGTH_CHOICES = [
    ("month", _("Months")),
    ("quarter", _("Quarters")),
    ("half", _("Half-years")),
    ("year", _("Years")),
]
assert {k for k, _label in LENGTH_CHOICES} == set(PERIOD_MONTHS)


def _objective_fields() -> dict[str, forms.Field]:
    area = {"rows": 2}
    return {
        "key": forms.CharField(widget=forms.HiddenInput, required=False),
        "title": forms.CharField(label=_("Objective"), max_length=200, required=False),
        "description": forms.CharField(
            label=_("Description"), max_length=10000, required=False, widget=forms.Textarea(attrs=area)
        ),
        "vendor_gain": forms.CharField(
            label=_("What it gives the vendor"), max_length=5000, required=False, widget=forms.Textarea(attrs=area)
        ),
        "partner_gain": forms.CharField(
            label=_("What it gives the partner"), max_length=5000, required=False, widget=forms.Textarea(attrs=area)
        ),
        "vendor_drivers": forms.CharField(
            label=_("Vendor drivers it moves"),
            required=False,
            help_text=_("Names from the vendor's drivers above, separated by commas."),
        ),
        "partner_drivers": forms.CharField(
            label=_("Partner drivers it moves"),
            required=False,
            help_text=_("Names from the partner's drivers above, separated by commas."),
        ),
        "success_measure": forms.CharField(
            label=_("How success is measured"), max_length=5000, required=False, widget=forms.Textarea(attrs=area)
        ),
        "metric_name": forms.CharField(label=_("Metric"), max_length=120, required=False),
        "metric_unit": forms.CharField(label=_("Unit"), max_length=40, required=False),
        "baseline": forms.DecimalField(label=_("Suggested baseline"), required=False, max_digits=18, decimal_places=4),
        "target": forms.DecimalField(label=_("Suggested target"), required=False, max_digits=18, decimal_places=4),
        "length": forms.ChoiceField(label=_("Goals per"), choices=LENGTH_CHOICES, initial="quarter", required=False),
        "periods": forms.IntegerField(
            label=_("Number of goals"), min_value=1, max_value=library.MAX_PERIODS, initial=4, required=False
        ),
        "vendor_commitment": forms.CharField(label=_("Suggested vendor commitment"), max_length=1000, required=False),
        "partner_commitment": forms.CharField(label=_("Suggested partner commitment"), max_length=1000, required=False),
        "remove": forms.BooleanField(label=_("Remove this objective"), required=False),
    }


def _drivers_text(drivers: list[dict[str, str]], side: str) -> str:
    return "\n".join(f"{d['name']} | {d['unit']}" if d["unit"] else d["name"] for d in drivers if d["side"] == side)


def _parse_drivers(text: str, side: str) -> list[dict[str, str]]:
    drivers = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _sep, unit = line.partition("|")
        drivers.append({"side": side, "name": name.strip(), "unit": unit.strip()})
    return drivers


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


class TemplateForm(forms.Form):
    """An organisation's template: its name, kind of partner, vision prompts, each side's drivers
    (one a line, "name | unit") and its objectives (one empty group adds one)."""

    name = forms.CharField(label=_("Name"), max_length=library.NAME_LIMIT)
    partner_type = forms.ChoiceField(label=_("Kind of partner"), choices=TemplateType.choices)
    why_together = forms.CharField(
        label=_("Prompt: why we are in business together"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    what_we_hope = forms.CharField(
        label=_("Prompt: what we hope to accomplish together"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    how_we_work = forms.CharField(
        label=_("Prompt: how we best work together"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    vendor_drivers = forms.CharField(
        label=_("The vendor's drivers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One a line: the name, then | and the unit, e.g. “licence revenue | EUR k”."),
    )
    partner_drivers = forms.CharField(
        label=_("The partner's drivers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One a line: the name, then | and the unit, e.g. “utilisation | %”."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, objectives: int, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.objective_count = min(objectives + 1, library.MAX_OBJECTIVES)
        for i in range(self.objective_count):
            for name, field in _objective_fields().items():
                self.fields[f"o{i}_{name}"] = field

    @classmethod
    def of(cls, row: PlanTemplate) -> TemplateForm:
        s = row.structure
        initial: dict[str, Any] = {
            "name": row.name,
            "partner_type": row.partner_type,
            "version": row.version,
            "vendor_drivers": _drivers_text(s.get("drivers", []), Side.VENDOR),
            "partner_drivers": _drivers_text(s.get("drivers", []), Side.PARTNER),
            **{k: s.get("vision_prompts", {}).get(k, "") for k in library.VISION_PROMPTS},
        }
        for i, o in enumerate(s.get("objectives", [])):
            t = o.get("trajectory") or {}
            initial |= {f"o{i}_{k}": o.get(k, "") for k in ("key", *library.TEXT_LIMITS)}
            initial |= {
                f"o{i}_vendor_drivers": ", ".join(o.get("vendor_drivers", [])),
                f"o{i}_partner_drivers": ", ".join(o.get("partner_drivers", [])),
                f"o{i}_baseline": t.get("baseline"),
                f"o{i}_target": t.get("target"),
                f"o{i}_length": t.get("length", "quarter"),
                f"o{i}_periods": t.get("periods", 4),
            }
        return cls(initial=initial, objectives=len(s.get("objectives", [])))

    def objective_groups(self) -> list[list[BoundField]]:
        names = list(_objective_fields())
        return [[self[f"o{i}_{n}"] for n in names] for i in range(self.objective_count)]

    def structure(self) -> dict[str, Any]:
        """The structure the form describes, in the shape the API takes: ``clean_structure`` checks
        it in the service and keys a new objective (one without a key) by its title."""
        data = self.cleaned_data
        objectives = []
        for i in range(self.objective_count):
            o = {n: data.get(f"o{i}_{n}") for n in _objective_fields()}
            if o["remove"] or not (o["title"] or "").strip():
                continue
            trajectory = None
            if o["baseline"] is not None or o["target"] is not None:
                if o["baseline"] is None or o["target"] is None:
                    raise ValidationError(
                        gettext("“%(title)s”: give both a suggested baseline and a target, or neither.")
                        % {"title": o["title"]}
                    )
                trajectory = {
                    "baseline": format(o["baseline"].normalize(), "f"),
                    "target": format(o["target"].normalize(), "f"),
                    "length": o["length"] or "quarter",
                    "periods": o["periods"] or 4,
                }
            objectives.append(
                {
                    "key": o["key"] or "",
                    **{k: o[k] or "" for k in library.TEXT_LIMITS},
                    "vendor_drivers": _names(o["vendor_drivers"] or ""),
                    "partner_drivers": _names(o["partner_drivers"] or ""),
                    "trajectory": trajectory,
                }
            )
        return {
            "vision_prompts": {k: data.get(k) or "" for k in library.VISION_PROMPTS},
            "drivers": _parse_drivers(data.get("vendor_drivers") or "", Side.VENDOR)
            + _parse_drivers(data.get("partner_drivers") or "", Side.PARTNER),
            "objectives": objectives,
        }


# --- A plan's template pages ----------------------------------------------------------------------


class StartFromTemplate(PlanView):
    """``/p/<id>/templates/``: the templates, the chosen one's preview, and applying it."""

    def get(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        return self.page(request, request.GET.get("template") or "")

    def page(self, request: HttpRequest, chosen_ref: str, *, status: int = 200, error: str = "") -> HttpResponse:
        choices = templates.templates_for(cast(User, request.user))
        p = self.access.partnership
        chosen = next((t for t in choices if t.ref == chosen_ref), None)
        if chosen is None:
            suggested = library.shipped_for(p.partner_type)
            chosen = next((t for t in choices if suggested and t.ref == suggested.key), choices[0])
        preview = templates.template_preview(access=self.access, template=chosen)
        applied = AppliedTemplateItem.objects.filter(partnership=p).exists()
        context = {
            "access": self.access,
            "partnership": p,
            "choices": choices,
            "chosen": chosen,
            "preview": preview,
            "applied": applied,
            "error": error,
            "sides": {"vendor": p.vendor.name, "partner": p.partner.name},
        }
        return render(request, "plan_templates/start.html", context, status=status)

    def post(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        ref = request.POST.get("template") or ""
        template = templates.template_for(cast(User, request.user), ref)
        try:
            result = templates.template_apply(access=self.access, template=template)
        except DomainError as exc:
            if exc.status == 403:
                raise
            return self.page(request, ref, status=exc.status, error=exc.message)
        if result.created_anything:
            messages.success(
                request,
                gettext(
                    "%(template)s: %(objectives)s and %(goals)s added. Edit them with your counterpart, then "
                    "propose the goals."
                )
                % {"template": template.name, **_counted(result)},
            )
        else:
            messages.info(
                request, gettext("Everything this template creates is in the plan already; nothing was added.")
            )
        return redirect("plan", pid=pid)


def _counted(result: templates.Applied) -> dict[str, str]:
    """What applying or copying created, in the plural of the reader's language ("1 objective")."""
    n, m = len(result.objectives), len(result.goals)
    return {
        "objectives": ngettext("%(n)s objective", "%(n)s objectives", n) % {"n": n},
        "goals": ngettext("%(n)s draft goal", "%(n)s draft goals", m) % {"n": m},
    }


class SaveAsTemplate(PlanView):
    """``/p/<id>/templates/save/``: save the plan's structure as a template of one's organisation."""

    def get(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        return self.page(request, SaveTemplateForm(initial={"name": self.access.partnership.name}))

    def page(self, request: HttpRequest, form: SaveTemplateForm, status: int = 200) -> HttpResponse:
        p = self.access.partnership
        context = {
            "access": self.access,
            "partnership": p,
            "form": form,
            "organisation": p.organisation_for(self.access.side),
            "structure": templates.plan_structure(self.access),
        }
        return render(request, "plan_templates/save.html", context, status=status)

    def post(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        form = SaveTemplateForm(request.POST)
        if not form.is_valid():
            return self.page(request, form, status=400)
        try:
            row = templates.template_save_from_plan(access=self.access, name=form.cleaned_data["name"])
        except DomainError as exc:
            if exc.status == 403:
                raise
            form_errors(form, exc)
            return self.page(request, form, status=exc.status)
        messages.success(
            request, gettext("The plan's structure is saved as the template “%(name)s”.") % {"name": row.name}
        )
        return redirect("plan_templates", organisation_id=row.organisation_id)


def clone_targets(user: User, source: Partnership) -> list[tuple[str, str]]:
    """The other plans the person edits that the source's structure can go to (four queries): those
    with no objectives, or filled from the source's lineage only (``templates.plan_refusal``)."""
    partnerships = list(visible_partnerships(user).exclude(pk=source.pk).only("id", "name", "vendor_id", "partner_id"))
    accesses = resolve_many(user, partnerships)
    editable = [p for p in partnerships if p.pk in accesses and accesses[p.pk].can_edit]
    made = AppliedTemplateItem.objects.filter(
        lineage=templates.source_lineage(source), key__startswith=templates.OBJECTIVE_ITEMS
    ).values("object_id")
    written = set(
        Objective.objects.filter(partnership__in=[p.pk for p in editable])
        .exclude(pk__in=made)
        .values_list("partnership_id", flat=True)
    )
    return [(str(p.pk), p.name) for p in sorted(editable, key=lambda p: p.name) if p.pk not in written]


class CloneStructure(PlanView):
    """``/p/<id>/templates/clone/``: copy this plan's structure to another plan, as drafts."""

    def get(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        self.access.require_edit("copy the plan's structure")
        return self.page(request, CloneForm(targets=clone_targets(cast(User, request.user), self.access.partnership)))

    def page(self, request: HttpRequest, form: CloneForm, status: int = 200) -> HttpResponse:
        context = {
            "access": self.access,
            "partnership": self.access.partnership,
            "form": form,
            "structure": templates.plan_structure(self.access),
        }
        return render(request, "plan_templates/clone.html", context, status=status)

    def post(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        self.access.require_edit("copy the plan's structure")
        form = CloneForm(request.POST, targets=clone_targets(cast(User, request.user), self.access.partnership))
        if not form.is_valid():
            return self.page(request, form, status=400)
        try:
            target, result = templates.template_clone_structure(
                access=self.access, target_partnership_id=form.cleaned_data["target"]
            )
        except DomainError as exc:
            if exc.status in (403, 404):
                raise
            form_errors(form, exc)
            return self.page(request, form, status=exc.status)
        if result.created_anything:
            messages.success(
                request,
                gettext("%(objectives)s and %(goals)s copied from %(source)s.")
                % {"source": self.access.partnership.name, **_counted(result)},
            )
        else:
            messages.info(
                request,
                gettext("Everything this structure holds is in %(target)s already; nothing was copied.")
                % {"target": target.partnership.name},
            )
        return redirect("plan", pid=target.partnership.pk)


# --- An organisation's templates ----------------------------------------------------------------


@login_required
@domain_errors
@require_http_methods(["GET"])
def template_list(request: HttpRequest, organisation_id: uuid.UUID) -> HttpResponse:
    """``settings/organisations/<id>/templates/``: the shipped templates and the organisation's own."""
    user = cast(User, request.user)
    organisation, is_admin = templates.organisation_of(user, organisation_id)
    context = {
        "organisation": organisation,
        "is_admin": is_admin,
        "shipped": templates.shipped_templates(),
        "own": list(templates.own_templates(organisation)),
    }
    return render(request, "plan_templates/list.html", context)


@login_required
@domain_errors
@require_POST
def template_customise(request: HttpRequest, organisation_id: uuid.UUID, key: str) -> HttpResponse:
    row = templates.template_customise(user=cast(User, request.user), organisation_id=organisation_id, key=key)
    messages.success(request, gettext("“%(name)s” is your organisation's own now: edit it below.") % {"name": row.name})
    return redirect("plan_template", organisation_id=organisation_id, template_id=row.pk)


@login_required
@domain_errors
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, organisation_id: uuid.UUID, template_id: uuid.UUID) -> HttpResponse:
    """An organisation's template, for its admins to edit."""
    user = cast(User, request.user)
    row = templates.own_template(user, organisation_id, template_id, admin=True)
    if request.method != "POST":
        return _edit_page(request, row, TemplateForm.of(row))
    try:
        objectives = int(request.POST.get("objectives", "0"))
    except ValueError:
        objectives = 0
    form = TemplateForm(request.POST, objectives=max(0, min(objectives, library.MAX_OBJECTIVES)))
    if not form.is_valid():
        return _edit_page(request, row, form, status=400)
    try:
        structure = form.structure()
        templates.template_update(
            user=user,
            organisation_id=organisation_id,
            template_id=template_id,
            expected_version=form.cleaned_data["version"],
            name=form.cleaned_data["name"],
            partner_type=form.cleaned_data["partner_type"],
            structure=structure,
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return _edit_page(request, row, form, status=400)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        form_errors(form, exc)
        # Changed meanwhile: the form comes back with the edits and the error, a conflict (409).
        return _edit_page(request, row, form, status=409 if isinstance(exc, StaleVersion) else exc.status)
    messages.success(request, gettext("The template is saved."))
    return redirect("plan_template", organisation_id=organisation_id, template_id=template_id)


def _edit_page(request: HttpRequest, row: PlanTemplate, form: TemplateForm, status: int = 200) -> HttpResponse:
    context = {"organisation": row.organisation, "template": row, "form": form}
    return render(request, "plan_templates/edit.html", context, status=status)


@login_required
@domain_errors
@require_POST
def template_delete(request: HttpRequest, organisation_id: uuid.UUID, template_id: uuid.UUID) -> HttpResponse:
    templates.template_delete(user=cast(User, request.user), organisation_id=organisation_id, template_id=template_id)
    messages.success(request, gettext("The template is deleted. Plans made from it keep what it created."))
    return redirect("plan_templates", organisation_id=organisation_id)
