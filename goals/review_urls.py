"""The review queue of a partnership, mounted at ``p/<uuid:partnership_id>/review/``."""

from __future__ import annotations

from django.urls import path

from . import review_views as views

urlpatterns = [
    path("", views.review_queue_page, name="goal-review-queue"),
    path("propose", views.propose_goal, name="goal-review-propose"),
    path("goals/<uuid:goal_id>/", views.goal_thread_page, name="goal-thread"),
    path("goals/<uuid:goal_id>/approve", views.approve_goal, name="goal-review-approve"),
    path("goals/<uuid:goal_id>/commit-and-approve", views.commit_and_approve, name="goal-review-commit-approve"),
    path("vision/endorse", views.endorse_vision, name="goal-review-endorse-vision"),
    path("goals/<uuid:goal_id>/request-changes", views.request_changes, name="goal-review-request-changes"),
    path("goals/<uuid:goal_id>/counter", views.counter_propose, name="goal-review-counter"),
]
