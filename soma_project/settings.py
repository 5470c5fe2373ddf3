"""One env-driven settings module. Every variable is documented in .env.template."""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from soma_project.env_parsing import (
    NamingEnv,
    development_secret,
    lockout_parameters,
    read_secret,
    throttle_rate,
    trusted_proxies,
)

BASE_DIR = Path(__file__).resolve().parent.parent

env = NamingEnv()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# The one version number: the [project] metadata of pyproject.toml (the chart's appVersion follows it).
SOMA_VERSION: str = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]["version"]

SOMA_ENV = env.str("SOMA_ENV", default="production" if env.str("DATABASE_URL", default="") else "development")
if SOMA_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"SOMA_ENV must be 'development' or 'production', not {SOMA_ENV!r}")
PRODUCTION = SOMA_ENV == "production"
DEBUG = env.bool("DJANGO_DEBUG", default=False)

SOMA_DATA_DIR = Path(env.str("SOMA_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()


_missing: list[str] = []

SECRET_KEY = read_secret(env, "DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        _missing.append("DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE)")
    else:
        SECRET_KEY = development_secret(SOMA_DATA_DIR, "secret_key")

# The master token may act for any tenant; API keys (ApiKey model) act for one.
SOMA_API_TOKEN = read_secret(env, "SOMA_API_TOKEN")
SOMA_API_TOKEN_GENERATED = False
if not SOMA_API_TOKEN:
    if PRODUCTION:
        _missing.append("SOMA_API_TOKEN (or SOMA_API_TOKEN_FILE)")
    else:
        SOMA_API_TOKEN = development_secret(SOMA_DATA_DIR, "api_token")
        SOMA_API_TOKEN_GENERATED = True

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    if PRODUCTION:
        _missing.append("ALLOWED_HOSTS")
    else:
        ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]

if _missing:
    raise ImproperlyConfigured("SOMA_ENV=production needs these settings, which are missing: " + ", ".join(_missing))

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # First: its `createsuperuser` (password validators without a bypass) replaces django.contrib.auth's.
    "console",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_prometheus",
    "ninja",
    "accounts",
    "memories",
    "graph",
    "vectors",
    "portability",
    "axes",
]

MIDDLEWARE = [
    "soma_project.middleware.KnownMethodMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "soma_project.metrics.RouteMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "soma_project.middleware.BodySizeLimitMiddleware",
    "soma_project.middleware.JsonErrorMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a login that django-axes refused into the lockout page; on every other request it
    # only reads one attribute (axes does its work in the auth backend and signals, at login).
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "soma_project.urls"
WSGI_APPLICATION = "soma_project.wsgi.application"
ASGI_APPLICATION = "soma_project.asgi.application"
APPEND_SLASH = False

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

# --- PostgreSQL: a server named by DATABASE_URL, else the embedded one under SOMA_DATA_DIR.
if env.str("DATABASE_URL", default=""):
    _database = env.db_url("DATABASE_URL")
    SOMA_EMBEDDED_POSTGRES = False
else:
    from soma_project.embedded import embedded_database_url

    _database = environ.Env.db_url_config(embedded_database_url(SOMA_DATA_DIR / "postgres"))
    SOMA_EMBEDDED_POSTGRES = True
_database["ENGINE"] = "django_prometheus.db.backends.postgresql"
_database.setdefault("OPTIONS", {})
# A connection pool (psycopg_pool) instead of one connection per request: the API is
# chatty and short, so connecting would dominate its latency.
if env.bool("SOMA_DB_POOL", default=True):
    _database["OPTIONS"]["pool"] = {
        "min_size": env.int("SOMA_DB_POOL_MIN", default=1),
        "max_size": env.int("SOMA_DB_POOL_MAX", default=10),
        "timeout": env.float("SOMA_DB_POOL_TIMEOUT", default=10.0),
    }
    _database["CONN_MAX_AGE"] = 0
_database["OPTIONS"].setdefault("connect_timeout", env.int("SOMA_DB_CONNECT_TIMEOUT", default=5))
# Prepared statements for the statements that ask for them (core.db.prepared_cursor); Django's
# own cursors bind on the client, which psycopg never prepares. None: nothing is prepared.
_database["OPTIONS"].setdefault("prepare_threshold", 5 if env.bool("SOMA_DB_PREPARE", default=True) else None)
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (and throttle counters): Redis when REDIS_URL is set, else process-local memory.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "soma",
            "TIMEOUT": 3600,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
                # Redis down must not fail requests: the cache is bypassed and logged.
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    DJANGO_REDIS_LOGGER = "soma.cache"
else:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache",
            "LOCATION": "soma",
            "TIMEOUT": 3600,
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    }

