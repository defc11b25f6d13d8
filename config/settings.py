"""Themata settings, read from the environment.

Development needs no variables at all (SQLite in the repo folder, DEBUG on). Production is
``DJANGO_ENV=production`` and then ``SECRET_KEY`` and ``ALLOWED_HOSTS`` must be set; a
malformed value anywhere raises ``ImproperlyConfigured`` instead of being guessed at.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# The sample key only ever exists in development; production refuses it below.
_DEVELOPMENT_SECRET_KEY = "django-insecure-themata-development-only"


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no).")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


DJANGO_ENV = env_str("DJANGO_ENV", "development")
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV={DJANGO_ENV!r} must be 'development' or 'production'.")
PRODUCTION = DJANGO_ENV == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = env_str("SECRET_KEY", "" if PRODUCTION else _DEVELOPMENT_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

if PRODUCTION:
    if not SECRET_KEY or SECRET_KEY == _DEVELOPMENT_SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set to a long random value in production.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must list the site's host names in production.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Serve static files through whitenoise in development too, so dev matches production.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "django_tasks_db",
    "articles",
    "annotations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Every view needs a login unless marked @login_not_required; htmx requests get a 401
    # instead of a redirect, so that a page never swaps a login form into itself.
    "config.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "django.template.context_processors.csp",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=env_bool("DB_HEALTH_CHECKS", default=True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; WAL and a busy timeout keep the dev server responsive
    # while an import runs in another process.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    if env_bool("DB_PREPARED_STATEMENTS", default=True):
        # PostgreSQL: parameters bound on the server, and psycopg prepares a statement on
        # its 5th use on a connection, so that PostgreSQL no longer parses and plans it:
        # 40 % less database CPU per answer (docs/performance.md). Off (0) behind a pooler
        # that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode).
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=5
        )
    if env_bool("DB_POOL", default=False):
        # psycopg's connection pool, one per process, instead of one persistent connection
        # per thread; Django requires CONN_MAX_AGE = 0 with it.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DB_POOL_MIN_SIZE", 1, minimum=0),
            "max_size": env_int("DB_POOL_MAX_SIZE", 8, minimum=1),
        }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "config.accounts.RepetitivePasswordValidator", "OPTIONS": {"min_unique": 5}},
]

# Work that can outlive a request (exports, agreement figures) is queued in the database and
# run by `manage.py db_worker` (django-tasks-db): no broker to run, and every app server and
# worker sees the same queue through PostgreSQL.
TASKS = {
    "default": {
        "BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "annotations:home"
LOGOUT_REDIRECT_URL = "login"

AUTHENTICATION_BACKENDS = [
    # First, so that a locked-out username/address pair is refused before any password check.
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend reading the user of each request with precompiled SQL. Sessions
    # name their backend: ones made under django.contrib.auth.backends.ModelBackend (before
    # 2026-11-30) end once, and their users log in again.
    "config.accounts.ModelBackend",
]

# Login throttling (django-axes). Failures are counted per (username, address) pair, not
# per address: an attacker elsewhere cannot lock a colleague out, and colleagues behind
# one office address do not lock each other out.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
# axes reads a float as hours.
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15, minimum=1) / 60
AXES_RESET_ON_SUCCESS = True
# Each attempt during a lockout restarts the cool-off (the lockout page says so).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_HTTP_RESPONSE_CODE = 429
# Failures stay in the audit log after an unlock or a successful login.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_VERBOSE = False
# X-Forwarded-For is trusted only with the number of proxies in front of the app set: each
# proxy appends the address it saw, so the client is the entry that many places from the
# right, and anything left of it may be forged. django-ipware is not installed, so axes
# would ignore this count on its own; config.accounts.client_ip_address applies it.
AXES_IPWARE_PROXY_COUNT = env_int("AXES_IPWARE_PROXY_COUNT", 0, minimum=0) or None
AXES_CLIENT_IP_CALLABLE = "config.accounts.client_ip_address"
# The typed username cut to the 255 characters axes can store (longer ones were a 500).
AXES_USERNAME_CALLABLE = "config.accounts.client_username"
# Django's validators let "aaaaaaaaaaaa" through; this one refuses so few distinct characters.
# A session lasts a working day (ASVS 3.3.2 level 2: re-authenticate every 12 hours).
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE_HOURS", 12, minimum=1) * 60 * 60
# Database sessions (a logout or a password change ends them on every server at once), read
# with one plain SQL statement instead of an ORM query built per request: see config/sessions.py.
SESSION_ENGINE = "config.sessions"

# Content-Security-Policy: no inline scripts or styles anywhere, so the policy is strict.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
# htmx requests get a plain sentence on a CSRF failure, which the page shows as it is.
CSRF_FAILURE_VIEW = "config.views.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True

if PRODUCTION:
    # gunicorn runs behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

DATA_UPLOAD_MAX_NUMBER_FILES = 100
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

# Ingestion limits: a single input file (after decompression) larger than this is refused
# before it is parsed, so one bad upload cannot exhaust memory or disk.
THEMATA_IMPORT_MAX_FILE_BYTES = env_int(
    "THEMATA_IMPORT_MAX_FILE_BYTES", 200 * 1024 * 1024, minimum=1
)
# HTML pages have a smaller limit: parsing one takes about 35 times its size in memory, and
# an import must stay under 300 MB (a 3 MB page of many paragraphs peaked at 321 MB with
# the recall fallback's second parse; 2 MB keeps it near 215 MB; news pages are < 2 MB).
THEMATA_IMPORT_MAX_HTML_BYTES = env_int("THEMATA_IMPORT_MAX_HTML_BYTES", 2 * 1024 * 1024, minimum=1)
# An import "running" without a heartbeat (refreshed every tenth of this, at most every
# minute) for this many seconds is taken for one whose worker died: it is marked failed and
# its upload directory removed (when an import starts, when the import page or the admin's
# collection and batch lists open, and by `manage.py import_sweep`).
THEMATA_IMPORT_STALE_AFTER = env_int("THEMATA_IMPORT_STALE_AFTER", 30 * 60, minimum=60)
# Two articles whose word-shingle sets have at least this Jaccard similarity are near-copies
# (one near-duplicate group); estimated with MinHash at import.
THEMATA_NEAR_DUPLICATE_THRESHOLD = float(env_str("THEMATA_NEAR_DUPLICATE_THRESHOLD", "0.8"))
# Naive dates found in imported files are read in this zone.
THEMATA_IMPORT_TIME_ZONE = env_str("THEMATA_IMPORT_TIME_ZONE", TIME_ZONE)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # trafilatura logs every page it cannot parse perfectly; we report failures ourselves.
    "loggers": {"trafilatura": {"level": "ERROR"}, "htmldate": {"level": "ERROR"}},
}

# Browser uploads: each upload is written to a private directory made under this one (the
# system's temporary directory when unset; give it room for the largest uploads) and removed
# when its import ends. Size limits: THEMATA_IMPORT_MAX_FILE_BYTES, DATA_UPLOAD_MAX_NUMBER_FILES.
FILE_UPLOAD_TEMP_DIR = env_str("FILE_UPLOAD_TEMP_DIR") or None

# Dataset exports made in the app or the admin are written here, one folder per export, and
# served only by the access-checked download view: never put this under a public web root.
THEMATA_EXPORT_ROOT = Path(env_str("THEMATA_EXPORT_ROOT") or BASE_DIR / "var" / "exports")
# The language code written on dataset cards (the corpus's language; exports do not guess it).
THEMATA_EXPORT_LANGUAGE = env_str("THEMATA_EXPORT_LANGUAGE", "en")
# A running export writes its progress (its heartbeat) every second or so; one silent for this
# long lost its worker (killed, or its machine stopped) and is marked failed when the Export
# page, the admin's export list or a worker starting an export notices it.
THEMATA_EXPORT_STALE_MINUTES = env_int("THEMATA_EXPORT_STALE_MINUTES", 10, minimum=1)
