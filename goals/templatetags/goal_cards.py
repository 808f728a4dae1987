"""``{% goal_card card %}``: a compact goal card of a list, from the cache when it is there
(``goals.card_cache``)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from goals.card_cache import render_card
from goals.cards import GoalCard

register = template.Library()


@register.simple_tag
def goal_card(card: GoalCard) -> SafeString:
    return render_card(card)
