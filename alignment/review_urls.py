"""URLs of alignment reviews, the reminder delivery log, reminder preferences and unsubscribe."""

from __future__ import annotations

from django.urls import path

from . import review_views as views

app_name = "reviews"

urlpatterns = [
    path("p/<uuid:partnership_id>/reviews/", views.review_list, name="list"),
    path("p/<uuid:partnership_id>/reviews/deliveries/", views.delivery_log, name="deliveries"),
    path("p/<uuid:partnership_id>/reviews/<uuid:review_id>/", views.review_detail, name="detail"),
    path("p/<uuid:partnership_id>/reviews/<uuid:review_id>/hold", views.review_hold, name="hold"),
    path("p/<uuid:partnership_id>/reviews/<uuid:review_id>/move", views.review_move, name="move"),
    path("p/<uuid:partnership_id>/reviews/<uuid:review_id>/skip", views.review_skip, name="skip"),
    path("settings/reminders/", views.preferences, name="preferences"),
    path("reminders/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
