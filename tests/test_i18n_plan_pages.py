"""The plan's pages speak the reader's language: every word of their templates is marked for
translation, and the words Partnerplan writes in Python behind them (sides, roles, directions, day
counts, health explanations, chart and progress-bar texts, goal-card labels) come from the active
language's catalogue, with plurals chosen by ``ngettext`` rather than by adding an "s".

A word is "translated" here through a German catalogue entry added for the test, so the tests do not
depend on what the shipped catalogues say yet.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.template import Context, Template
from django.utils import translation
from django.utils.translation import pgettext, trans_real

from cadence.health import PlanFacts, compute
from core.templatetags.formatting import code_words, direction_text, format_days, role_word, side_word
from goals import charts

TEMPLATES = Path(settings.BASE_DIR) / "templates"
PLAN_TEMPLATES = sorted(
    [TEMPLATES / "base.html"]
    + [
        path
        for area in ("goals", "plan", "reviews", "health", "charts", "print", "audit")
        for path in (TEMPLATES / area).glob("*.html")
    ]
)
# Text that is the same in every language: the product's name and its logo's letter.
NOT_WORDS = {"Partnerplan", "P"}
# Attributes a person reads or hears (a screen reader says aria-label; stacked tables show data-label).
READ_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt", "hx-confirm", "data-label", "aria-valuetext")


def unmarked_words(source: str) -> list[str]:
    """The words of a template outside ``translate``/``blocktranslate``, tags, variables and comments."""
    text = re.sub(r"{%\s*blocktranslate.*?{%\s*endblocktranslate\s*%}", " ", source, flags=re.S)
    text = re.sub(r"{#.*?#}|{%.*?%}|{{.*?}}", " ", text, flags=re.S)
    found = [
        f'{name}="{value}"'
        for name, value in re.findall(r"\s(" + "|".join(READ_ATTRIBUTES) + r')="([^"]*)"', text)
        if re.search(r"[A-Za-z]", value)
    ]
    text = re.sub(r"<[^>]*>", " ", text, flags=re.S)
    found += [word for word in re.findall(r"[A-Za-z][A-Za-z'’-]*", text) if word not in NOT_WORDS]
    return found


@pytest.mark.parametrize("path", PLAN_TEMPLATES, ids=[str(p.relative_to(TEMPLATES)) for p in PLAN_TEMPLATES])
def test_every_word_of_the_plan_templates_is_marked_for_translation(path: Path) -> None:
    assert unmarked_words(path.read_text()) == []


def test_the_check_finds_words_left_unmarked() -> None:
    source = '{% load i18n %}<p title="Open it">{% translate "Fine" %} Forgotten {{ name }}</p>'
    assert unmarked_words(source) == ['title="Open it"', "Forgotten"]


class CatalogueEntries(dict[Any, str]):
    """Entries added to the active language's catalogue, undone by ``restore``."""

    def __init__(self, catalogue: Any) -> None:
        super().__init__()
        self.catalogue = catalogue
        self.before: dict[Any, str | None] = {}

    def __setitem__(self, key: Any, value: str) -> None:
        if key not in self.before:
            self.before[key] = self.catalogue.get(key)
        self.catalogue[key] = value
        super().__setitem__(key, value)

    def restore(self) -> None:
        for key, value in self.before.items():
            if value is None:
                del self.catalogue._catalogs[0][key]
            else:
                self.catalogue[key] = value


@pytest.fixture
def german() -> Iterator[CatalogueEntries]:
    """German as the active language, with the catalogue entries a test adds (removed afterwards)."""
    with translation.override("de"):
        entries = CatalogueEntries(trans_real.translation("de")._catalog)
        try:
            yield entries
        finally:
            entries.restore()


def render(source: str, **context: Any) -> str:
    return Template("{% load i18n formatting %}" + source).render(Context(context))


def test_sides_and_roles_are_written_as_words_of_the_active_language(german: CatalogueEntries) -> None:
    german["side, in a sentence\x04vendor"] = "Anbieter"
    german["role, in a sentence\x04approver"] = "Genehmiger"
    german["you are on the %(side)s side as %(role)s"] = "Sie sind auf der Seite %(side)s als %(role)s"
    assert side_word("vendor") == "Anbieter"
    assert role_word("approver") == "Genehmiger"
    assert side_word("partner") == pgettext("side, in a sentence", "partner")  # the catalogue's own word
    assert side_word("board") == "board"  # not a side: as it was
    page = render(
        "{% blocktranslate with side=access.side|side_word role=access.role|role_word %}"
        "you are on the {{ side }} side as {{ role }}{% endblocktranslate %}",
        access={"side": "vendor", "role": "approver"},
    )
    assert page == "Sie sind auf der Seite Anbieter als Genehmiger"


def test_side_and_role_words_stay_english_in_english() -> None:
    with translation.override("en"):
        assert [side_word("vendor"), side_word("partner")] == ["vendor", "partner"]
        assert [role_word("viewer"), role_word("editor"), role_word("approver")] == ["viewer", "editor", "approver"]


def test_directions_and_stored_statuses_come_from_the_catalogue(german: CatalogueEntries) -> None:
    german["higher is better"] = "höher ist besser"
    german["Changes requested"] = "Änderungen erbeten"
    assert direction_text("increase") == "höher ist besser"
    assert direction_text("Increase (higher is better)") == "höher ist besser"
    assert code_words("changes_requested") == "Änderungen erbeten"
    assert code_words("") == ""


