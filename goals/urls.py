from __future__ import annotations

from django.urls import path

from . import import_views, views

G = "p/<uuid:pid>/goals/<uuid:gid>/"
urlpatterns = [
    path("p/<uuid:pid>/imports/", import_views.ImportsPage.as_view(), name="goal_imports"),
    path("p/<uuid:pid>/imports/<uuid:iid>/", import_views.ImportPage.as_view(), name="goal_import"),
    path("p/<uuid:pid>/imports/<uuid:iid>/commit/", import_views.ImportCommit.as_view(), name="goal_import_commit"),
    path("p/<uuid:pid>/objectives/<uuid:oid>/goals/new/", views.GoalNew.as_view(), name="goal_new"),
    path("p/<uuid:pid>/objectives/<uuid:oid>/goals/new/button/", views.GoalNewButton.as_view(), name="goal_new_button"),
    path("p/<uuid:pid>/objectives/<uuid:oid>/goals/closed/", views.ClosedGoals.as_view(), name="goals_closed"),
    path("p/<uuid:pid>/objectives/<uuid:oid>/derive/", views.Derive.as_view(), name="goal_derive"),
    path(G, views.GoalDetail.as_view(), name="goal_detail"),
    path(G + "card/", views.GoalCardView.as_view(), name="goal_card"),
    path(G + "details/", views.GoalDetails.as_view(), name="goal_details"),
    path(G + "edit/", views.GoalEdit.as_view(), name="goal_edit"),
    path(G + "request-changes/", views.RequestChanges.as_view(), name="goal_request_changes"),
    path(G + "check-in/", views.CheckInNew.as_view(), name="goal_check_in"),
    path(G + "comment/", views.CommentNew.as_view(), name="goal_comment"),
    path(G + "close/", views.GoalClose.as_view(), name="goal_close"),
    path(G + "commit-and-approve/", views.CommitAndApprove.as_view(), name="goal_commit_approve"),
    path(G + "commitments/new/", views.CommitmentNew.as_view(), name="commitment_new"),
    path(G + "commitments/<uuid:cid>/edit/", views.CommitmentEdit.as_view(), name="commitment_edit"),
    path(G + "commitments/<uuid:cid>/done/", views.CommitmentDone.as_view(), name="commitment_done"),
    path(G + "check-ins/<uuid:cid>/confirm/", views.CheckInConfirm.as_view(), name="check_in_confirm"),
    path(G + "check-ins/<uuid:cid>/dispute/", views.CheckInDispute.as_view(), name="check_in_dispute"),
    path(G + "check-ins/<uuid:cid>/settle/", views.CheckInSettle.as_view(), name="check_in_settle"),
    path(G + "check-ins/<uuid:cid>/correct/", views.CheckInCorrect.as_view(), name="check_in_correct"),
    path(G + "panel/close/", views.PanelClose.as_view(), name="goal_panel_close"),
    path(G + "<str:action>/", views.GoalAction.as_view(), name="goal_action"),
]
