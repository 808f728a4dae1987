"""The joint plan for paper and spreadsheets."""

from __future__ import annotations

from django.urls import path

from . import exports as export_views

urlpatterns = [
    path("p/<uuid:pid>/print/", export_views.PrintPlan.as_view(), name="plan_print"),
    path("p/<uuid:pid>/export/goals.csv", export_views.GoalsCsv.as_view(), name="export_goals_csv"),
    path("p/<uuid:pid>/export/check-ins.csv", export_views.CheckInsCsv.as_view(), name="export_check_ins_csv"),
    path("p/<uuid:pid>/export/pulse.csv", export_views.PulseCsv.as_view(), name="export_pulse_csv"),
]
