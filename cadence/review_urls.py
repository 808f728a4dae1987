"""URLs of alignment reviews and the reminder delivery log (mounted in the ``reviews`` namespace by
``partnerplan.urls``, with the reminder preferences and unsubscribe pages of ``accounts``)."""

from __future__ import annotations

from django.urls import path

from . import review_views as views

urlpatterns = [
    path("p/<uuid:partnership_id>/reviews/", views.review_list, name="list"),
    path("p/<uuid:partnership_id>/reviews/deliveries/", views.delivery_log, name="deliveries"),
    path("p/<uuid:partnership_id>/reviews/<uuid:review_id>/", views.review_detail, name="detail"),
    path("p/<uuid:partnership_id>/reviews/<uuid:review_id>/hold", views.review_hold, name="hold"),
    path("p/<uuid:partnership_id>/reviews/<uuid:review_id>/move", views.review_move, name="move"),
    path("p/<uuid:partnership_id>/reviews/<uuid:review_id>/skip", views.review_skip, name="skip"),
    path("p/<uuid:partnership_id>/reviews/<uuid:review_id>/comment", views.review_comment, name="comment"),
    path("p/<uuid:partnership_id>/reviews/<uuid:review_id>/pulse", views.review_pulse, name="pulse"),
]
