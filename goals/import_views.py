"""The actuals import pages (``goals.imports``): upload a CSV or XLSX file of check-ins, see the
preview (what will be created, what is already there, what is wrong with which row), import, and
follow a big file's background job (the status refreshes itself while it runs).

For people who may check in on the plan (editors and approvers); viewers are refused (403),
outsiders get 404 (``PlanView``)."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _

from alignment.forms import PlainForm
from alignment.web import FORM_ERROR, PlanView
from core.web import HtmxHttpRequest

from . import import_files, imports
from .models import ActualsImport

ERRORS_SHOWN = 200


class UploadForm(PlainForm):
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "A CSV (UTF-8) or Excel (.xlsx) file. The first row names the columns: goal (its id) or "
            "external key, date (YYYY-MM-DD or a date cell), value, and optionally confidence (1–5) and note."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )


class ImportsPage(PlanView):
    """``/p/<pid>/imports/``: the upload form and the plan's recent imports."""

    def get(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        self.access.require_edit("import check-ins")
        self.form = UploadForm()
        return self.render_form()

    def post(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        self.access.require_edit("import check-ins")
        self.form = UploadForm(request.POST, request.FILES)
        if not self.form.is_valid():
            return self.render_form(status=FORM_ERROR)
        upload = self.form.cleaned_data["file"]
        imp = imports.actuals_import_preview(access=self.access, file_name=upload.name or "", stream=upload)
        return redirect("goal_import", pid, imp.pk)

    def render_form(self, status: int = 200, conflict: dict[str, Any] | None = None) -> HttpResponse:
        return render(
            self.request,
            "goals/imports.html",
            {
                "access": self.access,
                "partnership": self.access.partnership,
                "form": self.form,
                "imports": imports.imports_of(self.access),
                "max_rows": import_files.max_rows(),
                "max_mb": import_files.max_bytes() // (1024 * 1024),
            },
            status=status,
        )


def _context(view: PlanView, imp: ActualsImport) -> dict[str, Any]:
    errors = imp.errors
    return {
        "access": view.access,
        "partnership": view.access.partnership,
        "imp": imp,
        "errors": errors[:ERRORS_SHOWN],
        "more_errors": max(0, len(errors) - ERRORS_SHOWN),
        "error_rows": len({e["row"] for e in errors}),
        "before": imports.imported_before(imp),
    }


class ImportPage(PlanView):
    """``/p/<pid>/imports/<id>/``: an import's preview, or its progress and result."""

    def get(self, request: HtmxHttpRequest, pid: uuid.UUID, iid: uuid.UUID) -> HttpResponse:
        self.access.require_edit("import check-ins")
        imp = imports.import_of(self.access, iid)
        template = "goals/_import_status.html" if request.htmx else "goals/import.html"
        return render(request, template, _context(self, imp))


class ImportCommit(PlanView):
    """POST ``/p/<pid>/imports/<id>/commit/``: import the checked rows (a second click does nothing)."""

    def post(self, request: HttpRequest, pid: uuid.UUID, iid: uuid.UUID) -> HttpResponse:
        imports.actuals_import_commit(access=self.access, import_id=iid)
        return redirect("goal_import", pid, iid)
