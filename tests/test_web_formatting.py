"""Numbers, units, plurals, directions and times as people read them (``core.templatetags.formatting``),
and the time zone each signed-in person sees them in (``accounts.middleware``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

from core.templatetags.formatting import (
    direction_text,
    format_counted,
    format_number,
    format_quantity,
    format_when,
    unit_for,
)
from tests import factories as f


def render(source: str, **context) -> str:
    return Template("{% load formatting %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("10.8000"), "10.8"),
        ("1200000", "1,200,000"),
        (Decimal("1200000.50"), "1,200,000.5"),
        (Decimal("3.0000"), "3"),
        (0, "0"),
        (Decimal("-0.0"), "0"),
        (Decimal("-1234.5"), "-1,234.5"),
        (Decimal("0.0125"), "0.0125"),
        (Decimal("1E+3"), "1,000"),
        (7.25, "7.25"),
        ("not a number", "not a number"),
        (None, ""),
    ],
)
def test_numbers_lose_trailing_zeros_and_are_grouped(value, shown):
    assert format_number(value) == shown


def test_numbers_follow_the_active_language():
    with translation.override("de"):
        assert format_number(Decimal("1200000.50")) == "1.200.000,5"
    with translation.override("fr"):
        assert format_number(Decimal("10.8000")) == "10,8"


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        ("10.8000", "people", "10.8 people"),
        ("1", "people", "1 person"),
        ("1.000", "person", "1 person"),
        ("2", "person", "2 people"),
        ("1", "deal", "1 deal"),
        ("3", "deal", "3 deals"),
        ("1", "deals", "1 deal"),
        ("0", "deals", "0 deals"),
        ("1", "days", "1 day"),
        ("1", "companies", "1 company"),
        ("4", "company", "4 companies"),
        ("2", "qualified lead", "2 qualified leads"),
        ("1", "hours per week", "1 hour per week"),
        ("3", "hour per week", "3 hours per week"),
        ("1", "follow-ups", "1 follow-up"),
        ("1", "licences", "1 licence"),
        ("5", "revenue", "5 revenue"),  # no plural
        ("1200000", "EUR k", "1,200,000 EUR k"),  # symbols stay as written
        ("42.50", "%", "42.5%"),
        ("2", "h", "2 h"),
        ("8", "FTE", "8 FTE"),
        ("12", "", "12"),
    ],
)
def test_units_are_pluralised_only_when_they_are_words(value, unit, shown):
    assert format_quantity(value, unit) == shown


def test_the_unit_alone_in_the_number_a_value_asks_for():
    assert unit_for("people", 1) == "person"
    assert unit_for("person", Decimal("2.5")) == "people"
    assert unit_for("EUR k", 1) == "EUR k"


@pytest.mark.parametrize(
    ("count", "word", "shown"),
    [
        (1, "migration", "1 migration"),
        (2, "migration", "2 migrations"),
        (0, "migration", "0 migrations"),
        (1, "day", "1 day"),
        (1, "person,people", "1 person"),
        (3, "person,people", "3 people"),
        (1, "overdue commitment", "1 overdue commitment"),
        (1250, "goal", "1,250 goals"),
    ],
)
def test_counts_carry_the_right_plural(count, word, shown):
    assert format_counted(count, word) == shown


@pytest.mark.parametrize(
    "value",
    ["increase", "Increase (higher is better)", "(increase (higher is better))", "INCREASE"],
)
def test_the_direction_of_a_goal_in_words(value):
    assert direction_text(value) == "higher is better"
    assert direction_text("decrease") == "lower is better"


def test_filters_in_a_template_escape_what_they_are_given():
    html = render(
        "{{ v|number }} · {{ v|quantity:u }} · {{ n|counted:'goal' }} · {{ d|direction_words }} · {{ u|unit_of:1 }}",
        v=Decimal("10.8000"),
        u="people",
        n=1,
        d="(increase (higher is better))",
    )
    assert html == "10.8 · 10.8 people · 1 goal · higher is better · person"
    assert render("{{ v|quantity:u }}", v="1", u="<b>x</b>") == "1 &lt;b&gt;x&lt;/b&gt;"


def test_times_show_in_the_active_zone_and_dates_never_shift():
    moment = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    with timezone.override("Europe/Berlin"):
        assert format_when(moment) == "2 Mar 2026, 00:30"
        assert format_when(moment.isoformat()) == "2 Mar 2026, 00:30"
        assert render("{% zone_name %}") == "Europe/Berlin"
    with timezone.override("America/New_York"):
        assert format_when("2026-03-01") == "1 Mar 2026"  # a date is a day, whatever the zone
        assert format_when(dt.date(2026, 3, 1)) == "1 Mar 2026"


def test_a_signed_in_person_sees_times_in_their_own_zone(client, cast):
    cast.vendor_editor.timezone = "Asia/Tokyo"
    cast.vendor_editor.save()
    client.force_login(cast.vendor_editor)
    html = client.get(f"/p/{cast.partnership.pk}/").content.decode()
    assert "Times are in your time zone (Asia/Tokyo)" in html
    client.force_login(cast.vendor_viewer)  # UTC, the default
    assert "Times are in your time zone (UTC)" in client.get(f"/p/{cast.partnership.pk}/").content.decode()


def test_the_api_answers_in_utc_whoever_asks(client, cast):
    cast.vendor_editor.timezone = "Asia/Tokyo"
    cast.vendor_editor.save()
    client.force_login(cast.vendor_editor)
    body = client.get(f"/api/v1/partnerships/{cast.partnership.pk}").json()
    assert body["created_at"].endswith(("Z", "+00:00"))


def test_an_unknown_zone_falls_back_to_utc(db):
    from accounts.middleware import zone_of

    user = f.make_user()
    user.timezone = "Mars/Olympus_Mons"  # only possible by a direct write
    assert zone_of(user) is None
