"""The goal pieces of the plan page, rendered as the page renders them: a goal's card, an
objective's goal list and its summary counts. The goal views answer with these; the plan page's
fragment endpoint (``plans.views``) serves them to live updates."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from alignment.access import Access
from alignment.models import Objective
from alignment.web import OPEN_HEADER

from .card_cache import cached_goal_cards
from .cards import goal_cards, goal_counts, goal_list_context


def goal_fragment(request: HttpRequest, access: Access, kind: str, ident: Any, *, refusal: str = "") -> HttpResponse:
    """A goal piece of the plan page, as the page renders it: a goal's card (``goal``), an
    objective's goal list (``goals-of``) or its summary counts (``goals-count``). A card or list
    that is open on the page comes back open, with its contents (see static/js/live.js)."""
    name = f"{kind}-{ident}"
    base = {"access": access, "partnership": access.partnership}
    is_open = request.headers.get(OPEN_HEADER) == "true"
    if kind == "goal":
        cards = goal_cards(access, goal_ids=[ident], detailed=is_open)
        if not cards:  # gone meanwhile: an empty placeholder
            return HttpResponse(f'<div id="{name}" hidden></div>')
        cards[0].refusal = refusal
        return render(request, "goals/_goal_card.html", base | {"card": cards[0]})
    objective = Objective.objects.filter(partnership=access.partnership, pk=ident).first()
    if objective is None:  # gone meanwhile, or never of this plan: an empty placeholder
        return HttpResponse(
            f'<span id="{name}"></span>' if kind == "goals-count" else f'<div id="{name}" hidden></div>'
        )
    counts = goal_counts(access, objective).get(objective.pk)
    if kind == "goals-count":
        return render(request, "goals/_goal_counts.html", base | {"objective": objective, "counts": counts})
    open_cards = cached_goal_cards(access, objective=objective, open_only=True) if is_open else None
    return render(request, "goals/_goal_list.html", base | goal_list_context(access, objective, counts, open_cards))


def card_response(request: HttpRequest, access: Access, gid: Any, *, refusal: str = "") -> HttpResponse:
    return goal_fragment(request, access, "goal", gid, refusal=refusal)


def goal_list_response(request: HttpRequest, access: Access, objective_id: Any) -> HttpResponse:
    """An objective's goal list, in place of the one on the page (after adding or deriving goals)."""
    response = goal_fragment(request, access, "goals-of", objective_id)
    response["HX-Retarget"] = f"#goals-of-{objective_id}"
    response["HX-Reswap"] = "outerHTML"
    return response
