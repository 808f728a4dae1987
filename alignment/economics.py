"""Each side's economics, owned by that side: its business drivers and its figures per period.

Partners act on their own business objectives (a consulting house on services revenue, utilisation
of certified consultants, billable rate; a solution provider on licence revenue, active users,
discount), so each side names its drivers (``Driver``) and records its numbers per period
(``DriverFigure``). A figure is private to its side until that side's approvers share it, figure
by figure; the other side never sees a private figure anywhere: every read of figures goes through
``figures_visible_to`` and every change of a private figure is a change event only its own side is
served (``ChangeEvent.side_only``, filtered by ``side_only_visible``). Objectives link to the
drivers they move, of either side.

``Driver`` is the one home of business drivers. The name lists that existed before
(``Partnership.vendor_drivers``/``partner_drivers`` and the same on ``Objective``) stay readable
as a copy of the drivers' names that these services keep current (``_mirror_partnership``,
``_mirror_objective``); a client that still writes those lists changes the drivers through
``drivers_from_names`` and ``links_from_names``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from core.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from core.writes import apply_changes, check_version, free_id, insert, lock, model_update, validate
from core.writes import text as text_input

from .access import Access, standing_on
from .changes import record_change
from .models import (
    ChangeEvent,
    Driver,
    DriverFigure,
    FigureVisibility,
    Objective,
    Partnership,
    Side,
)

CREATE, UPDATE, DELETE = ChangeEvent.Action.CREATE, ChangeEvent.Action.UPDATE, ChangeEvent.Action.DELETE

MAX_DRIVERS_PER_SIDE = 20
DRIVER_FIELDS = ("name", "unit", "order")
FIGURE_FIELDS = ("period_start", "period_end", "value", "note", "visibility")
# How many of a driver's latest figures the plan page shows (and reads).
RECENT_FIGURES = 6


# --- Who sees what ------------------------------------------------------------------------------


def figure_visible(side: str, prefix: str = "") -> Q:
    """The figures a person of ``side`` may see: their own side's, and the other side's shared ones.
    ``prefix`` is the path from the queried model to the figure (``"figure__"``)."""
    return Q(**{f"{prefix}driver__side": side}) | Q(**{f"{prefix}visibility": FigureVisibility.SHARED})


def figures_visible_to(access: Access) -> QuerySet[DriverFigure]:
    """Every figure of the partnership the person may see."""
    return DriverFigure.objects.filter(figure_visible(access.side), driver__partnership=access.partnership)


def has_private_figures(partnership: Partnership) -> bool:
    """Whether either side keeps a figure to itself: then what each side sees of the plan differs."""
    return DriverFigure.objects.filter(driver__partnership=partnership, visibility=FigureVisibility.PRIVATE).exists()


def side_only_visible(user: Any, prefix: str = "") -> Q:
    """The change events a person may be served, by the side they stand on in each partnership
    (``alignment.access.standing_on``): every event meant for both sides, and a ``side_only``
    event only where they are on its side."""
    return (
        Q(**{f"{prefix}side_only__isnull": True})
        | (Q(**{f"{prefix}side_only": Side.VENDOR}) & standing_on(user, Side.VENDOR, f"{prefix}partnership"))
        | (Q(**{f"{prefix}side_only": Side.PARTNER}) & standing_on(user, Side.PARTNER, f"{prefix}partnership"))
    )


def figures_visible_to_user(user: Any) -> Q:
    """The figures a person may see in any partnership (scope the query to their partnerships as
    well): shared ones, and private ones of the side they stand on."""
    return (
        Q(visibility=FigureVisibility.SHARED)
        | (Q(driver__side=Side.VENDOR) & standing_on(user, Side.VENDOR, "driver__partnership"))
        | (Q(driver__side=Side.PARTNER) & standing_on(user, Side.PARTNER, "driver__partnership"))
    )


def side_visible(side: str | None, prefix: str = "") -> Q:
    """The change events one side of one partnership may see (an organisation's webhook, a chat
    channel, a page of the partnership's history); ``None`` is the partnership as a whole (only
    events both sides see)."""
    if side is None:
        return Q(**{f"{prefix}side_only__isnull": True})
    return Q(**{f"{prefix}side_only__isnull": True}) | Q(**{f"{prefix}side_only": side})


def figure_side_only(figure: DriverFigure, side: str) -> str | None:
    """The side a change of this figure is shown to: its own only while it is private."""
    return None if figure.visibility == FigureVisibility.SHARED else side


# --- Drivers ------------------------------------------------------------------------------------


def _require_own_side(access: Access, driver: Driver, what: str) -> None:
    if driver.side != access.side:
        raise NotAllowed(f"Each side keeps its own economics; this driver is the {driver.side} side's to {what}.")


def _lock_driver(access: Access, driver_id: Any) -> Driver:
    return lock(Driver.objects.filter(partnership=access.partnership), driver_id, "driver")


def _clean_driver(driver: Driver) -> None:
    driver.name = text_input(driver.name, "name")
    driver.unit = text_input(driver.unit, "unit")
    if not driver.name:
        raise InvalidInput("Name the driver.", fields={"name": ["This field is required."]})
    validate(driver, exclude=["partnership"])
    taken = Driver.objects.filter(partnership_id=driver.partnership_id, side=driver.side, name=driver.name)
    if taken.exclude(pk=driver.pk).exists():
        raise InvalidInput(
            f"The {driver.side} side has a driver “{driver.name}” already.", fields={"name": ["Already used."]}
        )


def _insert_driver(access: Access, driver: Driver) -> Driver:
    _clean_driver(driver)
    if Driver.objects.filter(partnership=access.partnership, side=driver.side).count() >= MAX_DRIVERS_PER_SIDE:
        raise RuleViolation(f"A side names at most {MAX_DRIVERS_PER_SIDE} business drivers.", code="driver.too_many")
    if not driver.order:
        driver.order = Driver.objects.filter(partnership=access.partnership, side=driver.side).count() + 1
    try:
        with transaction.atomic():
            insert(driver, "driver")
    except IntegrityError as exc:  # a concurrent add of the same name
        raise InvalidInput(
            f"The {driver.side} side has a driver “{driver.name}” already.", fields={"name": ["Already used."]}
        ) from exc
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=driver,
        action=CREATE,
        summary=f"added the {driver.side} side's business driver “{driver.name}”",
    )
    return driver


@transaction.atomic
def driver_add(*, access: Access, name: str, unit: str = "", order: int = 0, id: Any = None) -> Driver:
    """Add a business driver to the caller's side (its editors and approvers)."""
    access.require_edit("add business drivers")
    driver = Driver(partnership=access.partnership, side=access.side, name=name, unit=unit or "", order=order or 0)
    if id is not None:
        driver.id = free_id(Driver, id, "driver")
    driver = _insert_driver(access, driver)
    _mirror_partnership(access, driver.side)
    return driver


