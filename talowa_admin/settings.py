"""Settings for TALOWA Admin, read from the environment (see README.md).

Every variable has a working default for development. ``TALOWA_ENV=production``
turns DEBUG off, secures cookies, and refuses to start without ``SECRET_KEY``
and ``TALOWA_BACKUP_KEYS``, saying why in one message. Malformed values become
system check errors (``talowa_admin.checks``) rather than crashes.

Each variable is parsed once into a typed setting; no setting (and, at the
end of this module, no module-level name) holds the raw environment, and
secret settings are masked on the debug page and in ``diffsettings``
(``talowa_admin.redaction``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from talowa_admin.env import (
    Environment,
    Problem,
    parse_database_url,
    pooled,
    sqlite_database,
)

BASE_DIR = Path(__file__).resolve().parent.parent
_env = Environment()
_refusals: list[str] = []  # why production cannot start, if it cannot

TALOWA_ENV = _env.choice(
    "TALOWA_ENV", ("development", "production"), "development", check_id="talowa.E001"
)
PRODUCTION = TALOWA_ENV == "production"

TALOWA_DATA_DIR = Path(_env.str("TALOWA_DATA_DIR", str(BASE_DIR / "var")))
if not TALOWA_DATA_DIR.is_absolute():
    TALOWA_DATA_DIR = BASE_DIR / TALOWA_DATA_DIR

DEBUG = not PRODUCTION and _env.bool("TALOWA_DEBUG", True, check_id="talowa.E002")

SECRET_KEY = _env.str("SECRET_KEY")
if not SECRET_KEY and PRODUCTION:
    _refusals.append(
        "SECRET_KEY is not set: set it to a long random string (python -c "
        "'import secrets; print(secrets.token_urlsafe(50))')."
    )
elif not SECRET_KEY:
    SECRET_KEY = "django-insecure-talowa-development-only"  # noqa: S105
SECRET_KEY_FALLBACKS = _env.list("SECRET_KEY_FALLBACKS", [])

ALLOWED_HOSTS = _env.list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = _env.list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "talowa_admin.apps.TalowaAdminSiteConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_q",
    "talowa_admin.apps.TalowaAdminConfig",
    "messaging",
    "backups",
    "retention",
    "recovery",
]

MIDDLEWARE = [
    # /healthz and /readyz answer first: see talowa_admin/health.py.
    "talowa_admin.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

if PRODUCTION:
    # Serves collected static files; development uses runserver's own.
    MIDDLEWARE.insert(2, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "talowa_admin.urls"
WSGI_APPLICATION = "talowa_admin.wsgi.application"

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

# --- Database -------------------------------------------------------------
_database_url = _env.str("DATABASE_URL")
try:
    _default_db = (
        parse_database_url(_database_url, base_dir=BASE_DIR)
        if _database_url
        else sqlite_database(TALOWA_DATA_DIR / "talowa.sqlite3")
    )
except ValueError as exc:
    _env.problems.append(
        Problem(
            "talowa.E003",
            f"DATABASE_URL is not usable: {exc}.",
            "Use sqlite:///path/to/file.db or postgres://user:password@host:5432/name.",
        )
    )
    _default_db = sqlite_database(TALOWA_DATA_DIR / "talowa.sqlite3")
# In production, PostgreSQL connections come from a pool (Django's psycopg
# pool, docs/deployment.md), at most TALOWA_DB_POOL_SIZE per process; 0 keeps
# one persistent connection per process instead. Not in qcluster: the cluster
# forks its workers after its own process used the database, and a pool (its
# threads, its open sockets) does not survive a fork. SQLite has no pool.
TALOWA_DB_POOL_SIZE = _env.int(
    "TALOWA_DB_POOL_SIZE", 4, minimum=0, maximum=100, check_id="talowa.E014"
)
if (
    PRODUCTION
    and TALOWA_DB_POOL_SIZE
    and _default_db["ENGINE"] == "django.db.backends.postgresql"
    and sys.argv[1:2] != ["qcluster"]
):
    _default_db = pooled(_default_db, max_size=TALOWA_DB_POOL_SIZE)
DATABASES = {"default": _default_db}
del _database_url, _default_db
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Backups ---------------------------------------------------------------
TALOWA_BACKUP_KEYS: list[tuple[str, bytes]] = []
_backup_keys = _env.str("TALOWA_BACKUP_KEYS")
_backup_keys_error = ""
if _backup_keys:
    from backups.keyring import parse_backup_keys

    try:
        TALOWA_BACKUP_KEYS = parse_backup_keys(_backup_keys)
    except ValueError as exc:
        _backup_keys_error = str(exc)
        _env.problems.append(
            Problem(
                "talowa.E004",
                f"TALOWA_BACKUP_KEYS is not usable: {exc}.",
                "Use id:base64key,id2:base64key with 32-byte keys (first is primary); "
                "the README shows how to generate one.",
            )
        )
if PRODUCTION and not TALOWA_BACKUP_KEYS:
    _refusals.append(
        (
            f"TALOWA_BACKUP_KEYS is not usable: {_backup_keys_error}."
            if _backup_keys_error
            else "TALOWA_BACKUP_KEYS is not set."
        )
        + " Set TALOWA_BACKUP_KEYS=id:base64key with a 32-byte key, for example "
        "from python -c 'import base64, os; "
        'print("k1:" + base64.b64encode(os.urandom(32)).decode())\'.'
    )
del _backup_keys, _backup_keys_error

# zstd level for new archives: 1 is as small as 3 on chat data and about half
# again as fast; negative levels trade size for speed (see bench/backup.py).
TALOWA_BACKUP_COMPRESSION_LEVEL = _env.int(
    "TALOWA_BACKUP_COMPRESSION_LEVEL",
    1,
    minimum=-7,
    maximum=19,
    check_id="talowa.E013",
)

TALOWA_BACKUP_STORAGE = _env.choice(
    "TALOWA_BACKUP_STORAGE", ("file", "s3"), "file", check_id="talowa.E005"
)
# Both places a backup can live. "backups" is the one TALOWA_BACKUP_STORAGE
# names, where new backups go; migrate_backups --to file|s3 copies backups to
# "backups-file" or "backups-s3" and records that alias in the catalog
# (Backup.storage), so a moved backup stays readable before and after the
# operator switches TALOWA_BACKUP_STORAGE (docs/operations.md).
_file_backup_storage = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": TALOWA_DATA_DIR / "backups"},
}
_s3_backup_storage = {
    "BACKEND": "storages.backends.s3.S3Storage",
    "OPTIONS": {
        "bucket_name": _env.str("AWS_STORAGE_BUCKET_NAME"),
        "endpoint_url": _env.str("AWS_S3_ENDPOINT_URL") or None,
        "access_key": _env.str("AWS_ACCESS_KEY_ID") or None,
        "secret_key": _env.str("AWS_SECRET_ACCESS_KEY") or None,
        "region_name": _env.str("AWS_S3_REGION_NAME") or None,
        "addressing_style": _env.str("AWS_S3_ADDRESSING_STYLE", "path"),
        "location": _env.str("AWS_LOCATION", "backups"),
        "default_acl": None,
        "file_overwrite": True,
        "querystring_auth": False,
    },
}
if TALOWA_BACKUP_STORAGE == "s3":
    _backup_storage = _s3_backup_storage
    if not _backup_storage["OPTIONS"]["bucket_name"]:
        _env.problems.append(
            Problem(
                "talowa.E006",
                "TALOWA_BACKUP_STORAGE=s3 but AWS_STORAGE_BUCKET_NAME is not set.",
                "Set AWS_STORAGE_BUCKET_NAME (and AWS_S3_ENDPOINT_URL for a store "
                "other than Amazon S3).",
            )
        )
else:
    _backup_storage = _file_backup_storage

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": TALOWA_DATA_DIR / "files"},
    },
    "media": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": TALOWA_DATA_DIR / "media"},
    },
    "exports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": TALOWA_DATA_DIR / "exports"},
    },
    "backups": _backup_storage,
    "backups-file": _file_backup_storage,
    "backups-s3": _s3_backup_storage,
    "staticfiles": {
        "BACKEND": (
            # whitenoise's, each file's URL worked out once per process
            "talowa_admin.staticfiles.StaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        ),
    },
}

# --- Exports -----------------------------------------------------------------
TALOWA_EXPORT_LINK_DAYS = _env.int(
    "TALOWA_EXPORT_LINK_DAYS", 7, minimum=1, maximum=90, check_id="talowa.E011"
)
TALOWA_EXPORT_DAILY_LIMIT = _env.int(
    "TALOWA_EXPORT_DAILY_LIMIT", 5, minimum=1, maximum=100, check_id="talowa.E012"
)

# --- Retention ---------------------------------------------------------------
# Days an archive batch of expired rows can still be restored before it is purged.
TALOWA_RETENTION_GRACE_DAYS = _env.int(
    "TALOWA_RETENTION_GRACE_DAYS", 30, minimum=1, maximum=365, check_id="talowa.E022"
)
# Milliseconds the cleanup waits between two archive batches, leaving the
# database's CPU and WAL to the application's own writes (docs/retention.md).
TALOWA_RETENTION_BATCH_PAUSE_MS = _env.int(
    "TALOWA_RETENTION_BATCH_PAUSE_MS",
    0,
    minimum=0,
    maximum=10000,
    check_id="talowa.E050",
)

# --- Workers (django-q2) ---------------------------------------------------
# A job (backup, restore, export) whose worker runs on another host and has
# not renewed its heartbeat for this many seconds is failed as "worker died"
# (talowa_admin.liveness; on the same host the process table decides).
TALOWA_WORKER_HEARTBEAT_LIMIT = _env.int(
    "TALOWA_WORKER_HEARTBEAT_LIMIT",
    600,
    minimum=120,
    maximum=86400,
    check_id="talowa.E020",
)
REDIS_URL = _env.str("REDIS_URL")
# Clusters with one name share one queue (a Redis list of that name); tests and
# second installations on one Redis give theirs another name.
TALOWA_QUEUE_NAME = _env.str("TALOWA_QUEUE_NAME", "talowa")
Q_CLUSTER = {
    "name": TALOWA_QUEUE_NAME,
    "workers": _env.int(
        "TALOWA_WORKERS", 2, minimum=1, maximum=64, check_id="talowa.E007"
    ),
    "timeout": 6 * 3600,
    "retry": 6 * 3600 + 600,
    "max_attempts": 1,
    "catch_up": False,
    "ack_failures": True,
    "label": "Tasks",
    # Redis keeps the clusters' status itself; the ORM broker keeps it in a
    # cache, which must be shared by the processes of a host to be seen.
    **(
        {"redis": REDIS_URL}
        if REDIS_URL
        else {"orm": "default", "cache": "talowa_queue"}
    ),
}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "talowa_queue": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": TALOWA_DATA_DIR / "cache" / "queue",
    },
}
# Backup schedules run at most this often (admin and API refuse shorter).
TALOWA_SCHEDULE_MIN_MINUTES = _env.int(
    "TALOWA_SCHEDULE_MIN_MINUTES", 5, minimum=1, maximum=1440, check_id="talowa.E021"
)

# --- Health monitoring (recovery.services.health) ---------------------------
# Alerts go by mail to ADMINS ("Name <address>" entries) and, when set, as a
# JSON POST to TALOWA_ALERT_WEBHOOK_URL. /metrics takes TALOWA_METRICS_TOKEN as
# a bearer token (or a staff session). Thresholds: a component is degraded
# past them (see docs/operations.md, "Health").
ADMINS = [
    (entry.partition("<")[0].strip() or entry, entry.rpartition("<")[2].rstrip(">"))
    for entry in _env.list("TALOWA_ADMINS", [])
]
EMAIL_SUBJECT_PREFIX = "[TALOWA] "
TALOWA_ALERT_WEBHOOK_URL = _env.str("TALOWA_ALERT_WEBHOOK_URL")
TALOWA_METRICS_TOKEN = _env.str("TALOWA_METRICS_TOKEN")
TALOWA_HEALTH_CHECK_TIMEOUT = _env.int(
    "TALOWA_HEALTH_CHECK_TIMEOUT", 20, minimum=1, maximum=600, check_id="talowa.E040"
)
TALOWA_HEALTH_DB_LATENCY_MS = _env.int(
    "TALOWA_HEALTH_DB_LATENCY_MS", 500, minimum=1, maximum=60000, check_id="talowa.E041"
)
TALOWA_HEALTH_BACKUP_MAX_HOURS = _env.int(
    "TALOWA_HEALTH_BACKUP_MAX_HOURS",
    26,
    minimum=1,
    maximum=8760,
    check_id="talowa.E042",
)
TALOWA_HEALTH_VERIFY_MAX_DAYS = _env.int(
    "TALOWA_HEALTH_VERIFY_MAX_DAYS", 7, minimum=1, maximum=365, check_id="talowa.E043"
)
TALOWA_HEALTH_DRILL_MAX_DAYS = _env.int(
    "TALOWA_HEALTH_DRILL_MAX_DAYS", 8, minimum=1, maximum=365, check_id="talowa.E044"
)
TALOWA_HEALTH_MIN_FREE_PERCENT = _env.int(
    "TALOWA_HEALTH_MIN_FREE_PERCENT", 10, minimum=0, maximum=99, check_id="talowa.E045"
)
# 0: no quota on the backup storage's used bytes.
TALOWA_BACKUP_STORAGE_QUOTA_BYTES = _env.int(
    "TALOWA_BACKUP_STORAGE_QUOTA_BYTES",
    0,
    minimum=0,
    maximum=2**62,
    check_id="talowa.E046",
)
TALOWA_HEALTH_RETENTION_MAX_HOURS = _env.int(
    "TALOWA_HEALTH_RETENTION_MAX_HOURS",
    48,
    minimum=1,
    maximum=8760,
    check_id="talowa.E048",
)
# Maintenance deletes unreferenced objects of the backup storage older than this.
TALOWA_MAINTENANCE_ORPHAN_GRACE_HOURS = _env.int(
    "TALOWA_MAINTENANCE_ORPHAN_GRACE_HOURS",
    24,
    minimum=1,
    maximum=8760,
    check_id="talowa.E049",
)
TALOWA_HEALTH_QUEUE_MAX_AGE_MINUTES = _env.int(
    "TALOWA_HEALTH_QUEUE_MAX_AGE_MINUTES",
    60,
    minimum=1,
    maximum=10080,
    check_id="talowa.E047",
)

# --- Authentication and security ------------------------------------------
_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]
# Django's ModelBackend and database sessions, reading the session, its user
# and their permissions in plain SQL (talowa_admin/auth_backend.py and
# sessions.py). Sessions record the backend's path: the sessions made under
# another backend end, once, when this one takes over.
AUTHENTICATION_BACKENDS = ["talowa_admin.auth_backend.RoleModelBackend"]
SESSION_ENGINE = "talowa_admin.sessions"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "me"
LOGOUT_REDIRECT_URL = "login"

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = _env.bool("SECURE_SSL_REDIRECT", True, check_id="talowa.E008")
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Internationalisation and static files ---------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = _env.str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Dates read the same on every page (talowa_admin/formats/en/formats.py).
FORMAT_MODULE_PATH = ["talowa_admin.formats"]

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = TALOWA_DATA_DIR / "static"

# --- Logging (secrets never reach a log line: see STYLE.md) ----------------
LOG_LEVEL = _env.choice(
    "TALOWA_LOG_LEVEL",
    ("debug", "info", "warning", "error"),
    "info",
    check_id="talowa.E009",
).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "filters": {
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
        "client_errors_without_traceback": {
            "()": "talowa_admin.logfilters.ClientErrorsWithoutTraceback"
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "mail_admins": {
            "level": "ERROR",
            "filters": ["require_debug_false"],
            "class": "django.utils.log.AdminEmailHandler",
        },
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        name: {"level": LOG_LEVEL}
        for name in ("talowa_admin", "messaging", "backups", "retention", "recovery")
    }
    | {
        "werkzeug": {"level": "ERROR"},
        # django-q2 logs as "django-q": at info, each schedule firing and task.
        "django-q": {"level": LOG_LEVEL},
        # Django's own records reach the console once, through the root
        # logger (Django's default config also gave "django" a console
        # handler of its own, which printed each one twice in development).
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        # A refused request is one line (talowa_admin/logfilters.py).
        "django.request": {"filters": ["client_errors_without_traceback"]},
    },
}

TALOWA_CONFIG_PROBLEMS = _env.problems
# Secrets never reach a debug page, an error mail or diffsettings.
DEFAULT_EXCEPTION_REPORTER_FILTER = "talowa_admin.redaction.SecretSettingsFilter"

if _refusals:
    raise ImproperlyConfigured(
        "TALOWA_ENV=production refuses to start. " + " ".join(_refusals)
    )
del _env, _refusals, _backup_storage, _file_backup_storage, _s3_backup_storage
