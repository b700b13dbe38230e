"""Django settings: every value comes from the environment (see .env.example and README.md)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONCE

from voiceplatform.config import Settings, check_request_budget

BASE_DIR = Path(__file__).resolve().parent.parent

# A local .env fills in variables that the process environment does not set (never overrides).
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

env = Settings(os.environ)

DEBUG = env.bool("DEBUG", False)
SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
PUBLIC_BASE_URL = env.url("PUBLIC_BASE_URL", "http://127.0.0.1:8000", schemes=("http", "https"))
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if urlsplit(_origin).scheme not in ("http", "https"):
        from voiceplatform.config import ConfigError

        raise ConfigError(f"CSRF_TRUSTED_ORIGINS entries must start with http:// or https://, got {_origin!r}")

FIELD_ENCRYPTION_KEYS = env.fernet_keys("FIELD_ENCRYPTION_KEYS")
CONFIG_CACHE_TTL = env.int("CONFIG_CACHE_TTL", 300, minimum=1)

LIVEKIT_URL = env.optional_url("LIVEKIT_URL", schemes=("ws", "wss", "http", "https"))
LIVEKIT_API_KEY = env.str("LIVEKIT_API_KEY", "")
LIVEKIT_API_SECRET = env.str("LIVEKIT_API_SECRET", "")
# Where browsers reach LiveKit (the portal's "Test agent" page), when that differs from LIVEKIT_URL
# (e.g. the server API on an internal http://livekit:7880, browsers on wss://livekit.example.com).
LIVEKIT_PUBLIC_URL = env.optional_url("LIVEKIT_PUBLIC_URL", schemes=("ws", "wss", "http", "https"))
# The host of LiveKit's SIP service (e.g. "abc123.sip.livekit.cloud"): Twilio's TwiML and the
# handle-call hook bridge inbound calls to sip:<room>@<this host>.
LIVEKIT_SIP_HOST = env.str("LIVEKIT_SIP_HOST", "")
# The voice worker (manage.py run_voice_worker): explicit dispatch name, calls per worker
# process, seconds live calls may take to finish on SIGTERM, and the health-check HTTP port.
LIVEKIT_AGENT_NAME = env.str("LIVEKIT_AGENT_NAME", "voiceplatform")
MAX_CONCURRENCY = env.int("MAX_CONCURRENCY", 25, minimum=1)
WORKER_DRAIN_TIMEOUT = env.int("WORKER_DRAIN_TIMEOUT", 600, minimum=1)
WORKER_HEALTH_PORT = env.int("WORKER_HEALTH_PORT", 8081, minimum=0)
# The keypad key with which the callee of an outbound call asks not to be called again (DNC).
OPT_OUT_DTMF_KEY = env.choice("OPT_OUT_DTMF_KEY", "9", tuple("0123456789*#"))
# Seconds an open call may go without news before the reconciliation asks LiveKit whether its
# room still exists (and ends it if not).
CALL_RECONCILE_AFTER_SECONDS = env.int("CALL_RECONCILE_AFTER_SECONDS", 300, minimum=30)
# A text chat with no turn for this long is ended (reason "idle") by the reconcile job.
CHAT_IDLE_TIMEOUT = env.int("CHAT_IDLE_TIMEOUT", 600, minimum=60)
# Post-call analysis: the longest one request to the agent's model may take (there are at most two,
# an answer and one retry), kept well below the Celery task's soft time limit (240 s).
CALL_ANALYSIS_TIMEOUT_SECONDS = env.int("CALL_ANALYSIS_TIMEOUT_SECONDS", 60, minimum=5)

# Tenant-supplied URLs (a provider credential's base URL) go through voiceplatform.outbound_url:
# https only unless PROVIDER_URL_ALLOW_HTTP, never a private/local/reserved address unless the host
# or its network is in PROVIDER_URL_ALLOWED_HOSTS (host names, IPs, CIDRs: a self-hosted model).
PROVIDER_URL_ALLOW_HTTP = env.bool("PROVIDER_URL_ALLOW_HTTP", False)
PROVIDER_URL_ALLOWED_HOSTS = env.host_list("PROVIDER_URL_ALLOWED_HOSTS")
# Tenants' webhook endpoints: the same rule with its own operator exceptions (docs/webhooks.md).
WEBHOOK_URL_ALLOW_HTTP = env.bool("WEBHOOK_URL_ALLOW_HTTP", False)
WEBHOOK_URL_ALLOWED_HOSTS = env.host_list("WEBHOOK_URL_ALLOWED_HOSTS")
# Seconds one delivery attempt may take (connect, send, the receiver's answer) before it counts as failed.
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
# An endpoint is disabled after this many events in a row failed every retry (about 27 h each).
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", 5, minimum=1)
# Days a finished delivery (and its attempts) stays in the delivery log; pending ones are never pruned.
WEBHOOK_DELIVERY_RETENTION_DAYS = env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", 30, minimum=1)
# The longest a web request waits on providers (a chat turn with its retry, vendor voice lists),
# strictly below WEB_TIMEOUT, the web worker's timeout (voiceplatform/gunicorn_conf.py).
WEB_TIMEOUT = env.int("WEB_TIMEOUT", 30, minimum=2)
WEB_REQUEST_BUDGET_SECONDS = env.int("WEB_REQUEST_BUDGET_SECONDS", 20, minimum=1)
check_request_budget(budget_seconds=WEB_REQUEST_BUDGET_SECONDS, worker_timeout_seconds=WEB_TIMEOUT)

# Prometheus metrics (voiceplatform/metrics.py): /metrics answers only with `Authorization: Bearer
# <METRICS_TOKEN>`; unset, the page is off (404). PROMETHEUS_MULTIPROC_DIR (read by prometheus_client
# itself at import) makes gunicorn's and Celery's processes count in files there, summed by a scrape.
METRICS_TOKEN = env.str("METRICS_TOKEN", "")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    from voiceplatform.config import ConfigError

    raise ConfigError("METRICS_TOKEN must be at least 16 characters; unset it to turn /metrics off")
if os.environ.get("PROMETHEUS_MULTIPROC_DIR") == "":
    # Present but empty (an empty line in .env) would turn on multiprocess mode writing into the cwd.
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]
if (_metrics_dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")) and not os.path.isdir(_metrics_dir):
    from voiceplatform.config import ConfigError

    raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR must be an existing directory, got {_metrics_dir!r}")

LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", ("debug", "info", "warning", "error", "critical")).upper()
LOG_FORMAT = env.choice("LOG_FORMAT", "console", ("console", "json"))

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
    "axes",
    "voiceplatform.apps.VoicePlatformConfig",
    "agents_app",
    "telephony_app",
    "campaigns_app",
    "worker",
    "voiceplatform.devtools",  # manage.py bench_* and the local fakes of LiveKit and the providers
]

MIDDLEWARE = [
    # First: every response counted by route and status, its latency including the other middleware.
    "voiceplatform.metrics.HttpMetricsMiddleware",
    "voiceplatform.logging.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before sessions, auth and every view: NULs, lone surrogates and over-deep JSON never reach PostgreSQL.
    "voiceplatform.hostile_input.HostileInputMiddleware",
    "voiceplatform.security.PortalCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "voiceplatform.portal.CurrentTenantMiddleware",
    # Before any view reads request.POST (the CSRF check would raise RequestDataTooBig): an agent form
    # over DATA_UPLOAD_MAX_MEMORY_SIZE gets a page saying nothing was saved and the text is still in the browser.
    "agents_app.middleware.AgentFormTooLargeMiddleware",
    # Last, so it turns a login that hit the lockout into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

# Requests from other machines (Twilio's and LiveKit's signed webhooks) carry no cookie, session,
# CSRF token or login, and their answers are never a browser's page: voiceplatform/wsgi.py serves
# these paths through the part of the chain above that applies to them, in the same order, and
# leaves out the browser's (sessions, CSRF, auth, messages, framing, the tenant switcher, login
# lockout, static files): ~6 % of the inbound webhook's CPU (docs/benchmarks.md, "Sixteenth session").
MACHINE_PATH_PREFIXES = ("/api/v1/telephony/twilio/", "/api/v1/telephony/livekit/")
MACHINE_MIDDLEWARE = [
    "voiceplatform.metrics.HttpMetricsMiddleware",
    "voiceplatform.logging.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "voiceplatform.hostile_input.HostileInputMiddleware",
]

ROOT_URLCONF = "voiceplatform.urls"
WSGI_APPLICATION = "voiceplatform.wsgi.application"
ASGI_APPLICATION = "voiceplatform.asgi.application"

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
                "voiceplatform.portal.portal_context",
            ],
        },
    },
]

DATABASES = {"default": env.database("DATABASE_URL")}
# Behind PgBouncer in transaction mode (docs/deploy.md): QuerySet.iterator() (the audit CSV, re-encryption)
# then reads through client-side cursors, since a server-side cursor does not outlive its transaction there.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DATABASE_DISABLE_SERVER_SIDE_CURSORS", False)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.url("REDIS_URL", schemes=("redis", "rediss", "unix"))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "vp",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal-dashboard"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = 7 * 24 * 3600  # set-password links stay valid for a week
INVITATION_MAX_AGE_DAYS = env.int("INVITATION_MAX_AGE_DAYS", 7, minimum=1)

# Login throttling (django-axes, database handler: operators see and clear lockouts in the admin
# under "Axes" and with `manage.py axes_reset`). After LOGIN_FAILURE_LIMIT failed logins for one
# account, or from one address, further attempts for it are refused for LOGIN_LOCKOUT_MINUTES
# (each refused attempt restarts the wait). Covers /accounts/login/ and /admin/login/.
# The stock backend comes first: it refuses a locked-out login before the password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one over the limit locks
AXES_LOCKOUT_CALLABLE = "voiceplatform.views.login_locked_out"  # 429, Retry-After and a page
AXES_RESET_ON_SUCCESS = False  # a right password must not wipe an address's failures
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password"]
AXES_VERBOSE = False  # no "AXES: BEGIN version" INFO line at every process start (management commands print one line)
# Behind N reverse proxies the client address is the Nth entry from the right of X-Forwarded-For
# (used by the login and API-key throttles); 0 = use the connection's address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT:
    AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT
    AXES_IPWARE_PROXY_ORDER = "right-most"
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
# Failed API-key authentications allowed per address per minute before the API answers 429.
API_KEY_FAILURE_LIMIT = env.int("API_KEY_FAILURE_LIMIT", 20, minimum=1)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".local" / "staticfiles"
# Uploaded files (contact lists and their error reports), never served by the web server directly: the
# portal and API stream them to their tenant. Celery workers read the uploads, so with workers on other
# machines this must be shared storage.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", str(BASE_DIR / ".local" / "media")))

# Outbound campaigns. The most calls per second and at once a campaign may ask for (a carrier's trunk
# takes ~1-5 cps; the voice workers' capacity caps concurrency anyway), and the largest contact list.
CAMPAIGN_MAX_CALLS_PER_SECOND = env.int("CAMPAIGN_MAX_CALLS_PER_SECOND", 20, minimum=1)
CAMPAIGN_MAX_CONCURRENT_CALLS = env.int("CAMPAIGN_MAX_CONCURRENT_CALLS", 500, minimum=1)
CONTACT_IMPORT_MAX_BYTES = env.int("CONTACT_IMPORT_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
# The dialer (campaigns_app.dialer). Phone calls at once per tenant unless its row says otherwise.
TENANT_MAX_CONCURRENT_CALLS = env.int("TENANT_MAX_CONCURRENT_CALLS", 50, minimum=1)
# Calls the voice workers can take when none reports its capacity in Redis (0 = dial only what
# running workers report: never guess).
DIALER_VOICE_CAPACITY = env.int("DIALER_VOICE_CAPACITY", 0, minimum=0)
# A claimed contact whose call never started is returned to the queue after this long.
DIALER_LEASE_SECONDS = env.int("DIALER_LEASE_SECONDS", 120, minimum=30)
# The most contacts one tick claims (all campaigns together): bounds a tick's duration and locks.
DIALER_MAX_CLAIMS_PER_TICK = env.int("DIALER_MAX_CLAIMS_PER_TICK", 2000, minimum=1)
# How long an outbound call rings before it counts as not answered (the law: at least 15 s).
DIALER_RING_TIMEOUT_SECONDS = env.int("DIALER_RING_TIMEOUT_SECONDS", 30, minimum=15)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Production-only behaviour is switched by variables; the defaults are safe when DEBUG is off.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", False)
if env.bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Load balancers probe, and Prometheus scrapes the web processes, over plain HTTP on the internal network.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp 4): scripts only from this origin or an inline <script>
# carrying the request's nonce ({{ request.csp_nonce }}); no inline event handlers. Inline styles
# stay allowed (they cannot run code; htmx, the admin and Swagger UI use them).
# voiceplatform.security.PortalCSPMiddleware adds LiveKit's browser URL to connect-src per request.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "media-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
    # Twilio's webhooks answer TwiML to Twilio, never a page to a browser: no policy to build.
    "EXCLUDE_URL_PREFIXES": ["/api/v1/telephony/twilio/"],
}
# W021: HSTS preload is a one-way commitment an operator opts into with SECURE_HSTS_PRELOAD.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "voiceplatform <no-reply@localhost>"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["voiceplatform.api_auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["voiceplatform.api_auth.HasTenantApiKey"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["voiceplatform.hostile_input.SafeJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "voiceplatform.pagination.StrictPageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "voiceplatform.api_base.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Only failed API-key authentications count (voiceplatform.api_auth.ApiKeyFailureThrottle).
    "DEFAULT_THROTTLE_RATES": {"api_key_failures": f"{API_KEY_FAILURE_LIMIT}/min"},
    "NUM_PROXIES": TRUSTED_PROXY_COUNT or None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "voiceplatform API",
    "DESCRIPTION": "Multi-tenant AI voice agents. Authenticate with `Authorization: Bearer <API key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets come from the drf-spectacular-sidecar wheel, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "voiceplatform.api_base.add_error_responses",  # 400/401/403/404/429 bodies on every operation
        "voiceplatform.webhooks.schema.add_webhook_events",  # every event's body, as components with examples
    ],
}

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # The dialer's pacing tick: claims due contacts of running campaigns and enqueues their calls. An
    # overlapping tick waits for nothing (an advisory lock lets one claim at a time); a stale one expires.
    "campaigns-dialer-tick": {
        "task": "campaigns_app.tasks.dialer_tick",
        "schedule": 1.0,
        "options": {"expires": 2},
    },
    # Returns claimed contacts whose lease expired without a call (a Celery worker died) to the queue.
    "campaigns-reap-leases": {
        "task": "campaigns_app.tasks.reap_dialer_leases",
        "schedule": 15.0,
        "options": {"expires": 14},
    },
    # Marks calls the voice worker never reported on (crashed or lost) as failed. Idempotent; a
    # run that waited longer than the interval is dropped instead of running twice.
    "telephony-reap-stale-calls": {
        "task": "telephony_app.tasks.reap_stale_calls",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    # Ends calls left ringing/in progress whose LiveKit room is gone (dropped webhook, crashed
    # worker). Idempotent; LiveKit down = no change.
    # Webhook deliveries that are due and were not enqueued (a retry later than the broker's
    # visibility timeout, a process that died before its on_commit enqueue or mid-request).
    "webhooks-enqueue-due": {
        "task": "voiceplatform.tasks.enqueue_due_webhook_deliveries",
        "schedule": 30.0,
        "options": {"expires": 29},
    },
    # Finished deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS leave the delivery log.
    "webhooks-prune-deliveries": {
        "task": "voiceplatform.tasks.prune_webhook_deliveries",
        "schedule": 3600.0,
        "options": {"expires": 3500},
    },
    "telephony-reconcile-calls": {
        "task": "telephony_app.tasks.reconcile_calls",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
}
CELERY_TIMEZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "voiceplatform.logging.ContextFilter"},
        "redact": {"()": "voiceplatform.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "console": {"format": "%(asctime)s %(levelname)-7s %(name)s %(message)s%(context_suffix)s"},
        "json": {"()": "voiceplatform.logging.JsonFormatter"},
    },
    "handlers": {
        "default": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "redact"],
        },
    },
    "root": {"handlers": ["default"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
    },
}
