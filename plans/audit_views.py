"""The audit export pages (``plans.audit``): choose partnerships and a format, see the exports being
built (the list refreshes itself while one is), download a finished one."""

from __future__ import annotations

import uuid
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import User
from alignment.models import Partnership
from core.errors import DomainError, NotAllowed
from core.web import HtmxHttpRequest, domain_errors, form_errors, refused

from . import audit
from .models import AuditExport


class ExportForm(forms.Form):
    partnerships = forms.MultipleChoiceField(
        label=_("Partnerships"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one.")},
    )
    format = forms.ChoiceField(
        label=_("Format"), choices=AuditExport.Format.choices, initial=AuditExport.Format.CSV, widget=forms.RadioSelect
    )

    def __init__(self, *args: Any, partnerships: list[Partnership], **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["partnerships"].choices = [(str(p.pk), p.name) for p in partnerships]  # type: ignore[attr-defined]


def _render(request: HtmxHttpRequest, form: ExportForm, *, status: int = 200) -> HttpResponse:
    user = cast(User, request.user)
    exports = audit.exports_of(user)
    context = {"form": form, "exports": exports, "building": any(e.status in ("pending", "building") for e in exports)}
    if request.htmx and request.method == "GET":
        return render(request, "audit/_exports.html", context, status=status)
    return render(request, "audit/exports.html", context, status=status)


@login_required
@never_cache
@domain_errors
@require_http_methods(["GET", "POST"])
def audit_exports(request: HtmxHttpRequest) -> HttpResponse:
    """``/audit/``: an organisation admin's exports of the change history."""
    user = cast(User, request.user)
    partnerships = audit.exportable(user)
    if not partnerships:
        raise NotAllowed(gettext("Only organisation admins export the change history of their partnerships."))
    form = ExportForm(request.POST or None, partnerships=partnerships)
    if request.method == "POST":
        if form.is_valid():
            try:
                audit.audit_export_request(
                    user=user, partnership_ids=form.cleaned_data["partnerships"], fmt=form.cleaned_data["format"]
                )
            except DomainError as exc:
                form_errors(form, exc)
                return _render(request, form, status=exc.status)
            messages.success(request, gettext("Your export is being prepared. It appears below when it is ready."))
            return redirect("audit_exports")
        return _render(request, form, status=400)
    return _render(request, form)


@login_required
@require_GET
def audit_export_download(request: HtmxHttpRequest, export_id: uuid.UUID) -> HttpResponseBase:
    try:
        export = audit.downloadable(user=cast(User, request.user), export_id=export_id)
    except DomainError as error:
        return refused(request, error)
    stamp = export.created_at.strftime("%Y%m%d-%H%M")
    response = FileResponse(
        audit.storage().open(export.file_name, "rb"),
        as_attachment=True,
        filename=f"partnerplan-audit-{stamp}.{export.format}",
        content_type="text/csv; charset=utf-8" if export.format == "csv" else "application/json",
    )
    response["Cache-Control"] = "private, no-store"
    return response
