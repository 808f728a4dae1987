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
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

# Django's generic classes (``admin.ModelAdmin[Model]`` and the like) take their type parameters at
# run time as well as in django-stubs.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("PARTNERPLAN_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

# Off unless asked for: ``make run`` (scripts/run.py) turns it on for the embedded default on a loopback
# address only. A debug page lists every URL pattern and setting, so DEBUG refuses to start when the
# app answers to any host name but this machine's, and the production settings switch it off.
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-only-for-the-embedded-default")
# Old keys still accepted while rotating (sessions, signed links, SSO client secrets: accounts/sso.py).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=LOCAL_HOSTS)
if DEBUG and (set(ALLOWED_HOSTS) - set(LOCAL_HOSTS)):
    raise ImproperlyConfigured(
        f"DEBUG is for this machine only, but ALLOWED_HOSTS names {sorted(set(ALLOWED_HOSTS) - set(LOCAL_HOSTS))}: "
        "unset DEBUG (a debug page shows every URL pattern and setting to whoever reaches the app)."
    )
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
    "csp",
    "anymail",
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
    # The Content-Security-Policy header with a nonce per response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserTimezoneMiddleware",
    # The person's language, else the browser's (after auth: the person is loaded already).
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Sessions of people who set up (or must set up) two-factor sign-in (after auth and messages).
    "accounts.middleware.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Rendered pieces (dashboard rows, goal cards) a view renders are stored in one round trip.
    "core.fragment_cache.StoredTogether",
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
                "core.csp.nonce",
            ],
            # ``{% url %}`` remembers its reversals (core/templatetags/url_memo.py).
            "builtins": ["core.templatetags.url_memo"],
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
# A connection pooler between the app and PostgreSQL (docs/deployment.md, "Several web machines").
# ``pgbouncer-transaction``: PgBouncer with ``pool_mode = transaction`` hands each transaction (each
# statement in autocommit) to whichever server connection is free, so nothing may outlive one:
# ``.iterator()`` reads in one query instead of through a server-side cursor (a WITH HOLD cursor
# opened in autocommit lives on its server connection). Partnerplan keeps no other session state.
DATABASE_POOLER = env.str("DATABASE_POOLER", default="").strip().lower()
if DATABASE_POOLER not in ("", "pgbouncer-transaction"):
    raise ImproperlyConfigured(
        f"DATABASE_POOLER={DATABASE_POOLER!r}: use pgbouncer-transaction, or leave it blank "
        "(no pooler, or one in session mode)."
    )
