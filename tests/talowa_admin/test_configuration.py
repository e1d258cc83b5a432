"""Configuration from the environment: defaults, parsing, checks, production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from talowa_admin.env import Environment, parse_database_url

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
    ("env", "missing"),
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "s" * 50}, "TALOWA_BACKUP_KEYS"),
    ],
)
def test_production_refuses_to_start_without_secrets(env, missing, tmp_path):
    result = run_django(
        "import django; django.setup()",
        TALOWA_ENV="production",
        TALOWA_DATA_DIR=str(tmp_path),
        **env,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{missing} is not set" in result.stderr


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
    partial = run_manage("migrate", "messaging", "0002", TALOWA_DATA_DIR=str(tmp_path))
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
