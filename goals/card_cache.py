"""Rendered goal cards, kept in the shared cache.

Rendering is most of the plan page's cost (a compact card is ~40 template variables, numbers,
dates and translated sentences), and a plan is read far more often than it changes. So the HTML of
a compact card is cached under everything it is made of:

- the plan's generation (``alignment.changes.plan_generations``), renewed by every change to the
  plan, at the write and again at its commit. It is read *before* the cards' data, so a change
  committed meanwhile can only leave HTML under a generation nobody asks for again;
- what the card shows that no plan change renews: who approved (their names), and the day (what is
  overdue, whether the period is over);
- who looks at it (the side and role decide the buttons and the words "our"/"their"), in which
  language and time zone;
- the code that renders it (the card template and the Python behind it), so a new release never
  serves the old markup.

Cards opened with their details, and cards showing a refusal, are rendered as before.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.template.loader import get_template, render_to_string
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

from alignment.access import Access
from alignment.changes import plan_generations

from .cards import GoalCard, goal_cards

CARD_TEMPLATE = "goals/_goal_card.html"


@functools.cache
def _code_version() -> str:
    """A digest of the card template and of the modules that compute and format what it shows."""
    from core.templatetags import formatting

    from . import cards, rules
    from .templatetags import goal_terms

    template = get_template(CARD_TEMPLATE)
    sources = [getattr(getattr(template, "template", template), "source", "")]
    for module in (cards, rules, formatting, goal_terms):
        sources.append(Path(module.__file__ or "").read_text())
    return hashlib.sha256("\0".join(sources).encode()).hexdigest()[:16]


def _seconds() -> int:
    return int(getattr(settings, "HEALTH_CACHE_SECONDS", 3600))


def _key(card: GoalCard, generation: str) -> str:
    approvers = sorted(
        (side, a.revision, a.user.display_name if a.user is not None else "") for side, a in card.approved.items()
    )
    state = (
        _code_version(),
        generation,
        str(card.goal.pk),
        card.access.side,
        card.access.role,
        translation.get_language(),
        timezone.get_current_timezone_name(),
        card.today.isoformat() if card.today else "",
        approvers,
    )
    return "goal-card:" + hashlib.sha256(repr(state).encode()).hexdigest()[:40]


def attach_html(cards: Iterable[GoalCard], generation: str) -> None:
    """Look up the cached HTML of the compact cards in one round trip: a card found carries it in
    ``html``, a card not found carries the key its HTML is stored under once rendered.

    ``generation`` is the plan's generation read before the cards were loaded."""
    if _seconds() <= 0:
        return
    wanted = {_key(c, generation): c for c in cards if not c.detailed and not c.refusal}
    if not wanted:
        return
    found = cache.get_many(list(wanted))
    for key, card in wanted.items():
        if key in found:
            card.html = found[key]
        else:
            card.cache_key = key


def cached_goal_cards(access: Access, **filters: Any) -> list[GoalCard]:
    """``goal_cards`` of a list (``filters`` as there), each carrying its cached HTML or the key to
    cache it under: the plan's generation is read first, then the cards."""
    generation = plan_generations([access.partnership.pk])[access.partnership.pk] if _seconds() > 0 else ""
    cards = goal_cards(access, **filters)
    if generation:
        attach_html(cards, generation)
    return cards


def render_card(card: GoalCard) -> SafeString:
    """The card's HTML: cached, or rendered (and cached when ``attach_html`` gave it a key). The
    template reads nothing but the card, so both are the same markup."""
    if card.html:
        return mark_safe(card.html)  # noqa: S308 - rendered by the card template, escaped there
    html = render_to_string(CARD_TEMPLATE, {"card": card})
    if card.cache_key:
        cache.set(card.cache_key, html, _seconds())
    return html
