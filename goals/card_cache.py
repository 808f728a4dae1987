"""Rendered goal cards, kept in the shared cache (``core.fragment_cache``).

Rendering is most of the plan page's cost (a compact card is ~40 template variables, numbers,
dates and translated sentences), and a plan is read far more often than it changes. So the HTML of
a compact card is cached under everything it is made of:

- the plan's generation (``alignment.changes.plan_generations``), renewed by every change to the
  plan, at the write and again at its commit. It is read *before* the cards' data, so a change
  committed meanwhile can only leave HTML under a generation nobody asks for again;
- what the card shows that no plan change renews: who approved (their names), and the day (what is
  overdue, whether the period is over);
- who looks at it (the side and role decide the buttons and the words), in which language and
  time zone, and the code that renders it (``core.fragment_cache.key``).

Cards opened with their details, and cards showing a refusal, are rendered as before.
"""

from __future__ import annotations

from typing import Any

from django.utils.safestring import SafeString

from alignment.access import Access
from alignment.changes import plan_generations
from core import fragment_cache
from core.templatetags import formatting

from . import cards as cards_module
from . import rules
from .cards import GoalCard, goal_cards
from .templatetags import goal_terms

CARD_TEMPLATE = "goals/_goal_card.html"


def _key(card: GoalCard, generation: str) -> str:
    approvers = sorted(
        (side, a.revision, a.user.display_name if a.user is not None else "") for side, a in card.approved.items()
    )
    state = (generation, card.goal.pk, card.access.side, card.access.role, card.today, approvers)
    return fragment_cache.key("goal-card", CARD_TEMPLATE, state, cards_module, rules, formatting, goal_terms)


def attach_html(cards: list[GoalCard], generation: str) -> None:
    """Look up the cached HTML of the compact cards in one round trip: a card found carries it in
    ``html``, a card not found carries the key its HTML is stored under once rendered.

    ``generation`` is the plan's generation read before the cards were loaded."""
    wanted = {_key(c, generation): c for c in cards if not c.detailed and not c.refusal}
    found = fragment_cache.lookup(list(wanted))
    for key, card in wanted.items():
        if key in found:
            card.html = found[key]
        else:
            card.cache_key = key


def cached_goal_cards(access: Access, **filters: Any) -> list[GoalCard]:
    """``goal_cards`` of a list (``filters`` as there), each carrying its cached HTML or the key to
    cache it under: the plan's generation is read first, then the cards."""
    if fragment_cache.seconds() <= 0:
        return goal_cards(access, **filters)
    generation = plan_generations([access.partnership.pk])[access.partnership.pk]
    cards = goal_cards(access, **filters)
    attach_html(cards, generation)
    return cards


def render_card(card: GoalCard) -> SafeString:
    """The card's HTML: cached, or rendered (and cached when ``attach_html`` gave it a key). The
    template reads nothing but the card, so both are the same markup."""
    return fragment_cache.render(CARD_TEMPLATE, {"card": card}, html=card.html, cache_key=card.cache_key)