if DATABASE_POOLER == "pgbouncer-transaction":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
# PostgreSQL's JIT compiles a query whose estimated cost passes ``jit_above_cost``. The dashboard's
# portfolio queries pass it: on the benchmark's 1,000 partnerships, compiling took 204 ms of a
# 248 ms query that runs in 50 ms without it (docs/performance.md, "JIT"). Partnerplan's queries
# are short; none gains from it. Sent at connect; PgBouncer passes no startup options on, so
# behind it the pool sets it (``connect_query``, docs/deployment.md).
POSTGRES_JIT = env.bool("POSTGRES_JIT", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not POSTGRES_JIT and not DATABASE_POOLER:
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c jit=off".strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
# Loads a session's person with their two-factor standing (accounts/backends.py); ModelBackend stays
# for sessions signed in with it.
AUTHENTICATION_BACKENDS = ["accounts.backends.AccountBackend", "django.contrib.auth.backends.ModelBackend"]
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
# The languages of the UI and of every e-mail; each person chooses theirs (``User.language``), and
# until they do, their browser's (``Accept-Language``) is used. Catalogues live in ``locale/``.
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# English pages and e-mails keep the British dates and numbers they always had ("3 Mar 2026"):
# ``partnerplan/formats/en`` lends "en" the formats of "en-gb".
FORMAT_MODULE_PATH = ["partnerplan.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
# Audit exports (plans/audit.py) are files the worker writes and the web process serves: on several
# machines, point AUDIT_EXPORT_DIR at a shared volume (or this alias at an object store).
AUDIT_EXPORT_DIR = env.str("AUDIT_EXPORT_DIR", default=str(VAR_DIR / "audit-exports"))
AUDIT_EXPORT_TTL_HOURS = env.int("AUDIT_EXPORT_TTL_HOURS", default=72)
AUDIT_EXPORT_STORAGE = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": AUDIT_EXPORT_DIR, "base_url": None, "file_permissions_mode": 0o600},
}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "audit_exports": AUDIT_EXPORT_STORAGE,
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
# Who stores a plan's dashboard numbers after a change (cadence.attention): a worker, moments after
# the commit (the request answers at once), or the committing request itself when tasks run in-line.
ATTENTION_STORED_BY_WORKER = env.bool("ATTENTION_STORED_BY_WORKER", default=not CELERY_TASK_ALWAYS_EAGER)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Task modules outside the apps' tasks.py (autodiscovery finds only those).
CELERY_IMPORTS = ["core.outbox", "plans.audit", "plans.webhook_delivery", "plans.chat", "plans.replies"]
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
    # Expired audit exports and their files; sign-ups whose link expired or was used.
    "audit-exports-prune": {"task": "plans.prune_audit_exports", "schedule": crontab(minute=25)},
    # Replies by e-mail are remembered 30 days (plans.replies: a message is taken once).
    "inbound-replies-prune": {"task": "plans.prune_inbound_replies", "schedule": crontab(hour=4, minute=20)},
    "signup-requests-prune": {"task": "accounts.prune_signup_requests", "schedule": crontab(hour=4, minute=10)},
    # Outbound webhooks: new change events become deliveries; failed attempts whose retry is due go again.
    "webhooks-sweep": {"task": "api.webhooks_sweep", "schedule": 10.0},
    "webhooks-retry": {"task": "plans.webhooks_retry_due", "schedule": 30.0},
    "webhooks-prune": {"task": "plans.prune_webhook_deliveries", "schedule": crontab(hour=3, minute=50)},
    # Chat notifications (plans/chat.py): workflow events and coming reviews become messages; retries.
    "chat-sweep": {"task": "plans.chat_sweep", "schedule": 15.0},
    "chat-reviews": {"task": "plans.chat_reviews_upcoming", "schedule": crontab(minute="*/10")},
    "chat-retry": {"task": "plans.chat_retry_due", "schedule": 30.0},
    "chat-prune": {"task": "plans.prune_chat_deliveries", "schedule": crontab(hour=3, minute=55)},
}

# --- E-mail ------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Partnerplan <plans@partnerplan.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "outbox")

# Replies by e-mail (plans.replies): goal, negotiation and review e-mails carry a signed
# ``Reply-To: reply+<token>@REPLY_DOMAIN``; a reply becomes the person's comment. Blank: off.
REPLY_DOMAIN = env.str("REPLY_DOMAIN", default="").strip().lower()
# Larger inbound mails are refused (SMTP 552, HTTP 413): a comment needs no attachments.
REPLY_MAX_BYTES = env.int("REPLY_MAX_BYTES", default=5 * 1024 * 1024)
# Inbound mail from hosted providers through django-anymail's webhooks (/inbound/anymail/<provider>/inbound/):
# Mailgun signs each post with its webhook signing key; Postmark and SendGrid post with the basic-auth
# user:password given in their webhook URL (ANYMAIL_WEBHOOK_SECRET). A provider without its secret is not mounted.
ANYMAIL = {
    name: value
    for name, value in {
        "MAILGUN_WEBHOOK_SIGNING_KEY": env.str("ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY", default=""),
        "WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default=""),
    }.items()
    if value
}

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
# One-click unsubscribe links in e-mails work this long (then the page leads to the preferences).
UNSUBSCRIBE_LINK_MAX_AGE_DAYS = env.int("UNSUBSCRIBE_LINK_MAX_AGE_DAYS", default=180)
# Action links in e-mails (approve, request changes, commit and approve, endorse) work this long, once.
ACTION_LINK_MAX_AGE_DAYS = env.int("ACTION_LINK_MAX_AGE_DAYS", default=7)
CHANGE_EVENT_RETENTION_DAYS = env.int("CHANGE_EVENT_RETENTION_DAYS", default=90)
# How long a computed alignment health may be reused on dashboards (it is invalidated by every
# change to the plan anyway); 0 computes it on every request.
HEALTH_CACHE_SECONDS = env.int("HEALTH_CACHE_SECONDS", default=3600)
# Actuals import (CSV/XLSX of check-ins): the largest file and the most rows accepted, and up to how
# many rows a file commits in the request (bigger files commit in one background job).
ACTUALS_IMPORT_MAX_BYTES = env.int("ACTUALS_IMPORT_MAX_BYTES", default=5 * 1024 * 1024)
ACTUALS_IMPORT_MAX_ROWS = env.int("ACTUALS_IMPORT_MAX_ROWS", default=20000)
ACTUALS_IMPORT_SYNC_ROWS = env.int("ACTUALS_IMPORT_SYNC_ROWS", default=500)

