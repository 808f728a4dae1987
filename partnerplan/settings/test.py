"""Settings for the test suite: the embedded or real services as configured, made fast and
isolated (a per-process cache unless Redis is given, quick password hashing)."""

from __future__ import annotations

from . import *  # noqa: F403
from . import REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if not REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# Tasks run in-line, so the committing request stores its plan's dashboard numbers itself.
ATTENTION_STORED_BY_WORKER = False
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SITE_URL = "http://testserver"
# Static files come from the finders in tests; there is no collected STATIC_ROOT to serve.
STATIC_ROOT = None
