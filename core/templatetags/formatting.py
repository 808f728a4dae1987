"""Numbers, units, plurals, directions and times in the words a person reads.

Load with ``{% load formatting %}``::

    {{ goal.target|number }}                    10.8000 → "10.8", 1200000 → "1,200,000" (in English)
    {{ goal.target|quantity:goal.metric_unit }}  "1 person", "12 people", "42%", "120 EUR k"
    {{ n|counted:"migration" }}                 "1 migration", "2 migrations"
    {{ n|counted:"person,people" }}             an explicit plural where the rules would guess wrong
    {{ offsets|days_list }}                     [7, 1] → "7 days and 1 day" (in the active language)
    {{ goal.direction|direction_words }}         "higher is better" (also from "Increase (higher is better)")
    {{ access.side|side_word }}                 "vendor", "partner": a side in a sentence ("the vendor side")
    {{ access.role|role_word }}                 "viewer", "editor", "approver": a role in a sentence
    {{ event.created_at|when }}                 "3 Mar 2026, 14:05" in the person's own time zone

Numbers follow the active language's grouping and decimal marks (``django.utils.formats``), keep
every significant decimal and drop trailing zeros. Units are pluralised only when they are plain
words ("person", "deals", "qualified leads"); symbols and abbreviations ("EUR k", "%", "h", "FTE")
stay as written. Units are what people typed, so their plurals follow English rules whatever the
language; the words Partnerplan itself writes (directions, sides, roles, statuses) come from the
active language's catalogue. The same functions are importable for Python code that writes sentences
(``plans.history``), so a sentence and a template never format a number differently.

Nothing here marks text safe: every filter returns plain text that the template escapes.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext_lazy

register = template.Library()

# --- Numbers -------------------------------------------------------------------------------------


def as_decimal(value: Any) -> Decimal | None:
    """The value as a finite Decimal, or None when it is not a number (text, None, NaN, booleans)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def format_number(value: Any) -> str:
    """A number as people write it: grouped by the active locale, no trailing zeros ("10.8000" →
    "10.8", "1200000" → "1,200,000", "3.0" → "3"). Anything that is not a number comes back as text."""
    number = as_decimal(value)
    if number is None:
        return "" if value is None else str(value)
    if number == number.to_integral_value():
        number = number.quantize(Decimal(1))
        places = 0
    else:
        number = number.normalize()
        places = max(0, -int(number.as_tuple().exponent))
    text = number_format(number, decimal_pos=places, use_l10n=True, force_grouping=True)
    return "0" if text in ("-0", "−0") else text


@register.filter(is_safe=False)
def number(value: Any) -> str:
    return format_number(value)


# --- Words and their plurals ---------------------------------------------------------------------

IRREGULAR = {
    "person": "people",
    "child": "children",
    "man": "men",
    "woman": "women",
    "foot": "feet",
    "tooth": "teeth",
    "mouse": "mice",
    "analysis": "analyses",
    "criterion": "criteria",
}
SINGULAR_OF = {plural: singular for singular, plural in IRREGULAR.items()}
# Words without a plural: "1 revenue" and "3 revenue" read alike.
UNCOUNTABLE = {
    "revenue",
    "pipeline",
    "utilisation",
    "utilization",
    "software",
    "equipment",
    "information",
    "feedback",
    "staff",
    "news",
    "series",
    "species",
    "data",
    "money",
    "cash",
    "traffic",
    "work",
    "headcount",
    "spend",
}
# Lower-case abbreviations that look like words but are symbols.
ABBREVIATIONS = {"hr", "hrs", "min", "mins", "sec", "secs", "pcs", "pct", "kwh", "km", "kg", "pts", "qty"}
WORD_UNIT = re.compile(r"^[a-z]+(?:[ -][a-z]+)*$")
# In "hours per week" or "days of training" the noun to inflect comes before the preposition.
PREPOSITION = re.compile(r" (per|of|in|for|a|an) ")


def singular(word: str) -> str:
    if word in SINGULAR_OF:
        return SINGULAR_OF[word]
    if word in UNCOUNTABLE or word in IRREGULAR:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("s") and len(word) >= 3:
        return word[:-1]
    return word


def plural(word: str) -> str:
    if word in IRREGULAR:
        return IRREGULAR[word]
    if word in SINGULAR_OF or word in UNCOUNTABLE:
        return word
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word  # written in the plural already ("deals", "days")
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def is_one(value: Any) -> bool:
    number = as_decimal(value)
    return number is not None and abs(number) == 1


def is_word_unit(unit: str) -> bool:
    """Is the unit a plain word (or words) to pluralise, rather than a symbol or abbreviation?"""
    return bool(WORD_UNIT.match(unit)) and len(unit) >= 3 and unit not in ABBREVIATIONS


def unit_for(unit: str, value: Any) -> str:
    """The unit in the number the value asks for ("people" → "person" for 1; "deal" → "deals" for 3);
    symbols and abbreviations unchanged."""
    unit = (unit or "").strip()
    if not is_word_unit(unit):
        return unit
    inflect = singular if is_one(value) else plural
    head, sep, tail = unit, "", ""
    if match := PREPOSITION.search(unit):
        head, sep, tail = unit[: match.start()], unit[match.start() : match.end()], unit[match.end() :]
    before, space, last = head.rpartition(" ")
    prefix, dash, noun = last.rpartition("-")  # "follow-ups": the noun is after the last hyphen
    return before + space + prefix + dash + inflect(noun) + sep + tail


