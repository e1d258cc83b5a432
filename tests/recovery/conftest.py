from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from django.db import connections

from tests.backups.conftest import World, add_media, world  # noqa: F401

MESSAGING_TABLES = (
    "messaging_conversation",
    "messaging_participant",
    "messaging_message",
    "messaging_callrecord",
    "messaging_mediafile",
)


def table_state(
    tables=MESSAGING_TABLES, *, using: str = "default"
) -> dict[str, list[tuple]]:
    """Every row of the messaging tables, engine-neutral, ordered by id."""
    from backups.registry import TABLES

    state = {}
    with connections[using].cursor() as cursor:
        for spec in TABLES:
            if spec.table not in tables:
                continue
            cursor.execute(
                f"SELECT {', '.join(spec.columns)} FROM {spec.table} ORDER BY id"
            )
            state[spec.table] = [
                tuple(_neutral(v) for v in row) for row in cursor.fetchall()
            ]
    return state


def account_state(*, using: str = "default") -> list[tuple]:
    """Every account row (every column), engine-neutral, ordered by id."""
    from backups.registry import ACCOUNTS

    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(ACCOUNTS.columns)} FROM {ACCOUNTS.table} ORDER BY id"
        )
        return [tuple(_neutral(v) for v in row) for row in cursor.fetchall()]


def _neutral(value):
    import json
    from datetime import UTC, datetime

    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    return value


# --- Other databases, for disasters and engine changes --------------------------------

import atexit  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


@contextlib.contextmanager
def reached(url: str) -> Iterator[str]:
    """Reach the database at ``url`` from this process, for the block; yield its alias.

    The connection is configured from the URL as settings would configure it
    for a process started with ``DATABASE_URL=url``, and closed after the block.
    """
    from django.db.utils import load_backend

    from talowa_admin.env import parse_database_url

    alias = f"reached_{uuid.uuid4().hex[:8]}"
    config = parse_database_url(url, base_dir=ROOT)
    configured = connections.configure_settings(
        {"default": connections.settings["default"], alias: config}
    )[alias]
    connections[alias] = load_backend(configured["ENGINE"]).DatabaseWrapper(
        configured, alias
    )
    try:
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]


def postgres_available() -> bool:
    try:
        import psycopg

        psycopg.connect(**PG_ADMIN, connect_timeout=2).close()
    except Exception:
        return False
    return True


class MigratedTemplates:
    """One database per engine migrated once per session, copied for each test.

    ``manage.py migrate`` of an empty database starts Django and applies
    every migration: a few seconds of CPU each time. A copy of a database
    migrated once (SQLite's backup API; PostgreSQL's ``CREATE DATABASE ...
    TEMPLATE``) holds the same schema and rows. The PostgreSQL template is
    dropped when the session's process exits.
    """

    def __init__(self) -> None:
        self._sqlite: Path | None = None
        self._postgres: str | None = None
        self._directory: Path | None = None

    def copy_into(self, engine: str, name_or_path: str) -> None:
        if engine == "sqlite":
            import sqlite3

            source = sqlite3.connect(self._sqlite_template())
            target = sqlite3.connect(name_or_path)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
            return
        import psycopg

        template = self._postgres_template()
        with psycopg.connect(**PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name_or_path}" TEMPLATE "{template}"')

    def _migrate(self, url: str) -> None:
        env = dict(
            os.environ,
            DATABASE_URL=url,
            TALOWA_DATA_DIR=str(self._path("data")),
            TALOWA_LOG_LEVEL="warning",
        )
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"migrating a template: {result.stderr}"

    def _sqlite_template(self) -> Path:
        if self._sqlite is None:
            path = self._path("template.sqlite3")
            self._migrate(f"sqlite:///{path}")
            self._sqlite = path
        return self._sqlite

    def _postgres_template(self) -> str:
        if self._postgres is None:
            import psycopg

            name = f"talowa_template_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(**PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            self._postgres = name
            self._migrate(f"postgres://postgres@127.0.0.1:5432/{name}")
        return self._postgres

    def _path(self, name: str) -> Path:
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="talowa-templates-"))
            atexit.register(self._drop)
        return self._directory / name

    def _drop(self) -> None:
        if self._postgres is not None:
            import psycopg

            drop = f'DROP DATABASE IF EXISTS "{self._postgres}" WITH (FORCE)'
            with psycopg.connect(**PG_ADMIN, autocommit=True) as admin:
                admin.execute(drop)
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)


TEMPLATES = MigratedTemplates()


class Scratch:
    """Databases of either engine, made for one test and dropped after it."""

    def __init__(self, tmp_path: Path, data_dir: Path) -> None:
        self.tmp_path, self.data_dir = tmp_path, data_dir
        self.pg_names: list[str] = []

    def url(self, engine: str, *, migrated: bool = False) -> str:
        """A new database; with ``migrated``, as ``manage.py migrate`` leaves it."""
        if engine == "sqlite":
            path = self.tmp_path / f"{uuid.uuid4().hex[:8]}.sqlite3"
            if migrated:
                TEMPLATES.copy_into("sqlite", str(path))
            return f"sqlite:///{path}"
        import psycopg

        name = f"talowa_scratch_{uuid.uuid4().hex[:10]}"
        if migrated:
            TEMPLATES.copy_into("postgresql", name)
        else:
            with psycopg.connect(**PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
        self.pg_names.append(name)
        return f"postgres://postgres@127.0.0.1:5432/{name}"

    def env(self, url: str) -> dict[str, str]:
        return dict(
            os.environ,
            DATABASE_URL=url,
            TALOWA_DATA_DIR=str(self.data_dir),
            TALOWA_LOG_LEVEL="warning",
        )

    def manage(self, url: str, *args: str, check: bool = True):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(url),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result

    @contextlib.contextmanager
    def cluster(
        self, url: str, *, env: dict[str, str] | None = None, log: Path | None = None
    ) -> Iterator[subprocess.Popen]:
        """Run a real ``qcluster`` on ``url`` for the block, and stop it after.

        ``env`` replaces the scratch environment (another data directory, a
        broker); with ``log``, the cluster's output goes to that file, else
        its stderr is a pipe (read it when the cluster stopped).
        """
        with contextlib.ExitStack() as files:
            sink = files.enter_context(log.open("w")) if log else None
            process = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=env or self.env(url),
                stdout=sink or subprocess.DEVNULL,
                stderr=subprocess.STDOUT if sink else subprocess.PIPE,
                text=True,
            )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def state(self, url: str) -> dict:
        """``table_state()`` of the database at ``url``."""
        return {
            table: [tuple(row) for row in rows]
            for table, rows in self._read(url, table_state).items()
        }

    def accounts(self, url: str) -> list[tuple]:
        """``account_state()`` of the database at ``url``."""
        return [tuple(row) for row in self._read(url, account_state)]

    def _read(self, url: str, read):
        with reached(url) as alias:
            # Through JSON, as the rows a child process would print.
            return json.loads(json.dumps(read(using=alias)))

    def drop(self) -> None:
        if not self.pg_names:
            return
        import psycopg

        with psycopg.connect(**PG_ADMIN, autocommit=True) as admin:
            for name in self.pg_names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def scratch(tmp_path, data_dir):
    made = Scratch(tmp_path, data_dir)
    yield made
    made.drop()
