"""Helpers for the API's tests: a client that speaks JSON with a bearer token."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from accounts.models import ApiToken
from alignment import invitations
from alignment import services as plan
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import services as goal_services
from tests import factories as f


class ApiClient:
    """A Django test client for one person (or nobody), sending JSON with a bearer token."""

    def __init__(self, user: Any = None, **client_kwargs: Any) -> None:
        self.client = Client(**client_kwargs)
        self.user = user
        self.headers: dict[str, str] = {}
        if user is not None:
            _token, raw = ApiToken.issue(user=user, name="tests")
            self.headers["Authorization"] = f"Bearer {raw}"

    def request(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | str | None = None,
        **query: Any,
    ) -> Any:
        all_headers = {**self.headers, **(headers or {})}
        url = path if path.startswith("/") else f"/api/v1/{path}"
        kwargs: dict[str, Any] = {"headers": all_headers}
        if method == "get":
            return self.client.get(url, query or None, **kwargs)
        body = raw if raw is not None else (json.dumps(data) if data is not None else "")
        return getattr(self.client, method)(url, body, content_type="application/json", **kwargs)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("get", path, **kw)

    def post(self, path: str, data: Any = None, **kw: Any) -> Any:
        return self.request("post", path, data if data is not None else {}, **kw)

    def patch(self, path: str, data: Any = None, **kw: Any) -> Any:
        return self.request("patch", path, data, **kw)

    def put(self, path: str, data: Any = None, **kw: Any) -> Any:
        return self.request("put", path, data, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("delete", path, **kw)


def if_match(version: int | str) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


class World:
    """A partnership with one of everything, made through the services (for permission tables and
    query counts): objectives, goals in each state, a commitment, a check-in, a comment, a review,
    a complete vision and an invitation."""

    def __init__(self, cast: Any, extra_goals: int = 0) -> None:
        self.cast = cast
        editor, admin = cast.access("vendor_editor"), cast.access("vendor_admin")
        vendor, partner = cast.access("vendor_approver"), cast.access("partner_approver")
        p = cast.partnership
        self.partnership = p
        self.vision = plan.vision_update(
            access=editor, why_together="Grow together", what_we_hope="More customers", how_we_work="Monthly reviews"
        )
        self.objective = f.make_objective(editor)
        self.spare_objective = f.make_objective(editor, title="Nothing derived from this yet")
        self.draft = f.make_goal(editor, self.objective)
        self.proposed = f.make_goal(editor, self.objective)
        goal_services.goal_propose(access=editor, goal_id=self.proposed.pk)
        self.agreed = f.agree(f.make_goal(editor, self.objective), vendor, partner)
        for _ in range(extra_goals):
            goal = f.agree(f.make_goal(editor, self.objective), vendor, partner)
            goal_check_ins.check_in_create(access=editor, goal_id=goal.pk, value="150", confidence=4)
            goal_comments.comment_create(access=editor, goal_id=goal.pk, body="Looks good")
        self.commitment = self.draft.commitments.order_by("side").first()
        self.check_in = goal_check_ins.check_in_create(access=editor, goal_id=self.agreed.pk, value="120", confidence=3)
        self.comment = goal_comments.comment_create(access=editor, goal_id=self.draft.pk, body="First thoughts")
        self.review = plan.review_schedule(access=editor)
        self.invitation, _raw = invitations.invitation_create(
            access=admin, email="new@vendor.test", side="vendor", role="viewer"
        )