@transaction.atomic
def ensure_drivers(*, access: Access, partnership: Partnership, drivers: list[tuple[str, str, str]]) -> list[Driver]:
    """The drivers ``(side, name, unit)`` of a partnership, made where missing (a template of the
    partner type seeds both sides' usual drivers; each side renames or removes its own later).
    Idempotent: an existing driver of that side and name is returned as it is (its unit kept), and
    running it twice makes nothing new. Needs an editor of the partnership."""
    if partnership.pk != access.partnership.pk:
        raise NotFound("No such partnership.")
    access.require_edit("add business drivers")
    wanted: list[tuple[str, str, str]] = []
    for side, name, unit in drivers:
        if side not in Side.values:
            raise InvalidInput(f"Unknown side “{side}”.", fields={"side": [f"Choose one of {', '.join(Side.values)}."]})
        wanted.append((side, text_input(name, "name"), text_input(unit, "unit")))
    existing = {(d.side, d.name): d for d in Driver.objects.filter(partnership=access.partnership)}
    result: list[Driver] = []
    grown: set[str] = set()
    for side, name, unit in wanted:
        driver = existing.get((side, name))
        if driver is None:
            driver = _insert_driver(access, Driver(partnership=access.partnership, side=side, name=name, unit=unit))
            existing[side, name] = driver
            grown.add(side)
        result.append(driver)
    for side in sorted(grown):
        _mirror_partnership(access, side)
    return result


