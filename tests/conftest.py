"""Fixtures and hooks shared by the whole suite.

- The session writes nothing into the repository's ``var/``: ``TALOWA_DATA_DIR``
  points at a temporary directory for the whole run (see ``pytest_configure``),
  and passwords are hashed with a fast hasher; the admin registrations are
  loaded, as in the web process.
- ``data_dir`` gives one test its own data directory and file storages.
- ``make_user`` and ``role_user`` build end users and staff users in a role.
- Tests marked ``postgres`` skip unless the database is PostgreSQL; tests
  marked ``browser`` skip unless Debian's Chromium is installed.
- On PostgreSQL a transactional test's tables are emptied with DELETE
  instead of TRUNCATE (``flush_postgresql_by_delete``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.db.models import FileField
from django.test.utils import override_settings

from tests.browser import CHROMIUM

DATA_DIR_ENV = "TALOWA_DATA_DIR"
DEFAULT_PASSWORD = "correct-horse-battery-staple"
# Storages that keep files in the data directory, and their subdirectories
# there (as in settings.py); staticfiles does not.
DATA_STORAGES = {
    "default": "files",
    "media": "media",
    "exports": "exports",
    "backups": "backups",
    "backups-file": "backups",
}
FILE_SYSTEM_STORAGE = "django.core.files.storage.FileSystemStorage"

_session_data_dir: Path | None = None
_session_overrides: override_settings | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Point ``TALOWA_DATA_DIR`` at a temporary directory for the session.

    pytest-django imports the settings before any conftest (in its
    ``pytest_load_initial_conftests`` hook), so setting the environment here is
    enough for subprocesses but too late for this process: when the settings
    were built from the default ``var/``, they are overridden for the session.
    The session also hashes passwords with a fast hasher: logins stay real,
    the suite does not spend seconds in PBKDF2.
    """
    global _session_data_dir, _session_overrides
    if not os.environ.get(DATA_DIR_ENV):
        _session_data_dir = Path(tempfile.mkdtemp(prefix="talowa-test-"))
        os.environ[DATA_DIR_ENV] = str(_session_data_dir)
    if not django_settings.configured:
        return
    overrides: dict[str, Any] = {
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
    }
    data_dir = Path(os.environ[DATA_DIR_ENV])
    if Path(django_settings.TALOWA_DATA_DIR) != data_dir:
        overrides |= data_dir_settings(data_dir, keep_remote_backups=True)
    _session_overrides = override_settings(**overrides)
    _session_overrides.enable()
    rebind_file_field_storages(setattr)
    # The web process loads the URLconf, and with it the admin registrations,
    # at start (talowa_admin.wsgi); tests that read the admin's registry see
    # them as it does, before their first request.
    import_module(django_settings.ROOT_URLCONF)
    flush_postgresql_by_delete()


