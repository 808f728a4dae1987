"""Each side's economics: drivers and figures owned by that side, objectives linked to drivers, and
the lists of driver names that existed before kept in step."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from importlib import import_module

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alignment import economics as eco
from alignment import services as plan
from alignment.models import ChangeEvent, Driver, DriverFigure, FigureVisibility, Side
from core.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from tests import factories as f

Q1 = (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
Q2 = (dt.date(2026, 4, 1), dt.date(2026, 6, 30))


def drivers_of(p, side):  # type: ignore[no-untyped-def]
    return list(Driver.objects.filter(partnership=p, side=side).values_list("name", flat=True))


def test_a_new_partnership_has_its_drivers_as_rows(cast):
    p = cast.partnership
    assert drivers_of(p, Side.VENDOR) == ["licence revenue", "active users"]
    assert drivers_of(p, Side.PARTNER) == ["services revenue", "utilisation"]


def test_ensure_drivers_is_idempotent_and_keeps_the_lists_in_step(cast):
    a = cast.access("vendor_editor")
    wanted = [(Side.PARTNER, "billable rate", "EUR/h"), (Side.PARTNER, "utilisation", "%"), (Side.VENDOR, "seats", "")]
    first = eco.ensure_drivers(access=a, partnership=cast.partnership, drivers=wanted)
    events = ChangeEvent.objects.count()
    second = eco.ensure_drivers(access=a, partnership=cast.partnership, drivers=wanted)
    assert [d.pk for d in first] == [d.pk for d in second]
    assert ChangeEvent.objects.count() == events
    cast.partnership.refresh_from_db()
    assert cast.partnership.partner_drivers == ["services revenue", "utilisation", "billable rate"]
    assert cast.partnership.vendor_drivers == ["licence revenue", "active users", "seats"]
    assert Driver.objects.get(partnership=cast.partnership, side=Side.PARTNER, name="utilisation").unit == ""
    with pytest.raises(NotAllowed):
        eco.ensure_drivers(access=cast.access("vendor_viewer"), partnership=cast.partnership, drivers=wanted)
    with pytest.raises(NotFound):
        eco.ensure_drivers(access=a, partnership=cast.outsider_partnership, drivers=wanted)


def test_each_side_adds_renames_and_removes_only_its_own_drivers(cast):
    partner = cast.access("partner_editor")
    driver = eco.driver_add(access=partner, name="deals sourced", unit="deals")
    assert driver.side == Side.PARTNER
    with pytest.raises(NotAllowed):
        eco.driver_update(access=cast.access("vendor_admin"), driver_id=driver.pk, name="hijacked")
    with pytest.raises(NotAllowed):
        eco.driver_add(access=cast.access("partner_viewer"), name="x")
    with pytest.raises(InvalidInput):
        eco.driver_add(access=partner, name="deals sourced")
    eco.driver_update(access=partner, driver_id=driver.pk, expected_version=1, name="deals sourced by us")
    cast.partnership.refresh_from_db()
    assert "deals sourced by us" in cast.partnership.partner_drivers
    with pytest.raises(NotAllowed):
        eco.driver_remove(access=cast.access("vendor_admin"), driver_id=driver.pk)
    eco.driver_remove(access=partner, driver_id=driver.pk)
    cast.partnership.refresh_from_db()
    assert "deals sourced by us" not in cast.partnership.partner_drivers


def test_a_rename_reaches_the_objectives_that_link_to_the_driver(cast):
    vendor = cast.access("vendor_editor")
    objective = f.make_objective(vendor, partner_drivers=["utilisation"])
    driver = Driver.objects.get(partnership=cast.partnership, side=Side.PARTNER, name="utilisation")
    assert list(objective.drivers.all()) == [driver]
    eco.driver_update(access=cast.access("partner_editor"), driver_id=driver.pk, name="consultant utilisation")
    objective.refresh_from_db()
    assert objective.partner_drivers == ["consultant utilisation"]
    eco.objective_link_driver(
        access=vendor,
        objective_id=objective.pk,
        driver_id=Driver.objects.get(partnership=cast.partnership, name="active users").pk,
    )
    objective.refresh_from_db()
    assert objective.vendor_drivers == ["active users"]
    eco.objective_unlink_driver(access=vendor, objective_id=objective.pk, driver_id=driver.pk)
    objective.refresh_from_db()
    assert objective.partner_drivers == [] and objective.drivers.count() == 1


def test_writing_the_list_of_names_adds_moves_and_removes_drivers(cast):
    admin = cast.access("vendor_admin")
    plan.partnership_update(access=admin, vendor_drivers=["active users", "net retention"])
    assert drivers_of(cast.partnership, Side.VENDOR) == ["active users", "net retention"]
    driver = Driver.objects.get(partnership=cast.partnership, name="net retention")
    eco.figure_record(access=admin, driver_id=driver.pk, period_start=Q1[0], period_end=Q1[1], value="101")
    with pytest.raises(RuleViolation) as refused:
        plan.partnership_update(access=cast.access("vendor_admin"), vendor_drivers=["active users"])
    assert refused.value.code == "driver.has_figures"


def test_figures_are_the_sides_own_and_private_by_default(cast):
    partner = cast.access("partner_editor")
    driver = Driver.objects.get(partnership=cast.partnership, name="utilisation")
    figure = eco.figure_record(
        access=partner, driver_id=driver.pk, period_start=Q1[0], period_end=Q1[1], value="71.5", note="bench heavy"
    )
    assert figure.visibility == FigureVisibility.PRIVATE and figure.entered_by == cast.partner_editor
    event = ChangeEvent.objects.filter(object_id=figure.pk).get()
    assert event.side_only == Side.PARTNER and "71.5" not in event.summary
    with pytest.raises(NotAllowed):
        eco.figure_record(
            access=cast.access("vendor_admin"), driver_id=driver.pk, period_start=Q2[0], period_end=Q2[1], value=1
        )
    with pytest.raises(NotAllowed):
        eco.figure_record(
            access=partner, driver_id=driver.pk, period_start=Q2[0], period_end=Q2[1], value=1, visibility="shared"
        )
    with pytest.raises(RuleViolation):
        eco.figure_record(access=partner, driver_id=driver.pk, period_start=Q1[0], period_end=Q1[1], value=2)
    with pytest.raises(InvalidInput):
        eco.figure_record(access=partner, driver_id=driver.pk, period_start=Q1[1], period_end=Q1[0], value=2)
    with pytest.raises(InvalidInput):
        eco.figure_record(access=partner, driver_id=driver.pk, period_start=Q2[0], period_end=Q2[1], value="lots")
    # The other side cannot even find it.
    with pytest.raises(NotFound):
        eco.figure_update(access=cast.access("vendor_admin"), figure_id=figure.pk, value=3)


def test_only_the_sides_approvers_share_a_figure_and_unsharing_tells_the_other_side_it_is_gone(cast):
    driver = Driver.objects.get(partnership=cast.partnership, name="utilisation")
    figure = eco.figure_record(
        access=cast.access("partner_editor"), driver_id=driver.pk, period_start=Q1[0], period_end=Q1[1], value="70"
    )
    with pytest.raises(NotAllowed):
        eco.figure_set_visibility(access=cast.access("partner_editor"), figure_id=figure.pk, visibility="shared")
    shared = eco.figure_set_visibility(access=cast.access("partner_approver"), figure_id=figure.pk, visibility="shared")
    assert shared.is_shared
    assert ChangeEvent.objects.filter(object_id=figure.pk).latest("seq").side_only is None
    # Shared, the other side sees it but may not change it.
    with pytest.raises(NotAllowed):
        eco.figure_update(access=cast.access("vendor_admin"), figure_id=figure.pk, value=1)
    eco.figure_set_visibility(access=cast.access("partner_approver"), figure_id=figure.pk, visibility="private")
    update, tombstone = ChangeEvent.objects.filter(object_id=figure.pk).order_by("-seq")[:2][::-1]
    assert (update.action, update.side_only) == ("update", Side.PARTNER)
    assert (tombstone.action, tombstone.side_only) == ("delete", Side.VENDOR)
    assert set(tombstone.before) == {"id", "version"}


def test_removing_a_driver_removes_its_figures_with_their_privacy(cast):
    partner = cast.access("partner_approver")
    driver = Driver.objects.get(partnership=cast.partnership, name="utilisation")
    figure = eco.figure_record(access=partner, driver_id=driver.pk, period_start=Q1[0], period_end=Q1[1], value="70")
    eco.driver_remove(access=partner, driver_id=driver.pk)
    assert not DriverFigure.objects.filter(pk=figure.pk).exists()
    tombstone = ChangeEvent.objects.get(object_id=figure.pk, action="delete")
    assert tombstone.side_only == Side.PARTNER


def test_the_economics_a_side_sees_latest_and_trend(cast):
    partner = cast.access("partner_approver")
    objective = f.make_objective(
        cast.access("vendor_editor"), partner_drivers=["utilisation"], vendor_drivers=["active users"]
    )
    driver = Driver.objects.get(partnership=cast.partnership, name="utilisation")
    eco.figure_record(access=partner, driver_id=driver.pk, period_start=Q1[0], period_end=Q1[1], value="70")
    eco.figure_record(
        access=partner, driver_id=driver.pk, period_start=Q2[0], period_end=Q2[1], value="74", visibility="shared"
    )
    own = eco.load_economics(partner)
    [utilisation] = [v for v in own.for_objective(objective.pk) if v.driver.pk == driver.pk]
    assert utilisation.latest.value == Decimal("74") and utilisation.trend == "up"
    theirs = eco.load_economics(cast.access("vendor_admin"))
    [seen] = [v for v in theirs.for_objective(objective.pk) if v.driver.pk == driver.pk]
    assert [x.value for x in seen.figures] == [Decimal("74")] and seen.trend == ""
    assert {v.driver.side for v in theirs.own} == {Side.VENDOR}


# --- The panel on the plan page --------------------------------------------------------------

HTMX = {"HX-Request": "true"}


def panel_url(cast, what):  # type: ignore[no-untyped-def]
    return f"/p/{cast.partnership.pk}/economics/{what}"


def test_the_plan_page_shows_our_economics_and_what_each_objective_moves(client, cast):
    partner = cast.access("partner_approver")
    objective = f.make_objective(
        cast.access("vendor_editor"), title="Migration practice", partner_drivers=["utilisation"]
    )
    driver = Driver.objects.get(partnership=cast.partnership, name="utilisation")
    eco.figure_record(access=partner, driver_id=driver.pk, period_start=Q1[0], period_end=Q1[1], value="70")
    eco.figure_record(access=partner, driver_id=driver.pk, period_start=Q2[0], period_end=Q2[1], value="74.5")
    client.force_login(cast.partner_approver)
    page = client.get(f"/p/{cast.partnership.pk}/").content.decode()
    assert "Our economics" in page and 'id="economics"' in page
    assert "74.5" in page and "rising" in page and objective.title in page
    assert "Share with the other side" in page  # the partner's approver may share its figures
    client.force_login(cast.vendor_admin)
    theirs = client.get(f"/p/{cast.partnership.pk}/").content.decode()
    assert "74.5" not in theirs and "no figure you may see yet" in theirs


def test_an_editor_records_a_private_figure_from_the_panel(client, cast):
    driver = Driver.objects.get(partnership=cast.partnership, name="utilisation")
    client.force_login(cast.partner_editor)
    form = client.get(f"/p/{cast.partnership.pk}/fragment/economics/").content.decode()
    assert 'name="visibility"' not in form  # only approvers choose to share
    response = client.post(
        panel_url(cast, "figures/"),
        {
            "driver": str(driver.pk),
            "period_start": "2026-01-01",
            "period_end": "2026-03-31",
            "value": "71.25",
            "note": "Bench",
        },
        headers=HTMX,
    )
    assert response.status_code == 200 and "71.25" in response.content.decode()
    figure = DriverFigure.objects.get(driver=driver)
    assert figure.visibility == FigureVisibility.PRIVATE and figure.note == "Bench"


def test_bad_figures_come_back_on_the_form_and_nothing_is_written(client, cast):
    driver = Driver.objects.get(partnership=cast.partnership, name="utilisation")
    client.force_login(cast.partner_approver)
    for data in (
        {"driver": str(driver.pk), "period_start": "2026-04-01", "period_end": "2026-03-01", "value": "1"},
        {"driver": str(driver.pk), "period_start": "2026-01-01", "period_end": "2026-03-31", "value": "many"},
        {"driver": "not-a-driver", "period_start": "2026-01-01", "period_end": "2026-03-31", "value": "1"},
    ):
        response = client.post(panel_url(cast, "figures/"), data | {"visibility": "private"}, headers=HTMX)
        assert response.status_code == 422, data
        assert 'id="economics"' in response.content.decode()
    assert not DriverFigure.objects.exists()


def test_sharing_from_the_panel_is_for_the_sides_approvers(client, cast):
    driver = Driver.objects.get(partnership=cast.partnership, name="utilisation")
    figure = eco.figure_record(
        access=cast.access("partner_editor"), driver_id=driver.pk, period_start=Q1[0], period_end=Q1[1], value="70"
    )
    url = panel_url(cast, f"figures/{figure.pk}/visibility/")
    client.force_login(cast.partner_editor)
    assert client.post(url, {"visibility": "shared"}, headers=HTMX).status_code == 403
    client.force_login(cast.vendor_admin)
    assert client.post(url, {"visibility": "shared"}, headers=HTMX).status_code == 404
    client.force_login(cast.outsider)
    assert client.post(url, {"visibility": "shared"}).status_code == 404
    client.force_login(cast.partner_approver)
    response = client.post(url, {"visibility": "shared"})
    assert response.status_code == 302 and response["Location"].endswith("#economics")
    figure.refresh_from_db()
    assert figure.is_shared


def test_drivers_are_added_and_removed_from_the_panel(client, cast):
    client.force_login(cast.partner_editor)
    response = client.post(panel_url(cast, "drivers/"), {"name": "deals sourced", "unit": "deals"}, headers=HTMX)
    assert response.status_code == 200 and "deals sourced" in response.content.decode()
    again = client.post(panel_url(cast, "drivers/"), {"name": "deals sourced"}, headers=HTMX)
    assert again.status_code == 422 and "Already used" in again.content.decode()
    driver = Driver.objects.get(partnership=cast.partnership, name="deals sourced")
    client.force_login(cast.partner_viewer)
    assert client.post(panel_url(cast, "drivers/"), {"name": "x"}, headers=HTMX).status_code == 403
    client.force_login(cast.partner_editor)
    assert client.post(panel_url(cast, f"drivers/{driver.pk}/remove/"), headers=HTMX).status_code == 200
    assert not Driver.objects.filter(pk=driver.pk).exists()
    cast.partnership.refresh_from_db()
    assert "deals sourced" not in cast.partnership.partner_drivers


def test_a_migrated_plan_keeps_its_driver_lists_as_drivers_and_links(cast):
    """What the migration does for plans written before drivers were rows (``drivers_from_lists``)."""
    migration = import_module("alignment.migrations.0011_side_economics")
    p = cast.partnership
    objective = f.make_objective(cast.access("vendor_editor"))
    Driver.objects.all().delete()  # as before the migration
    type(p).objects.filter(pk=p.pk).update(vendor_drivers=["licence revenue"], partner_drivers=["utilisation"])
    type(objective).objects.filter(pk=objective.pk).update(
        vendor_drivers=["licence revenue"], partner_drivers=["retired one"]
    )
    migration.drivers_from_lists(apps, None)
    assert drivers_of(p, Side.VENDOR) == ["licence revenue"]
    assert drivers_of(p, Side.PARTNER) == ["utilisation", "retired one"]
    assert sorted(objective.drivers.values_list("name", flat=True)) == ["licence revenue", "retired one"]
    p.refresh_from_db()
    assert p.partner_drivers == ["utilisation", "retired one"]


# --- Editing a recorded figure from the panel -------------------------------------------------


def edit_url(cast, figure):  # type: ignore[no-untyped-def]
    return panel_url(cast, f"figures/{figure.pk}/edit/")


def recorded(cast, who="partner_editor", value="70", visibility="private"):  # type: ignore[no-untyped-def]
    driver = Driver.objects.get(partnership=cast.partnership, name="utilisation")
    return eco.figure_record(
        access=cast.access(who),
        driver_id=driver.pk,
        period_start=Q1[0],
        period_end=Q1[1],
        value=value,
        note="bench heavy",
        visibility=visibility,
    )


def test_an_editor_opens_a_figure_to_edit_it_prefilled(client, cast):
    figure = recorded(cast, value="71.25")
    client.force_login(cast.partner_editor)
    page = client.get(f"/p/{cast.partnership.pk}/fragment/economics/").content.decode()
    assert f'href="{edit_url(cast, figure)}"' in page and f'hx-get="{edit_url(cast, figure)}"' in page
    form = client.get(edit_url(cast, figure), headers=HTMX)
    html = form.content.decode()
    assert form.status_code == 200 and 'id="economics"' in html and 'id="economics-figure-edit"' in html
    assert 'value="71.25"' in html and 'value="2026-01-01"' in html and "bench heavy" in html
    assert 'name="version" value="1"' in html and "data-editing" in html
    # Without JavaScript the link opens a page of its own with the same form (and no htmx on it).
    page = client.get(edit_url(cast, figure))
    text = page.content.decode()
    assert page.status_code == 200 and "Edit a figure of utilisation" in text and 'value="71.25"' in text
    assert "hx-post" not in text.split('id="economics-figure-edit"')[1].split("</form>")[0]


def test_saving_the_edit_changes_the_figure_through_its_service(client, cast):
    figure = recorded(cast)
    client.force_login(cast.partner_editor)
    data = {"version": 1, "period_start": "2026-01-01", "period_end": "2026-03-31", "value": "73.5", "note": "Better"}
    response = client.post(edit_url(cast, figure), data, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "73.5" in html and 'id="economics-figure-edit"' not in html
    figure.refresh_from_db()
    assert (figure.value, figure.note, figure.version) == (Decimal("73.5"), "Better", 2)
    event = ChangeEvent.objects.filter(object_id=figure.pk).latest("seq")
    assert event.action == "update" and event.side_only == Side.PARTNER and "73.5" not in event.summary
    # A plain POST (no JavaScript) redirects to the panel on the plan page.
    plain_post = client.post(edit_url(cast, figure), data | {"version": 2, "value": "74"})
    assert plain_post.status_code == 302 and plain_post["Location"].endswith("#economics")
    figure.refresh_from_db()
    assert figure.value == Decimal("74")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"value": "lots"}, "value", "Enter a number."),
        ({"value": ""}, "value", "This field is required."),
        ({"period_start": "2026-13-45"}, "period_start", "Enter a valid date."),
        ({"period_start": "2026-04-01"}, "period_end", "Must not be before the start."),
    ],
)
def test_a_wrong_edit_comes_back_with_its_error_and_the_input_kept(client, cast, changes, field, message):
    figure = recorded(cast)
    client.force_login(cast.partner_editor)
    data = {"version": 1, "period_start": "2026-01-01", "period_end": "2026-03-31", "value": "72", "note": "Typed"}
    data |= changes
    for headers in (HTMX, {}):
        response = client.post(edit_url(cast, figure), data, headers=headers)
        html = response.content.decode()
        assert response.status_code == 422, changes
        assert 'id="economics-figure-edit"' in html and message in html
        assert f'id="economics-figure-edit-{field}"' in html and "Typed" in html
        for value in changes.values():
            if value:
                assert f'value="{value}"' in html  # what was typed stays
    figure.refresh_from_db()
    assert (figure.value, figure.note, figure.version) == (Decimal("70"), "bench heavy", 1)


def test_an_edit_of_a_period_another_figure_has_is_refused_on_the_form(client, cast):
    figure = recorded(cast)
    driver = figure.driver
    eco.figure_record(
        access=cast.access("partner_editor"), driver_id=driver.pk, period_start=Q2[0], period_end=Q2[1], value="1"
    )
    client.force_login(cast.partner_editor)
    data = {"version": 1, "period_start": "2026-04-01", "period_end": "2026-06-30", "value": "72"}
    response = client.post(edit_url(cast, figure), data, headers=HTMX)
    assert response.status_code in (409, 422)
    assert "has a figure for this period already" in response.content.decode()
    figure.refresh_from_db()
    assert figure.period_start == Q1[0]


def test_an_edit_against_a_newer_version_shows_both_and_keeps_what_was_typed(client, cast):
    figure = recorded(cast)
    eco.figure_update(access=cast.access("partner_approver"), figure_id=figure.pk, expected_version=1, value="75")
    client.force_login(cast.partner_editor)
    data = {"version": 1, "period_start": "2026-01-01", "period_end": "2026-03-31", "value": "72", "note": "Mine"}
    for headers in (HTMX, {}):
        response = client.post(edit_url(cast, figure), data, headers=headers)
        html = response.content.decode()
        assert response.status_code == 409
        assert 'class="conflict"' in html and "Keep mine" in html and "Take theirs" in html
        assert "<td data-theirs>75</td>" in html and "<td data-mine>72</td>" in html
        assert 'value="72"' in html and "Mine" in html and 'name="version" value="2"' in html
    figure.refresh_from_db()
    assert figure.value == Decimal("75")
    # "Keep mine" saves over theirs at the version the conflict form carries.
    kept = client.post(edit_url(cast, figure), data | {"version": 2}, headers=HTMX)
    assert kept.status_code == 200
    figure.refresh_from_db()
    assert (figure.value, figure.note) == (Decimal("72"), "Mine")


def test_only_the_sides_editors_edit_its_figures(client, cast):
    private = recorded(cast)
    data = {"version": 1, "period_start": "2026-01-01", "period_end": "2026-03-31", "value": "1"}

    def answers(who, figure, **headers):  # type: ignore[no-untyped-def]
        client.force_login(getattr(cast, who))
        return (
            client.get(edit_url(cast, figure), headers=headers).status_code,
            client.post(edit_url(cast, figure), data, headers=headers).status_code,
        )

    # A private figure does not exist for the other side, whatever their role, nor for outsiders.
    for who in ("vendor_admin", "vendor_editor", "vendor_viewer", "outsider"):
        assert answers(who, private) == (404, 404), who
    assert answers("vendor_admin", private, **HTMX) == (404, 404)
    # The side's viewers may not change figures.
    assert answers("partner_viewer", private) == (403, 403)
    # A shared figure is seen by the other side, but is not theirs to change (as ``figure_update`` says).
    shared = eco.figure_set_visibility(
        access=cast.access("partner_approver"), figure_id=private.pk, visibility="shared"
    )
    assert answers("vendor_admin", shared) == (403, 403)
    assert answers("outsider", shared) == (404, 404)
    shared.refresh_from_db()
    assert shared.value == Decimal("70") and shared.version == 2
    # The other side's panel offers no edit of the partner's figures.
    client.force_login(cast.vendor_admin)
    assert "/edit/" not in client.get(f"/p/{cast.partnership.pk}/fragment/economics/").content.decode()


def test_the_panel_reads_the_same_queries_whatever_the_number_of_figures(client, cast):
    partner = cast.access("partner_approver")
    driver = Driver.objects.get(partnership=cast.partnership, name="utilisation")
    client.force_login(cast.partner_approver)
    url = f"/p/{cast.partnership.pk}/fragment/economics/"
    eco.figure_record(access=partner, driver_id=driver.pk, period_start=Q1[0], period_end=Q1[1], value="1")
    client.get(url)  # warm the session and caches
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for n, name in enumerate(("utilisation", "services revenue")):
        d = Driver.objects.get(partnership=cast.partnership, name=name)
        for month in range(1, 13):
            start = dt.date(2025, month, 1)
            if d.pk == driver.pk and start >= Q1[0]:
                continue
            end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
            eco.figure_record(access=partner, driver_id=d.pk, period_start=start, period_end=end, value=str(month + n))
    with CaptureQueriesContext(connection) as many:
        html = client.get(url).content.decode()
    assert html.count("/edit/") > 6
    assert len(many.captured_queries) == len(few.captured_queries)
    # Opening the edit form reads no more than the panel does, plus the figure.
    figure = DriverFigure.objects.filter(driver=driver).first()
    with CaptureQueriesContext(connection) as editing:
        assert client.get(edit_url(cast, figure), headers=HTMX).status_code == 200
    assert len(editing.captured_queries) <= len(few.captured_queries) + 1