@transaction.atomic
def driver_update(*, access: Access, driver_id: Any, expected_version: int | None = None, **changes: Any) -> Driver:
    """Rename a driver of the caller's side, or change its unit or place. A new name reaches every
    objective that links to it."""
    access.require_edit("change business drivers")
    driver = _lock_driver(access, driver_id)
    _require_own_side(access, driver, "change")
    update = model_update(
        driver,
        changes=changes,
        allowed=DRIVER_FIELDS,
        expected_version=expected_version,
        clean=lambda d, changed: _clean_driver(d),
        record=lambda d, before, changed: record_change(
            actor=access.user,
            partnership=access.partnership,
            obj=d,
            action=UPDATE,
            before=before,
            summary=f"changed the {d.side} side's business driver “{d.name}”",
        ),
    )
    if {"name", "order"} & set(update.changed):
        _mirror_partnership(access, driver.side)
        if "name" in update.changed:
            for objective in Objective.objects.filter(drivers=driver).select_for_update(of=("self",)):
                _mirror_objective(access, objective)
    return update.obj


@transaction.atomic
def driver_remove(*, access: Access, driver_id: Any, expected_version: int | None = None) -> None:
    """Remove a driver of the caller's side with its figures and its links to objectives."""
    access.require_edit("remove business drivers")
    driver = _lock_driver(access, driver_id)
    _require_own_side(access, driver, "remove")
    check_version(driver, expected_version)
    _remove_driver(access, driver)
    _mirror_partnership(access, driver.side)


def _remove_driver(access: Access, driver: Driver) -> None:
    objectives = list(Objective.objects.filter(drivers=driver).select_for_update(of=("self",)))
    for figure in driver.figures.all():
        _record_figure_delete(access, figure, driver)
    before = driver.to_record()
    driver.delete()
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=driver,
        action=DELETE,
        before=before,
        summary=f"removed the {driver.side} side's business driver “{driver.name}”",
    )
    for objective in objectives:
        _mirror_objective(access, objective)


# --- The lists of names that existed before drivers ---------------------------------------------


def _mirror_partnership(access: Access, side: str) -> None:
    """Keep ``Partnership.<side>_drivers`` the names of that side's drivers, in their order."""
    partnership = lock(Partnership.objects, access.partnership.pk, "partnership")
    names = list(Driver.objects.filter(partnership=partnership, side=side).values_list("name", flat=True))
    attr = f"{side}_drivers"
    if getattr(partnership, attr) == names:
        return
    before = partnership.to_record()
    setattr(partnership, attr, names)
    partnership.bump()
    partnership.save(update_fields=[attr, "version", "updated_at"])
    setattr(access.partnership, attr, names)
    access.partnership.version, access.partnership.updated_at = partnership.version, partnership.updated_at
    record_change(
        actor=access.user,
        partnership=partnership,
        obj=partnership,
        action=UPDATE,
        before=before,
        summary=f"changed the {side} side's business drivers",
    )


def _mirror_objective(access: Access, objective: Objective) -> None:
    """Keep ``Objective.<side>_drivers`` the names of the drivers it links to, side by side."""
    linked = list(objective.drivers.order_by("side", "order", "name").values_list("side", "name"))
    lists = {side: [name for s, name in linked if s == side] for side in Side.values}
    if objective.vendor_drivers == lists[Side.VENDOR] and objective.partner_drivers == lists[Side.PARTNER]:
        return
    before = objective.to_record()
    objective.vendor_drivers, objective.partner_drivers = lists[Side.VENDOR], lists[Side.PARTNER]
    objective.bump()
    objective.save(update_fields=["vendor_drivers", "partner_drivers", "version", "updated_at"])
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=objective,
        action=UPDATE,
        before=before,
        summary=f"changed the drivers of the objective “{objective.title}”",
    )