# --- Vector store: a Qdrant server at QDRANT_URL, else the embedded engine under SOMA_DATA_DIR.
QDRANT_URL = env.str("QDRANT_URL", default="")
QDRANT_API_KEY = read_secret(env, "QDRANT_API_KEY")
SOMA_VECTOR_STORE = env.str("SOMA_VECTOR_STORE", default="qdrant" if QDRANT_URL else "edge")
if SOMA_VECTOR_STORE not in {"edge", "qdrant", "memory"}:
    raise ImproperlyConfigured("SOMA_VECTOR_STORE must be 'edge', 'qdrant' or 'memory'")
SOMA_EMBEDDING_MODEL_DIR = env.str("SOMA_EMBEDDING_MODEL_DIR", default="") or None
# The packaged model with int8 matrix products (2.2x faster here), built once into
# SOMA_MODEL_CACHE_DIR (the image builds it in). Switching it changes the vectors' model:
# `reindex --dirty` (and the embedded server's sweep) rebuilds them.
SOMA_EMBEDDING_QUANTIZE = env.bool("SOMA_EMBEDDING_QUANTIZE", default=True)
SOMA_MODEL_CACHE_DIR = Path(env.str("SOMA_MODEL_CACHE_DIR", default=str(SOMA_DATA_DIR / "models")))
# Seconds between the embedded server's sweeps of pending/failed vectors (0 = no sweeper thread).
SOMA_REINDEX_INTERVAL = env.int("SOMA_REINDEX_INTERVAL", default=300)
# The embedded server builds its vector index in a child process once this many points were
# written since the last build (vectors.index_builder); 0 = never (`manage.py vectors_optimize`).
SOMA_INDEX_THRESHOLD = env.int("SOMA_INDEX_THRESHOLD", default=20_000)
# Seconds between flushes of the embedded engine (fsync of its WAL and segments): a power cut
# loses at most the vectors of this last interval, which are re-indexed at the next start
# (vectors.stores.edge_flush). 0 = flush after every write (~15-20 ms each).
SOMA_VECTOR_FLUSH_INTERVAL = env.float("SOMA_VECTOR_FLUSH_INTERVAL", default=1.0)
if SOMA_VECTOR_FLUSH_INTERVAL < 0:
    raise ImproperlyConfigured("SOMA_VECTOR_FLUSH_INTERVAL must be 0 or more seconds")
# Payload/metadata keys that search filters use often, "key" (keyword) or "key:integer|float|bool|datetime".
SOMA_VECTOR_INDEXED_KEYS: dict[str, str] = {}
for _spec in env.list("SOMA_VECTOR_INDEXED_KEYS", default=[]):
    _key, _, _kind = _spec.strip().partition(":")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", _key) or (_kind or "keyword") not in {
        "keyword",
        "integer",
        "float",
        "bool",
        "datetime",
    }:
        raise ImproperlyConfigured(
            f"SOMA_VECTOR_INDEXED_KEYS: {_spec!r} must be KEY or KEY:TYPE with TYPE keyword, integer, float, bool or datetime"
        )
    SOMA_VECTOR_INDEXED_KEYS[_key] = _kind or "keyword"

