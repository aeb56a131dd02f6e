"""Django settings, read once from the environment (names in ARCHITECTURE.md).

Reading them does nothing else: with ``DATABASE_URL`` / ``REDIS_URL`` unset, the URLs are the
embedded PostgreSQL+pgvector and Redis under ``TOLLGATE_HOME``, which the commands that need
them start (``tollgate demo|run|up|services start``); see ``project/embedded``.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from project import deploy, embedded
from project.celery import sentinel_broker
from ratelimit import is_sentinel_url

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# --- the embedded default -------------------------------------------------------------------
TOLLGATE_HOME = embedded.home_dir()
# In a container (compose sets it) a missing URL is an error, never a silent embedded server.
TOLLGATE_REQUIRE_URLS = env.bool("TOLLGATE_REQUIRE_URLS", default=False)
if TOLLGATE_REQUIRE_URLS and deploy.missing_urls(os.environ):
    raise ImproperlyConfigured(
        f"TOLLGATE_REQUIRE_URLS is set but {' and '.join(deploy.missing_urls(os.environ))} "
        f"{'is' if len(deploy.missing_urls(os.environ)) == 1 else 'are'} not: set the URL of the real service"
    )
if TOLLGATE_REQUIRE_URLS and deploy.placeholder_passwords(os.environ):
    raise ImproperlyConfigured(
        f"the password in {' and '.join(deploy.placeholder_passwords(os.environ))} is .env.example's placeholder: "
        "set a real one (and POSTGRES_PASSWORD to match)"
    )
# Which embedded servers this process relies on: those whose URL is not set.
TOLLGATE_EMBEDDED_POSTGRES = "DATABASE_URL" not in os.environ
TOLLGATE_EMBEDDED_REDIS = "REDIS_URL" not in os.environ
_embedded = embedded.urls(TOLLGATE_HOME) if TOLLGATE_EMBEDDED_POSTGRES or TOLLGATE_EMBEDDED_REDIS else None

DATABASES = {"default": env.db("DATABASE_URL", default=_embedded.database_url if _embedded else "")}
# Under ASGI (project/asgi.py sets TOLLGATE_ASGI) every request may run in another thread, so
# Django's advice is no persistent connections there; workers and commands keep theirs.
TOLLGATE_ASGI = env.bool("TOLLGATE_ASGI", default=False)
DATABASES["default"]["CONN_MAX_AGE"] = 0 if TOLLGATE_ASGI else env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
REDIS_URL = env.str("REDIS_URL", default=_embedded.redis_url if _embedded else "")

# --- Django ---------------------------------------------------------------------------------
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=deploy.DEVELOPMENT_SECRET_KEY)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
_secret_problem = deploy.secret_key_problem(SECRET_KEY, debug=DEBUG, hosts=ALLOWED_HOSTS, deployed=TOLLGATE_REQUIRE_URLS)
if _secret_problem:
    raise ImproperlyConfigured(_secret_problem)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our own static files, no CDN
    "project.embeddings",
    "project.api",
    "project.dashboard",
    "project.monitoring",
    "project.ask",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files from any server (uvicorn too)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "project.urls"
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
            ]
        },
    }
]
WSGI_APPLICATION = "project.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
# WhiteNoise serves the static files in any server: the files `collectstatic` gathered into
# TOLLGATE_STATIC_ROOT (the Docker image does at build time; hashed names, compressed, cached for
# good), or without it straight from the apps (`tollgate up`, the tests).
STATIC_ROOT = Path(env.str("TOLLGATE_STATIC_ROOT")) if env.str("TOLLGATE_STATIC_ROOT", default="") else None
WHITENOISE_USE_FINDERS = STATIC_ROOT is None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_ROOT
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("TOLLGATE_LOG_LEVEL", default="WARNING")},
}

# --- tollgate -------------------------------------------------------------------------------
TOLLGATE_MODEL = env.str("TOLLGATE_MODEL", default="text-embedding-3-small")
TOLLGATE_DIMENSIONS = env.int("TOLLGATE_DIMENSIONS", default=1536)
# How vectors are stored and indexed: "vector" (float32) or "halfvec" (float16, half the size;
# HNSW indexes it up to 4,000 dimensions). Unset: vector up to 2,000 dimensions, halfvec above.
# Fixed, like the dimensions, when the table is first migrated.
TOLLGATE_VECTOR_TYPE = env.str("TOLLGATE_VECTOR_TYPE", default="")
if TOLLGATE_VECTOR_TYPE not in ("", "vector", "halfvec"):
    raise environ.ImproperlyConfigured(f"TOLLGATE_VECTOR_TYPE must be vector or halfvec, not {TOLLGATE_VECTOR_TYPE!r}")
TOLLGATE_RPM = env.int("TOLLGATE_RPM", default=3_000)  # Tier 1, text-embedding-3-*
TOLLGATE_TPM = env.int("TOLLGATE_TPM", default=1_000_000)  # Tier 1, text-embedding-3-*
TOLLGATE_RPD = env.int("TOLLGATE_RPD", default=0)  # requests per day; 0: none (the Free tier has 2,000)
TOLLGATE_WINDOW_SECONDS = env.float("TOLLGATE_WINDOW_SECONDS", default=60.0)
# Our window is this much longer than the provider's: a request admitted at the very end of our
# window may reach the provider a little later than an older one did, and must still fit there.
TOLLGATE_SAFETY_SECONDS = env.float("TOLLGATE_SAFETY_SECONDS", default=0.0)
# Pacing: at most this share of each limit goes at once, then the limit's own rate. Workers then
# spread a backfill over the window instead of filling it in one rush and waiting out the rest,
# and providers that check a minute's limit over shorter periods see no burst (ratelimit/limiter.py).
TOLLGATE_BURST = env.float("TOLLGATE_BURST", default=0.03)
TOLLGATE_CHUNK_SIZE = env.int("TOLLGATE_CHUNK_SIZE", default=512)
TOLLGATE_CHUNK_OVERLAP = env.int("TOLLGATE_CHUNK_OVERLAP", default=64)
TOLLGATE_GROUP_TOKENS = env.int("TOLLGATE_GROUP_TOKENS", default=0)  # 0: 1% of TPM (providers/planning.py)
# The share of each limit a backfill leaves free, so a search's query embedding (and a small
# upload from the web) never waits behind a saturating backfill. Small is enough: a query is a
# few tokens and one request, so 1% of Tier 1 (30 RPM, 10,000 TPM) serves a query every 2 s
# even while a backfill holds the rest, and queries also fit the gaps a backfill leaves.
TOLLGATE_BULK_RESERVE = env.float("TOLLGATE_BULK_RESERVE", default=0.01)
# Jobs of at most this many tokens (a few documents posted from the web) take the interactive lane.
TOLLGATE_INTERACTIVE_MAX_TOKENS = env.int("TOLLGATE_INTERACTIVE_MAX_TOKENS", default=10_000)
# Search results less similar than this (cosine, -1..1) are noise, not matches: the dashboard and
# GET /api/search (unless it names a threshold) leave them out and say there is no good match.
# 0.1 hides the near-orthogonal texts of the simulator and below-chance hits of any model; for
# text-embedding-3 models, 0.2-0.3 keeps only related text.
TOLLGATE_MIN_SIMILARITY = env.float("TOLLGATE_MIN_SIMILARITY", default=0.1)
# Ask: a chat model answers from the nearest chunks, through the same gate, under its own limits
# (per window, like TOLLGATE_RPM/TPM; 0: the chat model's Tier 1 figures in providers/catalog.py).
TOLLGATE_CHAT_MODEL = env.str("TOLLGATE_CHAT_MODEL", default="gpt-4o-mini")
TOLLGATE_CHAT_RPM = env.int("TOLLGATE_CHAT_RPM", default=0)
TOLLGATE_CHAT_TPM = env.int("TOLLGATE_CHAT_TPM", default=0)
TOLLGATE_CHAT_MAX_TOKENS = env.int("TOLLGATE_CHAT_MAX_TOKENS", default=600)  # the answer's room (max_tokens)
TOLLGATE_ASK_K = env.int("TOLLGATE_ASK_K", default=6)  # chunks an ask gives the model at most
TOLLGATE_ASK_CONTEXT_TOKENS = env.int("TOLLGATE_ASK_CONTEXT_TOKENS", default=6_000)  # the sources' tokens at most
# Bulk mode (project/embeddings/indexing.py): a job of at least this many chunks loads its rows
# into segments the HNSW index does not maintain row by row, and each full segment (and the last)
# is indexed in one bulk build; smaller jobs go straight into the live, row-by-row index.
TOLLGATE_BULK_MIN_CHUNKS = env.int("TOLLGATE_BULK_MIN_CHUNKS", default=2_000)
TOLLGATE_SEGMENT_ROWS = env.int("TOLLGATE_SEGMENT_ROWS", default=5_000)
# What one bulk index build may use: memory for the graph (more than it needs is never taken) and
# parallel maintenance workers beside the leader (PostgreSQL's max_parallel_maintenance_workers).
TOLLGATE_INDEX_MEMORY_MB = env.int("TOLLGATE_INDEX_MEMORY_MB", default=1024)
TOLLGATE_INDEX_WORKERS = env.int("TOLLGATE_INDEX_WORKERS", default=1)
TOLLGATE_MAX_ATTEMPTS = env.int("TOLLGATE_MAX_ATTEMPTS", default=6)  # for 5xx, timeouts, dropped connections
TOLLGATE_MAX_BACKOFF_SECONDS = env.float("TOLLGATE_MAX_BACKOFF_SECONDS", default=60.0)
TOLLGATE_REQUEST_TIMEOUT = env.float("TOLLGATE_REQUEST_TIMEOUT", default=60.0)
TOLLGATE_STALL_SECONDS = env.float("TOLLGATE_STALL_SECONDS", default=0.0)  # 0: twice the window, at least 10 s
# A claimed group's lease (database clock): 0 is the request timeout, the gate's waits and the
# stall time, so a request in flight never loses its claim (a value set must exceed the request
# timeout); a group whose lease ran out this many times while claimed pauses its job.
TOLLGATE_LEASE_SECONDS = env.float("TOLLGATE_LEASE_SECONDS", default=0.0)
TOLLGATE_LEASE_EXPIRATIONS = env.int("TOLLGATE_LEASE_EXPIRATIONS", default=3)

# --- the provider (the openai SDK's own variable names) ---------------------------------------
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
AZURE_OPENAI_ENDPOINT = env.str("AZURE_OPENAI_ENDPOINT", default="")
AZURE_OPENAI_API_KEY = env.str("AZURE_OPENAI_API_KEY", default="")
OPENAI_API_VERSION = env.str("OPENAI_API_VERSION", default="2024-10-21")

# --- a pool of deployments (project/pool_file.py): several keys or Azure deployments as one provider ---
# TOLLGATE_DEPLOYMENTS names a TOML file of [[deployments]] (each with its own RPM and TPM, and the
# NAME of the variable holding its key); unset, the one provider above. With a pool, the model and
# dimensions are the pool's, and TOLLGATE_RPM/TPM become its sum per TOLLGATE_WINDOW_SECONDS (what
# plans, group sizes and ETAs are read against); each deployment is limited by its own.
TOLLGATE_DEPLOYMENTS = env.str("TOLLGATE_DEPLOYMENTS", default="")
TOLLGATE_POOL: tuple = ()
if TOLLGATE_DEPLOYMENTS:
    from project.pool_file import pool_settings, read_deployments

    TOLLGATE_POOL = read_deployments(
        Path(TOLLGATE_DEPLOYMENTS), environ=os.environ, dimensions=TOLLGATE_DIMENSIONS,
        window_seconds=TOLLGATE_WINDOW_SECONDS,
    )  # fmt: skip
    TOLLGATE_MODEL, TOLLGATE_DIMENSIONS, TOLLGATE_RPM, TOLLGATE_TPM = pool_settings(
        TOLLGATE_POOL, model=env.str("TOLLGATE_MODEL", default=""), window_seconds=TOLLGATE_WINDOW_SECONDS
    )
# The breaker of a pool's deployments (ratelimit/breaker.py): failures in a row (5xx, timeouts,
# dropped connections) that open it, its first open time (doubled at each opening in a row, up to
# 5 minutes), and how long a refusal of the credentials or the quota keeps a deployment out.
TOLLGATE_BREAKER_FAILURES = env.int("TOLLGATE_BREAKER_FAILURES", default=3)
TOLLGATE_BREAKER_SECONDS = env.float("TOLLGATE_BREAKER_SECONDS", default=5.0)
TOLLGATE_BLOCKED_SECONDS = env.float("TOLLGATE_BLOCKED_SECONDS", default=600.0)

# Fair share among owners (project/embeddings/groups/fairshare.py): while several owners have work on
# the sync lane, each may have this many windows of the limit's tokens in flight, shared by weight
# ("alice=3,bob=1" by user name; 1 each), so one owner's backfill never makes another's job wait behind
# all of it. A single owner has the whole pool. 0: off (groups run in the order they were sent).
TOLLGATE_FAIR_SHARE_WINDOWS = env.float("TOLLGATE_FAIR_SHARE_WINDOWS", default=0.5)


def _owner_weights(text: str) -> dict[str, float]:
    weights = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = pair.partition("=")
        try:
            weights[name.strip()] = float(weight)
        except ValueError:
            weights[name.strip()] = 0.0
        if not name.strip() or not 0 < weights[name.strip()] < float("inf"):
            raise ImproperlyConfigured(f"TOLLGATE_OWNER_WEIGHTS: {pair!r} is not name=weight with a positive weight")
    return weights


TOLLGATE_OWNER_WEIGHTS = _owner_weights(env.str("TOLLGATE_OWNER_WEIGHTS", default=""))

# --- Celery (its Django recipe: every CELERY_* setting configures the app), set for no loss -----
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged after it ran, so a dead worker's task comes back
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Above the longest countdown a task is given (the backoff cap and a window's wait), so Redis does
# not hand a waiting task to a second worker; the sweep re-enqueues what a lost worker held.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
if is_sentinel_url(CELERY_BROKER_URL):  # tollgate's Sentinel URL (ratelimit/sentinel.py) in Celery's form
    CELERY_BROKER_URL, _sentinel_options = sentinel_broker(CELERY_BROKER_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(_sentinel_options)
TOLLGATE_MAX_COUNTDOWN_SECONDS = 600.0  # a longer wait (a daily quota) is re-checked after this
CELERY_WORKER_POOL = env.str("CELERY_WORKER_POOL", default="threads")  # the work waits on the network
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=2)
CELERY_TASK_DEFAULT_QUEUE = "bulk"
CELERY_TASK_ROUTES = {
    "tollgate.embed_group": {"queue": "bulk"},
    "tollgate.sweep": {"queue": "interactive"},
    "tollgate.index_maintain": {"queue": "interactive"},
    "tollgate.batches_drive": {"queue": "interactive"},
    "tollgate.batch_store": {"queue": "bulk"},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes every database connection before and after each task unless this is
# set (CONN_MAX_AGE is ignored since Celery 5.5.3), so each group paid for a new PostgreSQL backend
# and pgvector's type lookup. It now closes them only every this many tasks; between tasks
# project/celery.py applies Django's own rule (CONN_MAX_AGE, CONN_HEALTH_CHECKS) as a request does.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
TOLLGATE_SWEEP_SECONDS = env.float("TOLLGATE_SWEEP_SECONDS", default=30.0)  # how often beat runs the sweep
# The batch lane (project/embeddings/batches.py): the Batch API's enqueued-token limit for the
# model (0: its Tier-1 figure, providers/catalog.py), what an expired or cancelled batch's unrun
# part does (resubmit, or go to the sync lane), how often beat polls batches, tokens per batch
# (0: a quarter of the queue limit, so one finishing leaves room for the next at once), and the
# job size from which `--lane auto` picks the batch lane (0: ten windows of TPM).
TOLLGATE_BATCH_QUEUE_TOKENS = env.int("TOLLGATE_BATCH_QUEUE_TOKENS", default=0)
TOLLGATE_BATCH_FALLBACK = env.str("TOLLGATE_BATCH_FALLBACK", default="resubmit")
if TOLLGATE_BATCH_FALLBACK not in ("resubmit", "sync"):
    raise environ.ImproperlyConfigured(
        f"TOLLGATE_BATCH_FALLBACK must be resubmit or sync, not {TOLLGATE_BATCH_FALLBACK!r}"
    )
TOLLGATE_BATCH_POLL_SECONDS = env.float("TOLLGATE_BATCH_POLL_SECONDS", default=30.0)
TOLLGATE_BATCH_TOKENS = env.int("TOLLGATE_BATCH_TOKENS", default=0)
TOLLGATE_BATCH_AUTO_TOKENS = env.int("TOLLGATE_BATCH_AUTO_TOKENS", default=0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- web: the API, the dashboard, Flower ---------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",  # first, so an anonymous call gets 401
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "project.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "tollgate API",
    "DESCRIPTION": "Ingest text, watch embedding jobs, search, and read the shared rate limit's usage.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"
# One upload (JSON body or files) may be this large; more is refused with 413 before it is read.
TOLLGATE_MAX_UPLOAD_BYTES = env.int("TOLLGATE_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = TOLLGATE_MAX_UPLOAD_BYTES
FLOWER_BASIC_AUTH = env.str("FLOWER_BASIC_AUTH", default="")  # "user:password"; unset: Flower on 127.0.0.1 only
# Where Flower listens; beyond loopback only with FLOWER_BASIC_AUTH (manage.py flower refuses otherwise).
TOLLGATE_FLOWER_ADDRESS = env.str("TOLLGATE_FLOWER_ADDRESS", default="")
TOLLGATE_FLOWER_URL = env.str("TOLLGATE_FLOWER_URL", default="http://127.0.0.1:5555/")
# GET /metrics also accepts "Authorization: Bearer <this>" (for Prometheus); unset: staff users and their tokens only.
TOLLGATE_METRICS_TOKEN = env.str("TOLLGATE_METRICS_TOKEN", default="")

# --- deploying safely (docs/OPERATIONS.md, "Deploying safely") ----------------------------------
# Who owns what the command line ingests (project/embeddings/owners.py).
TOLLGATE_SYSTEM_USER = env.str("TOLLGATE_SYSTEM_USER", default="tollgate")
# Per-user API rates (DRF throttles, project/api/throttles.py): every call, and the calls that make
# provider work (uploads, searches). "N/second|minute|hour|day"; empty: no throttle.
TOLLGATE_API_RATE = env.str("TOLLGATE_API_RATE", default="600/minute")
TOLLGATE_WORK_RATE = env.str("TOLLGATE_WORK_RATE", default="60/minute")
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["project.api.throttles.ApiRateThrottle"]
# Tokens each owner may submit for embedding per UTC day; more is a 429 with Retry-After. 0: no budget.
TOLLGATE_DAILY_TOKEN_BUDGET = env.int("TOLLGATE_DAILY_TOKEN_BUDGET", default=0)
# Sources (your tables, kept embedded): every worker process follows them (workers/sources.py), looking
# for changes this often; 0 turns that off (`tollgate sources sync` drains by itself).
TOLLGATE_SOURCES_POLL_SECONDS = env.float("TOLLGATE_SOURCES_POLL_SECONDS", default=0.5)
# The throttles' counts, shared by every web process (Redis; the limiter's keys are elsewhere). A
# list, since Django splits a LOCATION string at commas; a Sentinel URL needs its pool class.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": [REDIS_URL],
        "KEY_PREFIX": "tollgate",
    }
}
if is_sentinel_url(REDIS_URL):
    CACHES["default"]["OPTIONS"] = {"pool_class": "ratelimit.sentinel.SentinelPool"}
# Behind a TLS-terminating proxy (compose sets these): HTTPS only, secure cookies, HSTS.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False) else None
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=False)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