def drivers_from_names(*, access: Access, partnership: Partnership, side: str, names: list[str]) -> None:
    """A side's list of driver names, written as a list (the partnership settings, the API's
    ``vendor_drivers``/``partner_drivers``): drivers are added and put in the list's order; one
    left out is removed, unless it has figures (those are removed on the plan page, on purpose).
    Call inside the service that saved the list; it records the drivers' changes."""
    names = list(dict.fromkeys(names))
    current = {d.name: d for d in Driver.objects.filter(partnership=partnership, side=side).select_for_update()}
    gone = [d for name, d in current.items() if name not in names]
    with_figures = [d.name for d in gone if d.figures.exists()]
    if with_figures:
        raise RuleViolation(
            f"{', '.join(with_figures)}: this driver has recorded figures; remove it with its figures in "
            "the plan's economics instead.",
            code="driver.has_figures",
        )
    for driver in gone:
        _remove_driver(access, driver)
    for order, name in enumerate(names, start=1):
        existing = current.get(name)
        if existing is None:
            _insert_driver(access, Driver(partnership=partnership, side=side, name=name, order=order))
        elif existing.order != order:
            before = existing.to_record()
            existing.order = order
            existing.bump()
            existing.save(update_fields=["order", "version", "updated_at"])
            record_change(
                actor=access.user,
                partnership=partnership,
                obj=existing,
                action=UPDATE,
                before=before,
                summary=f"moved the {side} side's business driver “{name}”",
            )


def links_from_names(*, access: Access, objective: Objective) -> None:
    """An objective's driver lists, written as names (the objective form, the API): link it to
    exactly those drivers (names the service checked are the partnership's). The objective's own
    change is recorded by its service."""
    named: set[tuple[str, str]] = {(Side.VENDOR.value, n) for n in objective.vendor_drivers} | {
        (Side.PARTNER.value, n) for n in objective.partner_drivers
    }
    drivers: dict[tuple[str, str], Driver] = {
        (d.side, d.name): d for d in Driver.objects.filter(partnership=access.partnership)
    }
    for side, name in sorted(named - set(drivers)):
        # A list written straight into the partnership (before drivers existed) names it: make it.
        drivers[side, name] = _insert_driver(access, Driver(partnership=access.partnership, side=side, name=name))
    objective.drivers.set([drivers[key] for key in named])


# --- Links between objectives and drivers ------------------------------------------------------


def _lock_objective(access: Access, objective_id: Any) -> Objective:
    return lock(Objective.objects.filter(partnership=access.partnership), objective_id, "objective")


@transaction.atomic
def objective_link_driver(*, access: Access, objective_id: Any, driver_id: Any) -> Objective:
    """Say that an objective moves a driver (of either side). Editors of either side."""
    access.require_edit("link objectives to drivers")
    objective = _lock_objective(access, objective_id)
    driver = _lock_driver(access, driver_id)
    objective.drivers.add(driver)
    _mirror_objective(access, objective)
    return objective


@transaction.atomic
def objective_unlink_driver(*, access: Access, objective_id: Any, driver_id: Any) -> Objective:
    access.require_edit("unlink objectives from drivers")
    objective = _lock_objective(access, objective_id)
    driver = _lock_driver(access, driver_id)
    objective.drivers.remove(driver)
    _mirror_objective(access, objective)
    return objective


# --- Figures ------------------------------------------------------------------------------------


def _lock_figure(access: Access, figure_id: Any) -> DriverFigure:
    """A figure of the caller's side; another side's is ``NotFound`` if private (it does not exist
    for them) and ``NotAllowed`` if shared."""
    figure = lock(
        DriverFigure.objects.filter(figure_visible(access.side), driver__partnership=access.partnership).select_related(
            "driver"
        ),
        figure_id,
        "figure",
    )
    if figure.driver.side != access.side:
        raise NotAllowed(f"This figure is the {figure.driver.side} side's; each side records its own.")
    return figure


def _visibility(value: Any) -> str:
    if value not in FigureVisibility.values:
        raise InvalidInput(
            f"Visibility is one of {', '.join(FigureVisibility.values)}.",
            fields={"visibility": [f"Choose one of {', '.join(FigureVisibility.values)}."]},
        )
    return str(value)