# --- Aging: expiry, access tracking, recency- and importance-aware ranking (memories.access,
# memories.aging, vectors.ranking).
# Seconds between the embedded server's purges of expired memories (0 = none; read-time expiry
# hides them anyway). With QDRANT_URL, schedule `manage.py prune_expired` (the Helm CronJob).
SOMA_PURGE_INTERVAL = env.int("SOMA_PURGE_INTERVAL", default=300)
# Access counts are buffered per process and written every this many seconds (0 = only when the
# buffer is full and at exit), or as soon as this many distinct memories are waiting.
SOMA_ACCESS_FLUSH_SECONDS = env.float("SOMA_ACCESS_FLUSH_SECONDS", default=5.0)
SOMA_ACCESS_FLUSH_THRESHOLD = env.int("SOMA_ACCESS_FLUSH_THRESHOLD", default=5000)
# Search defaults for the ranking options a request leaves out (0 weights: relevance alone).
SOMA_SEARCH_RECENCY_WEIGHT = env.float("SOMA_SEARCH_RECENCY_WEIGHT", default=0.0)
SOMA_SEARCH_HALF_LIFE_DAYS = env.float("SOMA_SEARCH_HALF_LIFE_DAYS", default=30.0)
SOMA_SEARCH_ACCESS_HALF_LIFE_DAYS = env.float("SOMA_SEARCH_ACCESS_HALF_LIFE_DAYS", default=7.0)
SOMA_SEARCH_IMPORTANCE_WEIGHT = env.float("SOMA_SEARCH_IMPORTANCE_WEIGHT", default=0.0)
_min_score = env.str("SOMA_SEARCH_MIN_SCORE", default="")
SOMA_SEARCH_MIN_SCORE: float | None = float(_min_score) if _min_score else None
# Re-ranking reads this many candidates at least (4 x offset+top_k when more, at most 500).
SOMA_SEARCH_RERANK_POOL = env.int("SOMA_SEARCH_RERANK_POOL", default=50)
for _name in ("SOMA_SEARCH_RECENCY_WEIGHT", "SOMA_SEARCH_IMPORTANCE_WEIGHT"):
    if not 0.0 <= globals()[_name] <= 1.0:
        raise ImproperlyConfigured(f"{_name} must be between 0 and 1")
if SOMA_SEARCH_RECENCY_WEIGHT + SOMA_SEARCH_IMPORTANCE_WEIGHT > 1.0:
    raise ImproperlyConfigured("SOMA_SEARCH_RECENCY_WEIGHT + SOMA_SEARCH_IMPORTANCE_WEIGHT must be at most 1")
for _name in ("SOMA_SEARCH_HALF_LIFE_DAYS", "SOMA_SEARCH_ACCESS_HALF_LIFE_DAYS"):
    if not globals()[_name] > 0:
        raise ImproperlyConfigured(f"{_name} must be a positive number of days")
if not 1 <= SOMA_SEARCH_RERANK_POOL <= 500:
    raise ImproperlyConfigured("SOMA_SEARCH_RERANK_POOL must be between 1 and 500")

# --- Serving: request threads of the single embedded-mode process (waitress, scripts/serve.py).
# Each busy thread holds one pooled connection, and the sweeper one more: keep below the pool.
SOMA_THREADS = env.int("SOMA_THREADS", default=8)

