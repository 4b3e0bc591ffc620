"""Loupe's settings: everything that differs between installs comes from the environment.

See README.md ("Configuration") and .env.example for each variable.
"""

from datetime import timedelta
from pathlib import Path

import environ
from kombu import Queue

from loupe.config import BROKER_TIMEOUT_S as DEFAULT_BROKER_TIMEOUT_S
from loupe.config import (
    database_config,
    redis_transport_options,
    secret_key_from_data_dir,
    storages_config,
)

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.FileAwareEnv()  # every variable X may instead be given as a file path in X_FILE

DATA_DIR = Path(env.str("LOUPE_DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="") or secret_key_from_data_dir(DATA_DIR)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Behind a reverse proxy that terminates TLS.
if env.bool("TRUST_PROXY_HEADERS", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("HSTS_PRELOAD", default=HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/$"]  # load balancers probe over plain HTTP
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

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
    "core",
    "annotation",
    "active_learning",
    "integrations",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.ServiceFaultsMiddleware",  # 503 before the session table is read; 503/507 for any view
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "loupe.urls"
WSGI_APPLICATION = "loupe.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {"default": database_config(env, DATA_DIR / "loupe.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "core.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = Path(env.str("LOUPE_MEDIA_ROOT", default=str(DATA_DIR / "media")))
STORAGES = storages_config(env, MEDIA_ROOT)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("UPLOAD_MAX_MEMORY_BYTES", default=10 * 1024 * 1024)
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=2 * 1024**3)  # one import request, files included
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
(DATA_DIR / "tmp").mkdir(exist_ok=True)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"invitation_accept": "20/hour"},
    # Throttles key on the client address: trust X-Forwarded-For only behind our own proxy.
    "NUM_PROXIES": 1 if env.bool("TRUST_PROXY_HEADERS", default=False) else 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Loupe API",
    "DESCRIPTION": "Label images and tabular records; choose what to label next.",
    "VERSION": "1",
    # 3.1: JSON Schema proper, so the pydantic schemas of JSON fields (nullable values as `type: null`) are valid.
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files: no CDN at run time
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ItemStatusEnum": "annotation.models.ItemStatus",
        "JobStatusEnum": "core.models.JobStatus",
        "AnnotationStatusEnum": "annotation.models.AnnotationStatus",
        "LearningRunKindEnum": "active_learning.models.LearningRun.Kind",
        "StrategyEnum": "active_learning.core.registry.STRATEGY_NAMES",
    },
}

# --- Limits and throttling (README: "Limits and throttling") -------------------------------------------------
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=500)  # ?limit= above it is cut to it
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=32)  # nesting of arrays/objects in a JSON body
UPLOAD_MAX_FILES = env.int("UPLOAD_MAX_FILES", default=1000)  # files in one import request (zip archives count 1)
# Login (the sign-in page and the admin's) and API-token failures, counted per account and per client address
# over the lockout window: past either limit, sign-in is refused until the window has passed.
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=10)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=50)
LOGIN_LOCKOUT_S = env.int("LOGIN_LOCKOUT_S", default=15 * 60)
REST_FRAMEWORK.update(
    {
        "DEFAULT_PARSER_CLASSES": [
            "core.api.parsers.JSONParser",
            "core.api.parsers.FormParser",
            "core.api.parsers.MultiPartParser",
        ],
        "DEFAULT_PAGINATION_CLASS": "core.api.pagination.LimitOffsetPagination",
        "DEFAULT_THROTTLE_CLASSES": ["core.api.throttling.UserRateThrottle", "core.api.throttling.AnonRateThrottle"],
        "DEFAULT_THROTTLE_RATES": {
            **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            # An annotator at work sends about 2 requests a second at most: 20/s sustained is far above that.
            "user": env.str("API_RATE_PER_USER", default="1200/min"),  # per user (a token counts as its user)
            "anon": env.str("API_RATE_PER_ADDRESS", default="300/min"),  # per address, requests without a user
        },
    }
)
# Every HTML page: scripts and styles only from our own static files (no inline code, no other origin). Images
# may also come from object storage, where the image API redirects to a signed URL.
_IMAGE_SOURCES = "'self' data: blob:" + (
    " " + env.str("S3_ENDPOINT_URL", default="https:") if env.str("S3_BUCKET", default="") else ""
)
CONTENT_SECURITY_POLICY = env.str(
    "CONTENT_SECURITY_POLICY",
    default=f"default-src 'self'; script-src 'self'; style-src 'self'; img-src {_IMAGE_SOURCES}; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
)
_after_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
MIDDLEWARE[_after_security:_after_security] = [
    "core.middleware.ContentSecurityPolicyMiddleware",
    "core.middleware.QueryStringCheckMiddleware",
]
# Row ids in paths (<id:...>, at most 18 digits) are integers in the OpenAPI schema.
SPECTACULAR_SETTINGS["PATH_CONVERTER_OVERRIDES"] = {"id": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}}
# --- end of limits and throttling ---------------------------------------------------------------------------