def _clean_figure(figure: DriverFigure) -> None:
    figure.note = text_input(figure.note, "note", multiline=True)
    validate(figure, exclude=["driver", "entered_by"])
    if figure.period_end < figure.period_start:
        raise InvalidInput(
            "A period ends on or after its start.", fields={"period_end": ["Must not be before the start."]}
        )
    if figure.period_start > timezone.localdate() + dt.timedelta(days=366):
        raise InvalidInput(
            "A figure is for a period that has begun.", fields={"period_start": ["Too far in the future."]}
        )
    taken = DriverFigure.objects.filter(
        driver_id=figure.driver_id, period_start=figure.period_start, period_end=figure.period_end
    )
    if taken.exclude(pk=figure.pk).exists():
        raise RuleViolation(
            "This driver has a figure for this period already; change that one.", code="figure.duplicate_period"
        )


def _figure_summary(verb: str, figure: DriverFigure, driver: Driver) -> str:
    # Never the value or the note: a summary is read in lists the other side may be shown.
    return f"{verb} the {driver.side} side's figure of “{driver.name}” for {figure.period_start}–{figure.period_end}"


@transaction.atomic
def figure_record(
    *,
    access: Access,
    driver_id: Any,
    period_start: Any,
    period_end: Any,
    value: Any,
    note: str = "",
    visibility: str = FigureVisibility.PRIVATE,
    id: Any = None,
) -> DriverFigure:
    """Record the caller's side's number of one of its drivers for a period. Private unless said
    otherwise, and only the side's approvers share one."""
    access.require_edit("record figures")
    driver = _lock_driver(access, driver_id)
    _require_own_side(access, driver, "record figures of")
    visibility = _visibility(visibility)
    if visibility == FigureVisibility.SHARED:
        access.require_approve("share a figure with the other side")
    figure = DriverFigure(driver=driver, entered_by=access.user, entered_at=timezone.now(), visibility=visibility)
    if id is not None:
        figure.id = free_id(DriverFigure, id, "figure")
    apply_changes(
        figure,
        {"period_start": period_start, "period_end": period_end, "value": value, "note": note or ""},
        FIGURE_FIELDS,
    )
    for name in ("period_start", "period_end", "value"):
        if getattr(figure, name) is None:
            raise InvalidInput(f"{name.replace('_', ' ').capitalize()} is required.", fields={name: ["Required."]})
    _clean_figure(figure)
    try:
        with transaction.atomic():
            insert(figure, "figure")
    except IntegrityError as exc:
        raise RuleViolation(
            "This driver has a figure for this period already; change that one.", code="figure.duplicate_period"
        ) from exc
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=figure,
        action=CREATE,
        summary=_figure_summary("recorded", figure, driver),
        side_only=figure_side_only(figure, driver.side),
    )
    return figure


@transaction.atomic
def figure_update(
    *, access: Access, figure_id: Any, expected_version: int | None = None, **changes: Any
) -> DriverFigure:
    """Change one's own side's figure (its period, value or note; its visibility through
    ``figure_set_visibility``, which this calls when ``visibility`` is given)."""
    access.require_edit("change figures")
    visibility = changes.pop("visibility", None)
    figure = _lock_figure(access, figure_id)
    driver = figure.driver
    update = model_update(
        figure,
        changes=changes,
        allowed=("period_start", "period_end", "value", "note"),
        expected_version=expected_version,
        clean=lambda f, changed: _clean_figure(f),
        record=lambda f, before, changed: record_change(
            actor=access.user,
            partnership=access.partnership,
            obj=f,
            action=UPDATE,
            before=before,
            summary=_figure_summary("changed", f, driver),
            side_only=figure_side_only(f, driver.side),
        ),
    )
    figure = update.obj
    if visibility is not None:
        figure = figure_set_visibility(
            access=access,
            figure_id=figure.pk,
            visibility=visibility,
            expected_version=None if update.changed else expected_version,
        )
    return figure


