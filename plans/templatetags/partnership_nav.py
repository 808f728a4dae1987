"""The sections of one partnership as tabs, on every page of that partnership.

``templates/base.html`` renders ``{% partnership_tabs %}`` whenever the page's context has the
partnership and the person's ``access`` (every page of one partnership passes both), so no page
has to remember to include them. The layout is the top of the template tree: it may load the
tags of the web layer (``plans``) whatever app's page it wraps.

The "Review queue" tab shows how many goals wait for the person's side. The tabs add no query to
the page they sit on: the count loads with htmx from the plan's ``queue-count`` fragment
(``plans.views``), which reads the dashboard's cached attention facts (``cadence.attention``,
counted by the one rule of ``goals.rules.waiting_filter``), so the tab, the dashboard and the
queue say the same number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from alignment.access import Access

register = template.Library()


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    url: str
    count_url: str = ""  # where the tab's count loads from


# Which tab each page (URL name) belongs to.
SECTION_OF = {
    "plan": "plan",
    "goal_detail": "plan",
    "goal_imports": "plan",
    "goal_import": "plan",
    "goal-review-queue": "queue",
    "goal-thread": "queue",
    "reviews:list": "reviews",
    "reviews:detail": "reviews",
    "reviews:deliveries": "reviews",
    "partnership_health": "health",
    "partnership_settings": "settings",
    "partnership_settings_section": "settings",
    "chat_channels": "settings",
    "chat_channel": "settings",
    "invitations-manage": "invitations",
    "plan_print": "print",
}


def tabs_for(access: Access) -> list[Tab]:
    pid = access.partnership.pk
    tabs = [
        Tab("plan", pgettext("tab: the joint plan", "Plan"), reverse("plan", args=[pid])),
        Tab(
            "queue",
            _("Review queue"),
            reverse("goal-review-queue", args=[pid]),
            reverse("plan_fragment", args=[pid, "queue-count"]),
        ),
        Tab("reviews", _("Reviews"), reverse("reviews:list", args=[pid])),
        Tab("health", _("Health"), reverse("partnership_health", args=[pid])),
        Tab("settings", _("Settings"), reverse("partnership_settings", args=[pid])),
    ]
    if access.can_manage_invitations:
        tabs.append(Tab("invitations", _("Invitations"), reverse("invitations-manage", args=[pid])))
    tabs.append(Tab("print", _("Print / export"), reverse("plan_print", args=[pid])))
    return tabs


@register.inclusion_tag("plan/_tabs.html", takes_context=True)
def partnership_tabs(context: template.Context) -> dict[str, Any]:
    access = context.get("access")
    if not isinstance(access, Access):
        return {"tabs": []}
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    current = SECTION_OF.get(match.view_name if match else "", "")
    return {"tabs": tabs_for(access), "current": current, "partnership": access.partnership}
