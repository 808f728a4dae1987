"""Pick the people and objects the benchmark scenarios use, and give the load tool credentials.

Runs inside Django (the harness starts it with the same environment as the server) and writes a JSON
document to the path given as its only argument: the vendor admin with the most partnerships (a
signed-in session and an API token), the partnership with the most goals, draft goals to PATCH, and
which of Partnerplan's endpoints exist in this build, so a scenario runs only once its endpoint has landed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.environ.get("BENCH_APP_DIR", str(Path(__file__).resolve().parent.parent)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnerplan.settings.production")

import django

django.setup()

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.urls import Resolver404, resolve  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import ApiToken, OrganisationMembership, User  # noqa: E402
from alignment.models import Partnership  # noqa: E402
from goals.models import Goal, GoalStatus  # noqa: E402

TOKEN_NAME = "benchmark"


def route_exists(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def sign_in(user: User) -> str:
    """A session exactly as django.contrib.auth.login would store it, without a password round trip."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key or ""


def main(out: Path, patch_goals: int) -> None:
    vendor = Partnership.objects.values("vendor_id").annotate(n=Count("id")).order_by("-n").first()
    if vendor is None:
        raise SystemExit("The benchmark database holds no partnership: seed it first.")
    admin_membership = (
        OrganisationMembership.objects.filter(
            organisation_id=vendor["vendor_id"], role=OrganisationMembership.Role.ADMIN, user__is_active=True
        )
        .select_related("user")
        .order_by("created_at")
        .first()
    )
    if admin_membership is None:
        raise SystemExit("The largest vendor has no active admin.")
    admin = admin_membership.user
    big = (
        Partnership.objects.filter(vendor_id=vendor["vendor_id"])
        .annotate(goal_count=Count("goals", distinct=True), objective_count=Count("objectives", distinct=True))
        .order_by("-goal_count")
        .first()
    )
    assert big is not None
    # Earlier runs' tokens are revoked so the token table does not grow with every run.
    ApiToken.objects.filter(user=admin, name=TOKEN_NAME, revoked_at__isnull=True).update(revoked_at=timezone.now())
    _, raw_token = ApiToken.issue(user=admin, name=TOKEN_NAME)
    # Draft goals can be edited again and again without opening amendments.
    drafts = list(
        Goal.objects.filter(partnership=big, status=GoalStatus.DRAFT)
        .order_by("created_at")
        .values_list("id", flat=True)[:patch_goals]
    )
    statuses = dict(
        Goal.objects.filter(partnership=big).values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    probe = "00000000-0000-0000-0000-000000000000"
    document = {
        "admin_email": admin.email,
        "session_cookie": sign_in(admin),
        "api_token": raw_token,
        "vendor_partnerships": vendor["n"],
        "partnership": str(big.pk),
        "partnership_goals": big.goal_count,
        "partnership_objectives": big.objective_count,
        "goal_statuses": statuses,
        "total_goals": Goal.objects.count(),
        "patch_goals": [str(g) for g in drafts],
        "routes": {
            "dashboard": route_exists("/"),
            "plan_page": route_exists(f"/p/{probe}/"),
            "plan_api": route_exists(f"/api/v1/partnerships/{probe}/plan"),
            "goal_list": route_exists("/api/v1/goals"),
            "goal_detail": route_exists(f"/api/v1/goals/{probe}"),
            "changes": route_exists("/api/v1/changes"),
        },
    }
    out.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2)