# --- Outbound webhooks (plans/webhooks.py, docs/api.md "Webhooks") ------------------------------
# CIDRs a webhook may reach although they are not on the public internet (an internal receiver).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.list("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=[])
WEBHOOK_CONNECT_TIMEOUT = env.float("WEBHOOK_CONNECT_TIMEOUT", default=5.0)
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
# Seconds before each retry of a failed attempt (1 min, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), each
# spread by up to WEBHOOK_RETRY_JITTER of itself either way; then the delivery has failed.
WEBHOOK_RETRY_SCHEDULE = [
    int(seconds) for seconds in env.list("WEBHOOK_RETRY_SCHEDULE", default=[60, 300, 1800, 7200, 18000, 36000, 36000])
]
WEBHOOK_RETRY_JITTER = env.float("WEBHOOK_RETRY_JITTER", default=0.1)
# A webhook is turned off (and its organisation's admins told) after this many failed attempts in a
# row, or when it has failed for this many days without a success.
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=20)
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=3)
# After a secret is rotated the previous one signs too, this many hours.
WEBHOOK_SECRET_ROTATION_HOURS = env.int("WEBHOOK_SECRET_ROTATION_HOURS", default=24)
# Delivered and failed deliveries, with their delivery log, are kept this long.
WEBHOOK_LOG_RETENTION_DAYS = env.int("WEBHOOK_LOG_RETENTION_DAYS", default=30)

# --- The client's address (every rate limit keys on it; core/clientip.py, docs/deployment.md) ---
# With neither set, the client is the socket's peer (REMOTE_ADDR) and X-Forwarded-For is ignored.
# Behind N reverse proxies that append to X-Forwarded-For, set TRUSTED_PROXY_COUNT=N; behind a
# proxy that sets a header of its own, name it in RATELIMIT_IP_META_KEY (X-Real-IP or HTTP_X_REAL_IP).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
CLIENT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="").strip()
if CLIENT_IP_META_KEY and CLIENT_IP_META_KEY != "REMOTE_ADDR" and not CLIENT_IP_META_KEY.startswith("HTTP_"):
    CLIENT_IP_META_KEY = "HTTP_" + CLIENT_IP_META_KEY.upper().replace("-", "_")
if TRUSTED_PROXY_COUNT < 0 or (TRUSTED_PROXY_COUNT and CLIENT_IP_META_KEY):
    raise ImproperlyConfigured(
        "Set either TRUSTED_PROXY_COUNT (a count, at least 1) or RATELIMIT_IP_META_KEY, not both."
    )
# django-ratelimit's key="ip" and the API throttles all ask core.clientip.
RATELIMIT_IP_META_KEY = "core.clientip.client_ip"
# DRF's own get_ident() (any throttle not ours) trusts X-Forwarded-For only through this many proxies.
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXY_COUNT

# --- Content Security Policy (django-csp; core/csp.py) -------------------------------------------
# Scripts and styles only from this origin or with the response's nonce: no inline script, no inline
# style attribute, no eval. Browsers report violations to /csp-report/, which logs them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "report-uri": ["/csp-report/"],
    },
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # pages send the token from the template (hx-headers), never from the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Every handler rewrites the secrets of links (invitations, unsubscribe, password reset, sign-up
# confirmation, any long token) in what it writes (core/redact.py). Django's own loggers are set
# here in full, so no handler of Django's defaults writes a path unredacted; gunicorn's access log
# gets the same through gunicorn.conf.py.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "core.redact.RedactSecrets"}},
    "formatters": {
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"}
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own handlers (console, mail_admins) are dropped: its records reach the root's.
        "django": {"handlers": [], "level": env.str("LOG_LEVEL", default="INFO"), "propagate": True},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}

VAR_DIR.mkdir(parents=True, exist_ok=True)
if not REDIS_URL and CELERY_BROKER_URL == "filesystem://":
    for _folder in ("queue", "processed", "control"):
        (VAR_DIR / "broker" / _folder).mkdir(parents=True, exist_ok=True)