def flush_postgresql_by_delete() -> None:
    """Empty PostgreSQL's tables after a transactional test with DELETE, not TRUNCATE.

    pytest-django empties every table after each transactional test (Django's
    ``flush``). On PostgreSQL that is one ``TRUNCATE`` of some fifty tables,
    which gives each table, index and TOAST table a new file: about a second
    of the server's time per test, where deleting the few rows a test wrote
    takes milliseconds. The rows go as TRUNCATE would take them: no row
    trigger fires (``session_replication_role = replica``, for this
    transaction only), so no tombstone is written and no foreign key is
    checked while the tables empty one by one. Sequences are not reset, as
    Django's TRUNCATE does not reset them either. A role that may not set
    ``session_replication_role``, or a flush that resets sequences, TRUNCATEs.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush
    if getattr(truncate, "deletes", False):
        return

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or not tables or not _may_skip_triggers(self.connection):
            return truncate(
                self,
                style,
                tables,
                reset_sequences=reset_sequences,
                allow_cascade=allow_cascade,
            )
        deletes = [f"DELETE FROM {self.quote_name(table)};" for table in tables]
        return ["SET LOCAL session_replication_role = replica;", *deletes]

    sql_flush.deletes = True
    DatabaseOperations.sql_flush = sql_flush


def _may_skip_triggers(connection) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('is_superuser') = 'on' OR "
            "has_parameter_privilege('session_replication_role', 'SET')"
        )
        return bool(cursor.fetchone()[0])


def pytest_unconfigure(config: pytest.Config) -> None:
    if _session_overrides is not None:
        _session_overrides.disable()
    if _session_data_dir is not None:
        shutil.rmtree(_session_data_dir, ignore_errors=True)


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    from django.db import connection

    needs_postgres = pytest.mark.skip(
        reason="needs PostgreSQL: run with DATABASE_URL=postgres://... "
        "(the PostgreSQL leg of .ci/run does)"
    )
    needs_chromium = pytest.mark.skip(
        reason=f"needs Chromium at {CHROMIUM} (apt-get install -y chromium; "
        "the browser leg of .ci/run installs it)"
    )
    for item in items:
        if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
            item.add_marker(needs_postgres)
        if item.get_closest_marker("browser") and not CHROMIUM.exists():
            item.add_marker(needs_chromium)


def data_dir_settings(root: Path, *, keep_remote_backups: bool = False) -> dict:
    """Return settings that keep every local file of the project under ``root``.

    The storages in ``DATA_STORAGES`` become file-system storages in their
    subdirectories of ``root``; an S3 backups storage is kept when
    ``keep_remote_backups`` is true.
    """
    storages = {name: dict(config) for name, config in django_settings.STORAGES.items()}
    for name, subdirectory in DATA_STORAGES.items():
        current = storages.get(name, {})
        if keep_remote_backups and current.get("BACKEND") != FILE_SYSTEM_STORAGE:
            continue
        storages[name] = {
            "BACKEND": FILE_SYSTEM_STORAGE,
            "OPTIONS": {"location": root / subdirectory},
        }
    return {
        "TALOWA_DATA_DIR": root,
        "STORAGES": storages,
        "STATIC_ROOT": root / "static",
    }


def rebind_file_field_storages(set_attribute: Callable[[Any, str, Any], None]) -> None:
    """Re-resolve callable storages of file fields after ``STORAGES`` changed.

    A ``FileField(storage=callable)`` calls it once, when the model class is
    built, and keeps the instance; overriding ``STORAGES`` resets
    ``django.core.files.storage.storages`` but not those instances.
    """
    for model in django_apps.get_models():
        for field in model._meta.get_fields():
            factory = getattr(field, "_storage_callable", None)
            if isinstance(field, FileField) and factory is not None:
                set_attribute(field, "storage", factory())


@pytest.fixture(autouse=True)
def _empty_default_cache() -> None:
    """Start each test with an empty default cache.

    A process keeps its cache while its database moves on; a test's database
    goes back to where it was (SQLite even reuses its ids), so a figure
    cached by one test must not meet the next.
    """
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _no_tombstones_from_the_last_flush(request: pytest.FixtureRequest) -> None:
    """Start a transactional test on SQLite without tombstones it did not make.

    After a transactional test pytest-django empties every table with DELETE
    on SQLite (TRUNCATE on PostgreSQL fires no row triggers), and messaging's
    delete triggers then write tombstones into a table already emptied: the
    next test would find data it never wrote (``setup_demo`` refuses to seed).
    """
    marker = request.node.get_closest_marker("django_db")
    if not (marker and marker.kwargs.get("transaction")):
        return
    from django.db import connection

    from messaging.models import Tombstone

    request.getfixturevalue("django_db_setup")  # the test database, not the real one
    django_db_blocker = request.getfixturevalue("django_db_blocker")
    with django_db_blocker.unblock():
        if connection.vendor == "sqlite":
            Tombstone.objects.all().delete()


@pytest.fixture
def data_dir(tmp_path: Path, settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Give the test its own ``TALOWA_DATA_DIR``, with the file storages in it.

    ``default``, ``media``, ``exports`` and ``backups`` become file-system
    storages under the returned directory (``files/``, ``media/``,
    ``exports/``, ``backups/``), also for code that already resolved them.
    """
    root = tmp_path / "talowa-data"
    root.mkdir()
    for name, value in data_dir_settings(root).items():
        # Each assignment fires setting_changed, which empties Django's
        # storages cache, so storages["media"] is rebuilt from the new value.
        setattr(settings, name, value)
    monkeypatch.setenv(DATA_DIR_ENV, str(root))
    rebind_file_field_storages(monkeypatch.setattr)
    return root


@pytest.fixture
def make_user(db, django_user_model) -> Callable[..., Any]:
    """Build non-staff users: ``make_user()`` or ``make_user("asha", email=...)``.

    Each user has the password ``user.raw_password`` (``DEFAULT_PASSWORD``
    unless ``password=`` is given).
    """
    numbers = itertools.count(1)

    def make(
        username: str | None = None, *, password: str = DEFAULT_PASSWORD, **fields: Any
    ):
        user = django_user_model.objects.create_user(
            username=username or f"user{next(numbers)}", password=password, **fields
        )
        user.raw_password = password
        return user

    return make


@pytest.fixture
def role_user(db, django_user_model) -> Callable[..., Any]:
    """Build staff users in a role group: ``role_user(roles.BACKUP_VIEWER)``.

    The user is staff (not superuser), belongs to exactly that group and has
    the password ``user.raw_password``.
    """
    from django.contrib.auth.models import Group

    from talowa_admin import roles

    numbers = itertools.count(1)

    def make(
        role: str,
        username: str | None = None,
        *,
        password: str = DEFAULT_PASSWORD,
        **fields: Any,
    ):
        if role not in roles.ROLES:
            raise ValueError(f"unknown role {role!r}; use one of {roles.ROLES}")
        if not Group.objects.filter(name=role).exists():
            # A transactional test's flush removed the migration's groups.
            roles.sync_roles(django_apps)
        prefix = role.lower().replace(" ", "_")
        user = django_user_model.objects.create_user(
            username=username or f"{prefix}{next(numbers)}",
            password=password,
            is_staff=True,
            **fields,
        )
        user.groups.add(Group.objects.get(name=role))
        user.raw_password = password
        return user

    return make


@pytest.fixture
def sync_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run queued django-q2 tasks inline, in the request that queues them.

    The same task functions run as a worker would run them; the end-to-end
    tests of tests/test_schedules_in_a_real_cluster.py start a real
    ``qcluster`` instead.
    """
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