@pytest.mark.parametrize(
    ("days", "said"),
    [([7, 1], "7 days and 1 day"), ([1], "1 day"), ([14, 7, 1], "14 days and 7 days and 1 day"), ([], "")],
)
def test_reminder_days_read_as_one_phrase(days: list[int], said: str) -> None:
    with translation.override("en"):
        assert format_days(days) == said


def test_reminder_days_take_the_languages_plural_and_joining_word(german: CatalogueEntries) -> None:
    german[("%(n)s day", 0)] = "%(n)s Tag"
    german[("%(n)s day", 1)] = "%(n)s Tage"
    german["%(days)s and %(more)s"] = "%(days)s und %(more)s"
    assert format_days([7, 1]) == "7 Tage und 1 Tag"


def test_a_progress_bar_says_its_state_in_the_active_language(german: CatalogueEntries) -> None:
    german["%(percent)s%% · behind plan (%(expected)s%% expected by now)"] = (
        "%(percent)s %% · hinter dem Plan (%(expected)s %% erwartet)"
    )
    german["Progress towards target"] = "Fortschritt zum Ziel"
    bar = charts.progress_bar(0.2, expected=0.5)
    assert bar.text == "20 % · hinter dem Plan (50 % erwartet)"
    assert bar.label == "Fortschritt zum Ziel"


def test_progress_bar_texts_in_english() -> None:
    with translation.override("en"):
        assert charts.progress_bar(0.2, expected=0.5).text == "20% · behind plan (50% expected by now)"
        assert charts.progress_bar(0.6, expected=0.5).text == "60% · on track (50% expected by now)"
        assert charts.progress_bar(1, expected=0.5).text == "100% · target reached"
        assert charts.progress_bar(0.6).text == "60%"
        assert charts.progress_bar(None).text == "No check-in yet"
        assert charts.progress_bar(0.6).label == "Progress towards target"


class Goal:
    title = "Certify 12 consultants"
    metric_name = "Certified consultants"
    metric_unit = "people"
    baseline = Decimal("8")
    target = Decimal("12")
    direction = "increase"
    period_start = dt.date(2026, 1, 1)
    period_end = dt.date(2026, 3, 31)


def test_a_goal_chart_counts_its_check_ins_with_the_languages_plural() -> None:
    one = [{"measured_on": dt.date(2026, 2, 1), "value": Decimal("10"), "side": "vendor", "confidence": 4}]
    two = [*one, {"measured_on": dt.date(2026, 2, 8), "value": Decimal("11"), "side": "partner", "confidence": 3}]
    with translation.override("en"):
        assert " 1 check-in; the latest, on 1 Feb 2026, measured 10 people (50% of the way to target)." in (
            charts.goal_progress(Goal(), one, today=dt.date(2026, 2, 10)).description
        )
        assert " 2 check-ins; the latest, on 8 Feb 2026, measured 11 people (75% of the way to target)." in (
            charts.goal_progress(Goal(), two, today=dt.date(2026, 2, 10)).description
        )


def test_chart_dates_use_the_languages_month_names(german: CatalogueEntries) -> None:
    german["Baseline %(value)s on %(date)s"] = "Ausgangswert %(value)s am %(date)s"
    chart = charts.goal_progress(Goal(), [], today=dt.date(2026, 2, 10))
    assert chart.series[0].points[0].title == "Ausgangswert 8 people am 1 Jan 2026"
    # The month abbreviations are Django's own catalogue entries ("mar" → "mär").
    assert chart.series[0].points[1].title.endswith(" 31 Mär 2026")


def health_of(**facts: Any) -> dict[str, str]:
    report = compute(PlanFacts(**facts), dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC))
    return {c.key: c.explanation for c in report.components}


def test_health_explanations_choose_their_plural_by_the_count() -> None:
    one = {1: "Certified practice"}
    two = {1: "Certified practice", 2: "Joint pipeline"}
    with translation.override("en"):
        assert health_of(active_objectives=one)["coverage"] == (
            "1 objective without an agreed goal this period: “Certified practice”."
        )
        assert health_of(active_objectives=two)["coverage"] == (
            "2 objectives without an agreed goal this period: “Certified practice”, “Joint pipeline”."
        )


def test_health_explanations_are_in_the_active_language(german: CatalogueEntries) -> None:
    german["Neither side has endorsed the current vision."] = "Keine Seite hat die aktuelle Vision bestätigt."
    german["Shared vision endorsed"] = "Gemeinsame Vision bestätigt"
    german[("%(n)s objective without an agreed goal this period: %(titles)s.", 1)] = (
        "%(n)s Ziele ohne vereinbartes Vorhaben in diesem Zeitraum: %(titles)s."
    )
    report = compute(
        PlanFacts(has_vision_text=True, active_objectives={1: "A", 2: "B"}),
        dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC),
    )
    parts = {c.key: c for c in report.components}
    assert parts["vision"].label == "Gemeinsame Vision bestätigt"
    assert parts["vision"].explanation == "Keine Seite hat die aktuelle Vision bestätigt."
    assert parts["coverage"].explanation == "2 Ziele ohne vereinbartes Vorhaben in diesem Zeitraum: “A”, “B”."
