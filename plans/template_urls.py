"""Plan templates' pages: a plan's (start from a template, save as template, clone its structure)
and an organisation's (``settings/organisations/<organisation_id>/templates/``)."""

from __future__ import annotations

from django.urls import path

from . import template_views

ORG = "settings/organisations/<uuid:organisation_id>/templates/"

urlpatterns = [
    path("p/<uuid:pid>/templates/", template_views.StartFromTemplate.as_view(), name="plan_start_template"),
    path("p/<uuid:pid>/templates/save/", template_views.SaveAsTemplate.as_view(), name="plan_save_template"),
    path("p/<uuid:pid>/templates/clone/", template_views.CloneStructure.as_view(), name="plan_clone_structure"),
    path(ORG, template_views.template_list, name="plan_templates"),
    path(f"{ORG}customise/<slug:key>/", template_views.template_customise, name="plan_template_customise"),
    path(f"{ORG}<uuid:template_id>/", template_views.template_edit, name="plan_template"),
    path(f"{ORG}<uuid:template_id>/delete/", template_views.template_delete, name="plan_template_delete"),
]
