"""Configuration from the environment: defaults, parsing, checks, production."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from talowa_admin.env import Environment, parse_database_url
from talowa_admin.redaction import SECRET_NAMES, SecretSettingsFilter

ROOT = Path(__file__).resolve().parents[2]


def run_django(code: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run Python ``code`` (with ``args``) in a clean environment plus ``env``."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TALOWA_", "DATABASE_URL", "SECRET_KEY"))
    }
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sqlite_and_postgres_urls(tmp_path):
    sqlite = parse_database_url("sqlite:///var/x.db", base_dir=tmp_path)
    assert sqlite["ENGINE"] == "django.db.backends.sqlite3"
    assert sqlite["NAME"] == str(tmp_path / "var" / "x.db")
    absolute = parse_database_url(f"sqlite:///{tmp_path}/y.db", base_dir=ROOT)
    assert absolute["NAME"] == str(tmp_path / "y.db")
    pg = parse_database_url(
        "postgres://talowa:p%40ss@db.internal:6543/talowa?sslmode=require",
        base_dir=tmp_path,
    )
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "talowa",
        "p@ss",
        "db.internal",
        "6543",
        "talowa",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize(
    "url", ["mysql://u:secretpw@h/db", "postgres://u:secretpw@h/", "sqlite://"]
)
def test_bad_database_urls_never_echo_the_password(url, tmp_path):
    with pytest.raises(ValueError) as caught:
        parse_database_url(url, base_dir=tmp_path)
    assert "secretpw" not in str(caught.value)


def test_environment_records_problems_with_ids():
    env = Environment(values={"A": "maybe", "N": "-3", "C": "ftp"})
    assert env.bool("A", True, check_id="t.E1") is True
    assert env.int("N", 2, minimum=1, maximum=9, check_id="t.E2") == 2
    assert env.choice("C", ("file", "s3"), "file", check_id="t.E3") == "file"
    assert [p.id for p in env.problems] == ["t.E1", "t.E2", "t.E3"]
    assert all(p.hint for p in env.problems)


def test_bad_configuration_is_a_system_check_error(tmp_path):
    result = run_django(
        "import django; django.setup(); from django.core.management import "
        "call_command; call_command('check')",
        TALOWA_DATA_DIR=str(tmp_path),
        TALOWA_BACKUP_STORAGE="tape",
        DATABASE_URL="mysql://u:secretpw@h/db",
        TALOWA_BACKUP_KEYS="k1:not-base64!",
    )
    assert result.returncode != 0
    for check_id in ("talowa.E003", "talowa.E004", "talowa.E005"):
        assert check_id in result.stderr
    assert "secretpw" not in result.stderr
    assert "HINT" in result.stderr


def test_default_data_dir_holds_the_database(tmp_path):
    result = run_django(
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['NAME'])",
        TALOWA_DATA_DIR=str(tmp_path / "instance-a"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "instance-a" / "talowa.sqlite3")


@pytest.mark.parametrize(
    ("env", "reasons"),
    [
        ({}, ["SECRET_KEY is not set", "TALOWA_BACKUP_KEYS is not set"]),
        ({"SECRET_KEY": "s" * 50}, ["TALOWA_BACKUP_KEYS is not set"]),
        (
            {"SECRET_KEY": "s" * 50, "TALOWA_BACKUP_KEYS": "k1:not-base64!"},
            ["TALOWA_BACKUP_KEYS is not usable", "(key id 'k1') is not valid base64"],
        ),
    ],
)
@pytest.mark.parametrize("command", [["check"], ["list_backups"]])
def test_production_refuses_to_start_in_one_line_naming_the_problem(
    env, reasons, command, tmp_path
):
    result = run_manage(
        *command, TALOWA_ENV="production", TALOWA_DATA_DIR=str(tmp_path), **env
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "production refuses to start" in lines[0]
    for reason in reasons:
        assert reason in lines[0]


# Values that must never be shown: each is set in the environment of a
# development instance, whose settings and debug page are then read.
KEY_BYTES = b"key-canary-0123456789-abcdefghij"  # 32 bytes
SECRETS = {
    "SECRET_KEY": "secret-key-canary-8c1f0e5d7b2a4f6e9d3c1b0a",
    "SECRET_KEY_FALLBACKS": "fallback-canary-5e4d3c2b1a09f8e7d6c5",
    "TALOWA_BACKUP_KEYS": "k1:" + base64.b64encode(KEY_BYTES).decode(),
    "AWS_SECRET_ACCESS_KEY": "aws-secret-canary-1f2e3d4c",
    "DATABASE_URL": "postgres://talowa:db-password-canary@127.0.0.1:1/talowa",
    "REDIS_URL": "redis://:redis-password-canary@127.0.0.1:1/3",
    "TALOWA_METRICS_TOKEN": "metrics-token-canary-77aa",
    "TALOWA_ALERT_WEBHOOK_URL": "https://hooks.example.org/T0/webhook-canary-99bb",
}
CANARIES = [
    "secret-key-canary",
    "fallback-canary",
    base64.b64encode(KEY_BYTES).decode(),
    "key-canary-0123456789",
    "aws-secret-canary",
    "db-password-canary",
    "redis-password-canary",
    "metrics-token-canary",
    "webhook-canary",
]


def secret_environment(tmp_path: Path) -> dict[str, str]:
    return SECRETS | {
        "TALOWA_DATA_DIR": str(tmp_path),
        "TALOWA_BACKUP_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": "talowa-backups",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    }


@pytest.mark.parametrize("args", [[], ["--all"], ["--output", "unified"]])
def test_diffsettings_shows_no_secret(args, tmp_path):
    result = run_manage("diffsettings", *args, **secret_environment(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "STORAGES" in result.stdout and "Q_CLUSTER" in result.stdout
    for canary in CANARIES:
        assert canary not in result.stdout
    # A secret that differs from Django's default is still listed as changed.
    assert "SECRET_KEY = '********************'" in result.stdout.replace("+ ", "")


# Serves one request that raises, the way runserver does: the WSGI environ is
# a copy of the process environment plus the request's variables.
DEBUG_PAGE = """
import os, sys, types
import django
django.setup()
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.test.utils import override_settings
from django.urls import path
from wsgiref.util import setup_testing_defaults

