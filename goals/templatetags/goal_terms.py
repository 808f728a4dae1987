"""Template filters for a goal's terms as revisions store them (JSON: dates as ISO text).

Load with ``{% load goal_terms %}``: ``{{ terms.period_start|as_date|date:"j M Y" }}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

register = template.Library()


@register.filter(is_safe=False)
def as_date(value: Any) -> dt.date | str:
    """An ISO date (``2027-03-31``) as a date for the ``date`` filter; anything else as it was."""
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return "" if value is None else str(value)