@transaction.atomic
def figure_set_visibility(
    *, access: Access, figure_id: Any, visibility: str, expected_version: int | None = None
) -> DriverFigure:
    """Share a figure with the other side, or make it private again: the side's approvers only.

    Shared, its change goes to both sides (the other side learns it as an update of a figure it had
    not seen). Made private again, its own side gets the update and the other side a tombstone with
    nothing but the id and version (the figure is gone for them)."""
    visibility = _visibility(visibility)
    access.require_approve("change who sees a figure")
    figure = _lock_figure(access, figure_id)
    check_version(figure, expected_version)
    if figure.visibility == visibility:
        return figure
    driver = figure.driver
    before = figure.to_record()
    figure.visibility = visibility
    figure.bump()
    figure.save(update_fields=["visibility", "version", "updated_at"])
    shared = visibility == FigureVisibility.SHARED
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=figure,
        action=UPDATE,
        before=before,
        summary=_figure_summary("shared" if shared else "made private", figure, driver),
        side_only=None if shared else driver.side,
    )
    if not shared:
        record_change(
            actor=access.user,
            partnership=access.partnership,
            obj=figure,
            action=DELETE,
            before={"id": str(figure.pk), "version": figure.version},
            summary=f"the {driver.side} side stopped sharing a figure of “{driver.name}”",
            side_only=Side.other(driver.side),
        )
    return figure


def _record_figure_delete(access: Access, figure: DriverFigure, driver: Driver) -> None:
    before = figure.to_record()
    figure_id = figure.pk
    figure.delete()
    figure.pk = figure_id
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=figure,
        action=DELETE,
        before=before,
        summary=_figure_summary("deleted", figure, driver),
        side_only=figure_side_only(figure, driver.side),
    )


@transaction.atomic
def figure_delete(*, access: Access, figure_id: Any, expected_version: int | None = None) -> None:
    access.require_edit("delete figures")
    figure = _lock_figure(access, figure_id)
    check_version(figure, expected_version)
    _record_figure_delete(access, figure, figure.driver)


# --- What the plan page shows -------------------------------------------------------------------


@dataclass
class DriverView:
    """A driver with the figures the reader may see (latest last) and its trend."""

    driver: Driver
    figures: list[DriverFigure] = field(default_factory=list)

    @property
    def latest(self) -> DriverFigure | None:
        return self.figures[-1] if self.figures else None

    @property
    def trend(self) -> str:
        """``up``, ``down``, ``flat``, or empty with fewer than two figures."""
        if len(self.figures) < 2:
            return ""
        change: Decimal = self.figures[-1].value - self.figures[-2].value
        return "up" if change > 0 else "down" if change < 0 else "flat"


@dataclass
class Economics:
    """Both sides' drivers as the reader may see them, and which drivers each objective moves."""

    own: list[DriverView]
    other: list[DriverView]
    by_objective: dict[Any, list[DriverView]]
    vendor: list[DriverView] = field(default_factory=list)
    partner: list[DriverView] = field(default_factory=list)

    def for_objective(self, objective_id: Any) -> list[DriverView]:
        return self.by_objective.get(objective_id, [])


def load_economics(access: Access) -> Economics:
    """The economics the reader may see, in three queries whatever the number of drivers, figures
    and objectives: drivers, each driver's latest visible figures, objective links."""
    drivers = list(Driver.objects.filter(partnership=access.partnership))
    recent = (
        figures_visible_to(access)
        .annotate(
            recency=Window(
                RowNumber(), partition_by=[F("driver_id")], order_by=[F("period_end").desc(), F("period_start").desc()]
            )
        )
        .filter(recency__lte=RECENT_FIGURES)
        .order_by("driver_id", "period_end", "period_start")
    )
    figures: dict[Any, list[DriverFigure]] = defaultdict(list)
    for figure in recent:
        figures[figure.driver_id].append(figure)
    views = {d.pk: DriverView(d, figures.get(d.pk, [])) for d in drivers}
    links = Objective.drivers.through.objects.filter(objective__partnership=access.partnership).values_list(
        "objective_id", "driver_id"
    )
    by_objective: dict[Any, list[DriverView]] = defaultdict(list)
    for objective_id, driver_id in links:
        if driver_id in views:
            by_objective[objective_id].append(views[driver_id])
    for linked in by_objective.values():
        linked.sort(key=lambda v: (v.driver.side != access.side, v.driver.order, v.driver.name))
    return Economics(
        own=[v for v in views.values() if v.driver.side == access.side],
        other=[v for v in views.values() if v.driver.side != access.side],
        by_objective=dict(by_objective),
        vendor=[v for v in views.values() if v.driver.side == Side.VENDOR],
        partner=[v for v in views.values() if v.driver.side == Side.PARTNER],
    )