def boom(request):
    raise RuntimeError("the view failed on purpose")

urls = types.ModuleType("boom_urls")
urls.urlpatterns = [path("boom/", boom)]
sys.modules["boom_urls"] = urls
environ = dict(os.environ)
setup_testing_defaults(environ)
environ["PATH_INFO"] = "/boom/"
statuses = []
with override_settings(ROOT_URLCONF="boom_urls"):
    body = b"".join(WSGIHandler()(environ, lambda s, h, *a: statuses.append(s)))
print(settings.DEBUG, statuses[0])
print(body.decode())
"""


def test_the_debug_page_shows_no_secret(tmp_path):
    result = run_django(DEBUG_PAGE, **secret_environment(tmp_path))
    assert result.returncode == 0, result.stderr
    first, page = result.stdout.split("\n", 1)
    assert first == "True 500 Internal Server Error"
    assert "the view failed on purpose" in page
    # The page lists settings and the request's META, environment included.
    assert "TALOWA_BACKUP_STORAGE" in page and "AWS_STORAGE_BUCKET_NAME" in page
    for canary in CANARIES:
        assert canary not in page


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_the_exception_filter_masks_every_secret_by_name(name):
    cleansed = SecretSettingsFilter().cleanse_setting(name, "plain-value")
    assert cleansed == SecretSettingsFilter.cleansed_substitute


def test_the_exception_filter_masks_url_passwords_anywhere():
    cleansed = SecretSettingsFilter().cleanse_setting(
        "Q_CLUSTER", {"name": "talowa", "redis": "redis://u:pw-canary@h:6379/3"}
    )
    assert cleansed == {
        "name": "talowa",
        "redis": "redis://u:********************@h:6379/3",
    }


def test_no_setting_holds_the_environment(tmp_path):
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "import talowa_admin.settings as module; "
        "print(sorted(n for n in vars(module) if n.upper() == 'ENV' or "
        "n.lstrip('_') in {'env', 'database_url', 'backup_keys'}))"
    )
    result = run_django(script, **secret_environment(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_production_settings_are_secure(tmp_path):
    key = "k1:" + "A" * 43 + "="
    result = run_django(
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS > 0, 'WhiteNoise' in str(s.MIDDLEWARE))",
        TALOWA_ENV="production",
        TALOWA_DATA_DIR=str(tmp_path),
        SECRET_KEY="s" * 50,
        TALOWA_BACKUP_KEYS=key,
        ALLOWED_HOSTS="admin.example.org",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "True", "True"]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``manage.py`` with a clean environment plus ``env``."""
    return run_django(
        "import runpy, sys; sys.argv = ['manage.py', *sys.argv[1:]]; "
        "runpy.run_path('manage.py', run_name='__main__')",
        *args,
        **env,
    )


def test_commands_run_with_the_collector_on_and_start_up_objects_frozen(tmp_path):
    script = "import gc; print(gc.isenabled(), gc.get_freeze_count() > 10000)"
    result = run_manage("shell", "-c", script, TALOWA_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["True", "True"]


def test_manage_py_still_applies_settings_given_on_the_command_line(tmp_path):
    result = run_manage(
        "diffsettings",
        "--settings",
        "talowa_admin.no_such_settings",
        TALOWA_DATA_DIR=str(tmp_path),
    )
    assert result.returncode != 0
    assert "No module named 'talowa_admin.no_such_settings'" in result.stderr


def test_a_partial_migrate_of_an_empty_database_works_and_the_full_one_completes_it(
    tmp_path,
):
    # Only messaging and what it needs: contenttypes stays at 0001, and the
    # recovery and talowa_admin tables do not exist yet. (On an empty database
    # Django applies the squashed migration; a target among the migrations it
    # replaces, such as messaging 0002, is no longer a node there.)
    partial = run_manage("migrate", "messaging", TALOWA_DATA_DIR=str(tmp_path))
    assert partial.returncode == 0, partial.stderr
    full = run_manage("migrate", TALOWA_DATA_DIR=str(tmp_path))
    assert full.returncode == 0, full.stderr
    script = (
        "from django.contrib.auth.models import Group; "
        "from recovery.models import RecoveryPlan; "
        "print(sorted(Group.objects.values_list('name', flat=True)), "
        "RecoveryPlan.objects.filter(is_default=True).count())"
    )
    state = run_manage("shell", "-c", script, TALOWA_DATA_DIR=str(tmp_path))
    assert state.stdout.splitlines()[-1] == (
        "['Backup operator', 'Backup viewer', 'Recovery admin'] 1"
    )
