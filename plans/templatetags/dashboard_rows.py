"""``{% dashboard_row r %}``: a partnership row of the dashboard, from the cache when it is there
(``plans.dashboard_rows``)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from plans.dashboard_rows import render_row

register = template.Library()


@register.simple_tag
def dashboard_row(row: dict[str, Any]) -> SafeString:
    return render_row(row)
