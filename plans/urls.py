from __future__ import annotations

from django.urls import include, path

from . import dashboard, economics_views, live, views

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("partnerships/new/", dashboard.partnership_new, name="partnership_new"),
    path("lists/<slug:name>/", dashboard.dashboard_list, name="dashboard_list"),
    path("p/<uuid:pid>/", views.PlanPage.as_view(), name="plan"),
    path("p/<uuid:pid>/fragment/<str:name>/", views.Fragment.as_view(), name="plan_fragment"),
    path("p/<uuid:pid>/live/", live.LiveUpdates.as_view(), name="plan_live"),
    path("p/<uuid:pid>/getting-started/dismiss/", views.ChecklistDismiss.as_view(), name="checklist_dismiss"),
    path("p/<uuid:pid>/vision/edit/", views.VisionEdit.as_view(), name="vision_edit"),
    path("p/<uuid:pid>/vision/endorse/", views.VisionEndorse.as_view(), name="vision_endorse"),
    path("p/<uuid:pid>/objectives/new/", views.ObjectiveNew.as_view(), name="objective_new"),
    path("p/<uuid:pid>/objectives/new/button/", views.ObjectiveNewButton.as_view(), name="objective_new_button"),
    path("p/<uuid:pid>/objectives/<uuid:oid>/edit/", views.ObjectiveEdit.as_view(), name="objective_edit"),
    # Plan templates: a plan's (start from one, save as one, clone) and an organisation's own.
    path("", include("plans.template_urls")),
    path("p/<uuid:pid>/economics/drivers/", economics_views.DriverAdd.as_view(), name="economics_driver_add"),
    path(
        "p/<uuid:pid>/economics/drivers/<uuid:did>/remove/",
        economics_views.DriverRemove.as_view(),
        name="economics_driver_remove",
    ),
    path("p/<uuid:pid>/economics/figures/", economics_views.FigureRecord.as_view(), name="economics_figure_record"),
    path(
        "p/<uuid:pid>/economics/figures/<uuid:fid>/visibility/",
        economics_views.FigureVisibilityChange.as_view(),
        name="economics_figure_visibility",
    ),
    path(
        "p/<uuid:pid>/economics/figures/<uuid:fid>/edit/",
        economics_views.FigureEdit.as_view(),
        name="economics_figure_edit",
    ),
    path(
        "p/<uuid:pid>/economics/figures/<uuid:fid>/delete/",
        economics_views.FigureDelete.as_view(),
        name="economics_figure_delete",
    ),
]
