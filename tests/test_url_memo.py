"""``{% url %}`` remembers its reversals (core/templatetags/url_memo.py) and answers as Django's does."""

from __future__ import annotations

import uuid

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch, reverse

from core.templatetags import url_memo


def render(source: str, **context: object) -> str:
    return Template(source).render(Context(context))


def test_the_tag_gives_the_address_reverse_gives_and_remembers_it():
    pid, gid = uuid.uuid4(), uuid.uuid4()
    url_memo._reverse.cache_clear()
    first = render("{% url 'goal_detail' pid gid %}", pid=pid, gid=gid)
    assert first == reverse("goal_detail", args=[pid, gid])
    assert render("{% url 'goal_detail' pid gid %}", pid=pid, gid=gid) == first
    info = url_memo._reverse.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    assert render("{% url 'plan' pid=pid %}", pid=str(pid)) == reverse("plan", kwargs={"pid": pid})


def test_other_arguments_are_reversed_every_time():
    class Named:
        def __str__(self) -> str:
            return "7"

    url_memo._reverse.cache_clear()
    with pytest.raises(NoReverseMatch):
        render("{% url 'plan' thing %}", thing=Named())
    assert url_memo._reverse.cache_info().currsize == 0


def test_a_missing_view_still_fails_and_as_var_still_gives_nothing():
    with pytest.raises(NoReverseMatch):
        render("{% url 'no-such-view' 1 %}")
    with pytest.raises(NoReverseMatch):
        render("{% url 'no-such-view' 1 %}")  # not remembered: fails again
    assert render("{% url 'no-such-view' 1 as link %}[{{ link }}]") == "[]"


def test_the_address_is_escaped_like_djangos():
    html = render("{% url 'dashboard' %}?a=1&b=2")
    assert html == reverse("dashboard") + "?a=1&b=2"
    assert render("{% url 'dashboard' as d %}{{ d }}") == reverse("dashboard")
