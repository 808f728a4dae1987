"""The Celery application. The beat schedule lives in code, in ``CELERY_BEAT_SCHEDULE`` below."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnerplan.settings")

app = Celery("partnerplan")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
