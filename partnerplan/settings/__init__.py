"""Partnerplan settings, read from the environment.

With nothing set, Partnerplan runs on its embedded default: SQLite, a Celery broker on the local
filesystem (kombu's filesystem transport, no server), a file-based cache and e-mail written to
``var/outbox``. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
``partnerplan.settings.production`` hardens this for deployment.
"""

from __future__ import annotations

from pathlib import Path

import django_stubs_ext
import environ
from celery.schedules import crontab

# Django's generic classes (``admin.ModelAdmin[Model]`` and the like) take their type parameters at
# run time as well as in django-stubs.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("PARTNERPLAN_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-only-for-the-embedded-default")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    # Partnerplan's apps, bottom layer first (see docs/architecture.md): each imports only those above it here.
    "core",
    "accounts",
    "alignment",
    "goals",
    "cadence",
    "plans",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "partnerplan.urls"
WSGI_APPLICATION = "partnerplan.wsgi.application"
ASGI_APPLICATION = "partnerplan.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'partnerplan.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Redis, cache and Celery -------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    # Shared by every process on this machine (web, worker, beat); no server needed.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Task modules outside the apps' tasks.py (autodiscovery finds only those).
CELERY_IMPORTS = ["core.outbox"]
# Periodic work, in UTC. Each feature adds its own entry.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "health-snapshots": {"task": "alignment.snapshot_health", "schedule": crontab(hour=2, minute=15)},
    # Cached health is keyed by the hour: compute the next hour's before it starts, off the requests.
    "health-warm": {"task": "alignment.warm_health_cache", "schedule": crontab(minute=52)},
    # Reviews to schedule and reminders to queue; each reminder is sent once whatever the overlap.
    "reminder-sweeps": {"task": "alignment.run_reminder_sweeps", "schedule": crontab(minute="*/5")},
    # The REST API forgets idempotency keys after 48 h and prunes the change log past its retention.
    "api-housekeeping-keys": {"task": "api.prune_idempotency_keys", "schedule": crontab(minute=40)},
    "api-housekeeping-feed": {"task": "api.prune_change_events", "schedule": crontab(hour=3, minute=30)},
}

# --- E-mail ------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Partnerplan <plans@partnerplan.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "outbox")

# --- REST API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Partnerplan API",
    "DESCRIPTION": "Joint business plans for vendors and their channel partners.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Names of the choice sets that several API objects share (e.g. every "status").
    "ENUM_NAME_OVERRIDES": {
        "SideEnum": "alignment.models.Side",
        "RoleEnum": "alignment.models.Role",
        "PartnershipStatusEnum": "alignment.models.Partnership.Status",
        "ObjectiveStatusEnum": "alignment.models.Objective.Status",
        "ReviewStatusEnum": "alignment.models.AlignmentReview.Status",
        "GoalStatusEnum": "goals.models.GoalStatus",
    },
}

# --- Partnerplan -------------------------------------------------------------------------------
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=14)
CHANGE_EVENT_RETENTION_DAYS = env.int("CHANGE_EVENT_RETENTION_DAYS", default=90)
# How long a computed alignment health may be reused on dashboards (it is invalidated by every
# change to the plan anyway); 0 computes it on every request.
HEALTH_CACHE_SECONDS = env.int("HEALTH_CACHE_SECONDS", default=3600)
# Behind a load balancer, rate limits must key on the client's address the proxy reports
# (e.g. HTTP_X_FORWARDED_FOR set by your proxy); the default is the socket's peer.
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="") or None

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # pages send the token from the template (hx-headers), never from the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

VAR_DIR.mkdir(parents=True, exist_ok=True)
if not REDIS_URL and CELERY_BROKER_URL == "filesystem://":
    for _folder in ("queue", "processed", "control"):
        (VAR_DIR / "broker" / _folder).mkdir(parents=True, exist_ok=True)
