"""The template choice of the "new partnership" form (``plans.dashboard.partnership_new``)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User

from . import templates_service as templates


def template_field(user: User) -> forms.ChoiceField:
    """Start the plan empty, from the shipped template of the kind of partner chosen, or from any
    template the person may apply (their organisations' own included)."""
    choices: list[tuple[str, str]] = [
        ("", str(_("No template: an empty plan"))),
        (templates.FOR_PARTNER_TYPE, str(_("The template for the kind of partner chosen above"))),
    ]
    for t in templates.templates_for(user):
        owner = t.organisation.name if t.organisation is not None else "Partnerplan"
        choices.append((t.ref, f"{t.name} ({owner})"))
    return forms.ChoiceField(
        label=_("Start the plan from a template"),
        choices=choices,
        required=False,
        help_text=_(
            "Drafts of objectives, metrics, each side's drivers and quarterly goals for this kind of partner; "
            "you and your partner edit and agree them. You can also start from a template later."
        ),
    )