def format_quantity(value: Any, unit: str = "") -> str:
    """A number with its unit: "1 person", "2.5 days", "42%", "120 EUR k"."""
    text = format_number(value)
    unit = (unit or "").strip()
    if not unit:
        return text
    if unit == "%":
        return f"{text}%"
    return f"{text} {unit_for(unit, value)}"


def format_counted(count: Any, word: str) -> str:
    """A count with its noun: "1 migration", "2 migrations"; ``word`` may give both forms as
    "singular,plural" where the rules would guess wrong."""
    one, _, many = word.partition(",")
    inflect = (lambda _: one if is_one(count) else many) if many else (singular if is_one(count) else plural)
    return f"{format_number(count)} {inflect(one)}"


def format_days(days: Any) -> str:
    """Numbers of days as one phrase: [7, 1] → "7 days and 1 day"."""
    phrase = ""
    for n in days:
        count = ngettext("%(n)s day", "%(n)s days", int(n)) % {"n": format_number(n)}
        phrase = count if not phrase else gettext("%(days)s and %(more)s") % {"days": phrase, "more": count}
    return phrase


@register.filter(is_safe=False)
def days_list(days: Any) -> str:
    return format_days(days)


@register.filter(is_safe=False)
def quantity(value: Any, unit: str = "") -> str:
    return format_quantity(value, unit)


@register.filter(is_safe=False)
def unit_of(unit: str, value: Any) -> str:
    """``{{ goal.metric_unit|unit_of:value }}``: the unit alone, in the number ``value`` asks for."""
    return unit_for(unit, value)


@register.filter(is_safe=False)
def counted(count: Any, word: str) -> str:
    return format_counted(count, word)


# --- Goal direction -------------------------------------------------------------------------------

DIRECTION_WORDS = {"increase": gettext_lazy("higher is better"), "decrease": gettext_lazy("lower is better")}
BETTER = re.compile(r"(higher|lower) is better", re.IGNORECASE)


def direction_text(value: Any) -> str:
    """ "increase", "Increase (higher is better)" or "(increase (higher is better))" → "higher is better"."""
    text = str(value or "").strip()
    if match := BETTER.search(text):
        return str(DIRECTION_WORDS["increase" if match.group(1).lower() == "higher" else "decrease"])
    words = DIRECTION_WORDS.get(text.strip("() ").lower())
    return text if words is None else str(words)


@register.filter(is_safe=False)
def direction_words(value: Any) -> str:
    return direction_text(value)


# --- Sides and roles in sentences -----------------------------------------------------------------

# The lower-case words for "the vendor side" or "as approver"; the choices' labels are the capitalised
# names for lists and badges. Codes only: this layer knows no model.
SIDE_WORDS = {
    "vendor": pgettext_lazy("side, in a sentence", "vendor"),
    "partner": pgettext_lazy("side, in a sentence", "partner"),
}
ROLE_WORDS = {
    "viewer": pgettext_lazy("role, in a sentence", "viewer"),
    "editor": pgettext_lazy("role, in a sentence", "editor"),
    "approver": pgettext_lazy("role, in a sentence", "approver"),
}


@register.filter(is_safe=False)
def side_word(value: Any) -> str:
    """A side's code as the word in a sentence: "vendor" → "vendor" (in the active language)."""
    words = SIDE_WORDS.get(str(value or ""))
    return str(value or "") if words is None else str(words)


@register.filter(is_safe=False)
def role_word(value: Any) -> str:
    """A role's code as the word in a sentence: "approver" → "approver" (in the active language)."""
    words = ROLE_WORDS.get(str(value or ""))
    return str(value or "") if words is None else str(words)


# --- Times ----------------------------------------------------------------------------------------

WHEN_FORMAT = "j M Y, H:i"


def format_when(value: Any, fmt: str = WHEN_FORMAT) -> str:
    """A moment in the active time zone (the person's own, see ``accounts.middleware``)."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value, dt.UTC)
        return str(date_filter(timezone.localtime(value), fmt))
    if isinstance(value, dt.date):
        return str(date_filter(value, "j M Y"))
    return "" if value is None else str(value)


@register.filter(is_safe=False)
def when(value: Any, fmt: str = WHEN_FORMAT) -> str:
    return format_when(value, fmt)


@register.simple_tag
def zone_name() -> str:
    """The name of the active time zone, to label times with ("Europe/Berlin")."""
    return str(timezone.get_current_timezone_name())


@register.filter(is_safe=False)
def code_words(value: Any) -> str:
    """A stored code as words, for snapshots that kept the code only: "changes_requested" →
    "Changes requested". The words are the code's choice label (``GoalStatus``), so the active
    language's catalogue has them; a code without a label stays in English words."""
    words = str(value or "").replace("_", " ").capitalize()
    return gettext(words) if words else words