# --- Limits and throttles.
SOMA_MAX_BODY_BYTES = env.int("SOMA_MAX_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = SOMA_MAX_BODY_BYTES
SOMA_MAX_JSON_DEPTH = env.int("SOMA_MAX_JSON_DEPTH", default=32)
SOMA_THROTTLE_KEY_RATE = throttle_rate("SOMA_THROTTLE_KEY_RATE", env.str("SOMA_THROTTLE_KEY_RATE", default="6000/m"))
SOMA_THROTTLE_PUBLIC_RATE = throttle_rate(
    "SOMA_THROTTLE_PUBLIC_RATE", env.str("SOMA_THROTTLE_PUBLIC_RATE", default="600/m")
)

# --- Client address (soma_project/client_address.py): the throttles and the login lockout.
# X-Forwarded-For is read only with SOMA_NUM_PROXIES > 0, and then only from a peer inside
# SOMA_TRUSTED_PROXIES when that is set; the entry the outermost trusted proxy wrote is the client.
SOMA_NUM_PROXIES = env.int("SOMA_NUM_PROXIES", default=0)
if SOMA_NUM_PROXIES < 0:
    raise ImproperlyConfigured("SOMA_NUM_PROXIES must be 0 or more")
NINJA_NUM_PROXIES = SOMA_NUM_PROXIES
SOMA_TRUSTED_PROXIES = trusted_proxies(env.list("SOMA_TRUSTED_PROXIES", default=[]))

# --- Console login lockout (django-axes, state in PostgreSQL: shared by every worker and pod,
# kept across restarts). SOMA_LOGIN_LOCKOUT_BY: comma-separated; each item locks on its own,
# "a+b" locks only that combination. Default: the username (from any address) and the address
# (for any username), each after SOMA_LOGIN_FAILURE_LIMIT failures within the window.
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out login is refused before any password is checked. The API's bearer
    # tokens (soma_project/auth.py) never call django.contrib.auth.authenticate: axes never sees them.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("SOMA_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("SOMA_LOGIN_LOCKOUT_SECONDS", default=900))
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_TIME.total_seconds() < 1:
    raise ImproperlyConfigured("SOMA_LOGIN_FAILURE_LIMIT and SOMA_LOGIN_LOCKOUT_SECONDS must be 1 or more")
AXES_LOCKOUT_PARAMETERS = lockout_parameters(env.list("SOMA_LOGIN_LOCKOUT_BY", default=["username", "ip_address"]))
AXES_CLIENT_IP_CALLABLE = "soma_project.client_address.client_address"
AXES_LOCKOUT_CALLABLE = "console.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "console.lockout.login_username"
AXES_HTTP_RESPONSE_CODE = 429
# Every failure in the failure log (who, from where, when, whether it was locked out); logins
# and logouts in the access log. A failed login while locked out is recorded and starts the
# window again, so hammering a locked account keeps it locked.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
# A success does not clear the failures: otherwise anyone with an account could reset the
# counter of their address between guesses at someone else's password.
AXES_RESET_ON_SUCCESS = False
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]

# --- History: every change of a memory is a version (memories.history_services).
SOMA_HISTORY = env.bool("SOMA_HISTORY", default=True)
SOMA_HISTORY_RETENTION_DAYS = env.int("SOMA_HISTORY_RETENTION_DAYS", default=30)
if SOMA_HISTORY_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("SOMA_HISTORY_RETENTION_DAYS must be at least 1")
# How often the embedded server's sweeper prunes the history (prune_history in server mode).
SOMA_HISTORY_PRUNE_INTERVAL = env.int("SOMA_HISTORY_PRUNE_INTERVAL", default=3600)

# --- Security headers (the API and the admin).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
    # TLS ends at the ingress / load balancer in front of the pods; probes speak plain HTTP.
    SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=["security.W004", "security.W008"])

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = SOMA_DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve the admin's static files straight from the installed apps: no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

PROMETHEUS_EXPORT_MIGRATIONS = False

# --- Logging: plain text by default, one JSON object per line with SOMA_LOG_JSON=true.
SOMA_LOG_LEVEL = env.str("SOMA_LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "soma_project.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if env.bool("SOMA_LOG_JSON", default=False) else "text",
        }
    },
    "root": {"handlers": ["console"], "level": SOMA_LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
        # django-axes logs each failure and lockout at WARNING; its start-up banner is noise.
        "axes.apps": {"level": "WARNING"},
        # The MCP SDK logs each request (and, at DEBUG, its messages: memory contents) at INFO.
        "mcp": {"level": "WARNING"},
    },
}
