"""Bases of every browser page of one partnership, for the apps that build on alignment.

``PlanView`` resolves the person's access before anything else and maps the domain's errors
through ``core.web``: outsiders get 404, members without the role 403, and rule or input errors
come back as errors on the form that was submitted (a save against a newer version shows both
versions side by side). ``InPlaceForm`` is an edit-in-place form of the plan page.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views import View

from core.errors import DomainError, NotAllowed, NotFound, StaleVersion
from core.web import HtmxHttpRequest, flash, form_errors, refused

from .access import Access, resolve
from .models import ChangeEvent

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class PlanView(View):
    """Base of every page and fragment of one partnership.

    Resolves the person's access (``self.access``) before anything else and turns the domain's
    errors into answers: ``NotFound`` → 404, ``NotAllowed`` → 403, ``StaleVersion`` → the conflict
    form, ``InvalidInput``/``RuleViolation`` → errors on the submitted form.
    """

    access: Access
    form: Any = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            self.access = resolve(request.user, kwargs["pid"])
            return super().dispatch(request, *args, **kwargs)
        except NotFound as exc:
            # An item deleted meanwhile: say so where messages go, keep the page.
            if cast(HtmxHttpRequest, request).htmx:
                return self.refusal(exc)
            raise Http404(exc.message) from exc
        except StaleVersion as exc:
            if self.form is not None:
                return self.conflict(exc)
            return self.refusal(exc)
        except DomainError as exc:
            if self.form is not None and not isinstance(exc, NotAllowed):
                return self.rejected(exc)
            return self.refusal(exc)

    def refusal(self, exc: DomainError) -> HttpResponse:
        """An error that belongs to no form: shown beside the control that caused it when the view
        knows where that is (``refusal_fragment``), else in the page's status area (or a page)."""
        if not hasattr(self, "access"):
            return flash(self.request, exc.message, status=exc.status)
        if cast(HtmxHttpRequest, self.request).htmx:
            fragment = self.refusal_fragment(exc)
            if fragment is not None:
                fragment.status_code = exc.status
                return fragment
        return refused(self.request, exc, partnership=self.access.partnership)

    def refusal_fragment(self, exc: DomainError) -> HttpResponse | None:
        """The piece of the page the refused action belongs to, re-rendered with the refusal beside
        its controls (views of one object override this; None: the status area)."""
        return None

    def rejected(self, exc: DomainError) -> HttpResponse:
        form_errors(self.form, exc)
        # 422: the form comes back with its errors and is swapped in place, like a 2xx.
        return self.render_form(status=FORM_ERROR if exc.status == 400 else exc.status)

    def conflict(self, exc: StaleVersion) -> HttpResponse:
        current = exc.current
        data = self.request.POST.copy()
        data["version"] = str(current.version)
        self.form = self.form.__class__(data=data, **self.form_options())
        self.form.is_valid()
        rows = []
        for name in getattr(self.form, "conflict_fields", ()):
            mine = self.form.cleaned_data.get(name) if hasattr(self.form, "cleaned_data") else data.get(name)
            theirs = getattr(current, name, None)
            if plain(mine) != plain(theirs):
                rows.append({"label": self.form.fields[name].label, "mine": plain(mine), "theirs": plain(theirs)})
        last = (
            ChangeEvent.objects.filter(object_id=current.pk, action=ChangeEvent.Action.UPDATE)
            .order_by("-txid", "-seq")
            .values_list("actor_label", flat=True)
            .first()
        )
        return self.render_form(
            status=409,
            conflict={"rows": rows, "message": exc.message, "version": current.version, "who": last or ""},
        )

    # Form views override these.
    def form_kwargs(self) -> dict[str, Any]:
        return {}

    def form_options(self) -> dict[str, Any]:
        # Field ids unique on the page even with several forms open at once.
        return {"auto_id": f"{self.fragment_id()}-%s", **self.form_kwargs()}

    def fragment_id(self) -> str:
        return "form"

    def render_form(self, status: int = 200, conflict: dict[str, Any] | None = None) -> HttpResponse:
        raise NotImplementedError


# Sent by the page with a request about a goal card or goal list that is open there.
OPEN_HEADER = "X-Details-Open"
# The status of a form that comes back with its errors (htmx swaps it in place, see base.html).
FORM_ERROR = 422


def plain(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "normalize") and hasattr(value, "to_integral"):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value).strip().replace("\r\n", "\n")


class InPlaceForm(PlanView):
    """An edit-in-place form: GET shows it in the fragment's place, POST saves through a service and
    answers with the fragment (or with the form again, with its errors or a conflict)."""

    form_class: type[Any]
    template_name = "plan/_form.html"
    title: StrOrPromise = ""
    submit_label: StrOrPromise = _("Save")

    def get_initial(self) -> dict[str, Any]:
        return {}

    def fragment_id(self) -> str:
        raise NotImplementedError

    def cancel_url(self) -> str:
        raise NotImplementedError

    def save(self) -> HttpResponse:
        raise NotImplementedError

    def editable_check(self) -> None:
        self.access.require_edit()

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        self.editable_check()
        initial = {k: plain(v) if isinstance(v, Decimal) else v for k, v in self.get_initial().items()}
        self.form = self.form_class(initial=initial, **self.form_options())
        return self.render_form()

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        self.editable_check()
        self.form = self.form_class(data=request.POST, **self.form_options())
        if not self.form.is_valid():
            return self.render_form(status=FORM_ERROR)
        return self.save()

    def notice(self) -> StrOrPromise:
        """What saving this form will do beyond the obvious (e.g. open a new revision), or ""."""
        return ""

    def render_form(self, status: int = 200, conflict: dict[str, Any] | None = None) -> HttpResponse:
        context = {
            "form": self.form,
            "access": self.access,
            "partnership": self.access.partnership,
            "conflict": conflict,
            "notice": self.notice(),
            "fragment_id": self.fragment_id(),
            "action": self.request.path,
            "cancel_url": self.cancel_url(),
            "title": self.title,
            "submit_label": self.submit_label,
            "label": "" if getattr(self, "in_card", False) else self.title,
            # Opened from an open goal card or list: saving or cancelling brings it back open.
            "details_open": self.request.headers.get(OPEN_HEADER) == "true",
        }
        return render(self.request, self.template_name, context, status=status)