# Celery: an embedded SQLite broker by default; Redis (or any kombu URL) for workers on other machines.
CELERY_BROKER_URL = env.str(
    "CELERY_BROKER_URL", default=env.str("REDIS_URL", default=f"sqla+sqlite:///{DATA_DIR / 'broker.sqlite3'}")
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker that hangs is treated like one that refuses: connects and publishes give up after this, once retried.
BROKER_TIMEOUT_S = env.float("CELERY_BROKER_TIMEOUT_S", default=DEFAULT_BROKER_TIMEOUT_S)
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_TIMEOUT_S
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
if CELERY_BROKER_URL.startswith("sqla+"):  # kombu hands these to SQLAlchemy's create_engine
    CELERY_BROKER_TRANSPORT_OPTIONS = {"connect_args": {"timeout": 20}}
else:  # must stay above the longest task, or Redis hands a running task to a second worker
    CELERY_BROKER_TRANSPORT_OPTIONS = redis_transport_options(
        env.int("CELERY_VISIBILITY_TIMEOUT_S", default=6 * 3600), BROKER_TIMEOUT_S
    )
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="loupe")
# Work is routed by kind: user-facing jobs (imports, exports, the stale-job sweep) go to the default queue;
# rankings have a queue of their own, so a new order after a batch of labels never waits behind an import or an
# export; long training (embeddings, replays) has its own too, so neither ever waits behind it.
TASK_QUEUES = {
    "interactive": CELERY_TASK_DEFAULT_QUEUE,
    "rankings": f"{CELERY_TASK_DEFAULT_QUEUE}-rankings",
    "training": f"{CELERY_TASK_DEFAULT_QUEUE}-training",
}
CELERY_TASK_IGNORE_RESULT = True  # tasks record their outcome on run rows, never in a result backend
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_SOFT_TIME_LIMIT_S", default=3600)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
_INTERACTIVE, _RANKINGS, _TRAINING = ({"queue": TASK_QUEUES[kind]} for kind in ("interactive", "rankings", "training"))
# Each queue binds its own routing key (by default all would bind the default queue's key on one exchange).
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in TASK_QUEUES.values()]  # a worker without -Q: all
CELERY_TASK_ROUTES = {
    "active_learning.tasks.run_embed": _TRAINING,
    "active_learning.tasks.run_map": _TRAINING,
    "active_learning.tasks.run_simulate": _TRAINING,
    "active_learning.tasks.run_rank": _RANKINGS,
    "annotation.tasks.run_import": _INTERACTIVE,
    "annotation.tasks.run_export": _INTERACTIVE,
    "core.tasks.requeue_stale_jobs": _INTERACTIVE,
    "core.tasks.receive_broker_probe": _INTERACTIVE,
    "integrations.tasks.deliver_webhook": _INTERACTIVE,
    "integrations.tasks.resend_pending_webhooks": _INTERACTIVE,
}
# A job whose worker died is taken over within JOB_LEASE + JOB_SWEEP_INTERVAL (+ the pick-up) of its last
# heartbeat: 35 s + 15 s by default, 10 s inside the promised minute (51 s measured with a lease of 40 s). A
# running job beats every JOB_HEARTBEAT_INTERVAL whatever it is doing, so a live one can miss three beats.
JOB_HEARTBEAT_INTERVAL = timedelta(seconds=env.float("JOB_HEARTBEAT_INTERVAL_S", default=10.0))
JOB_LEASE = timedelta(seconds=env.float("JOB_LEASE_S", default=35.0))
JOB_SWEEP_INTERVAL = timedelta(seconds=env.float("JOB_SWEEP_INTERVAL_S", default=15.0))
CELERY_BEAT_SCHEDULE = {  # run by `celery beat` (or a worker started with -B, as `make run` does)
    "requeue-stale-jobs": {
        "task": "core.tasks.requeue_stale_jobs",
        "schedule": JOB_SWEEP_INTERVAL.total_seconds(),
        "options": {"expires": JOB_SWEEP_INTERVAL.total_seconds()},  # a late sweep is replaced by the next one
    },
}
CELERY_BEAT_SCHEDULE["resend-pending-webhooks"] = {
    "task": "integrations.tasks.resend_pending_webhooks",
    "schedule": JOB_SWEEP_INTERVAL.total_seconds(),
    "options": {"expires": JOB_SWEEP_INTERVAL.total_seconds()},
}
# Webhooks: private, loopback and reserved addresses are refused unless an administrator allows them (a receiver
# on the same network); failed deliveries are retried after base, 2 x base, 4 x base... seconds.
WEBHOOKS_ALLOW_PRIVATE = env.bool("WEBHOOKS_ALLOW_PRIVATE", default=False)
WEBHOOK_RETRY_BASE_S = env.float("WEBHOOK_RETRY_BASE_S", default=30.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
WORKER_HEARTBEAT_INTERVAL = timedelta(seconds=env.float("WORKER_HEARTBEAT_INTERVAL_S", default=10.0))

# Shared by all web processes (throttling counters): Redis when configured, else files in the data directory.
CACHES = {
    "default": (
        {
            "BACKEND": "core.cache.FailOpenRedisCache",  # throttling counters: not counted while Redis is down
            "LOCATION": env.str("REDIS_URL"),
            # A Redis that hangs must not hold a web thread here either.
            "OPTIONS": {"socket_timeout": BROKER_TIMEOUT_S, "socket_connect_timeout": BROKER_TIMEOUT_S},
        }
        if env.str("REDIS_URL", default="")
        else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(DATA_DIR / "cache")}
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
