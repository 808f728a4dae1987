"""The give/get balance picture (``cadence.balance_chart``) as a template tag.

Load with ``{% load give_get %}``; ``{% give_get_chart balance quarters access %}`` draws the
balance of a period and of the last quarters (``cadence.balance.balance_with_quarters``), naming
the sides as ``access``'s person knows them. It runs no query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import template

from ..balance import Balance
from ..balance_chart import give_get, reader_names

register = template.Library()


@register.inclusion_tag("health/_give_get.html")
def give_get_chart(balance: Balance, quarters: Sequence[Balance], access: Any) -> dict[str, Any]:
    return {"chart": give_get(balance, quarters, reader_names(access))}
