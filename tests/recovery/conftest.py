from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from django.db import connection

from tests.backups.conftest import World, add_media, world  # noqa: F401

MESSAGING_TABLES = (
    "messaging_conversation",
    "messaging_participant",
    "messaging_message",
    "messaging_callrecord",
    "messaging_mediafile",
)


def table_state(tables=MESSAGING_TABLES) -> dict[str, list[tuple]]:
    """Every row of the messaging tables, engine-neutral, ordered by id."""
    from backups.registry import TABLES

    state = {}
    with connection.cursor() as cursor:
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


def account_state() -> list[tuple]:
    """Every account row (every column), engine-neutral, ordered by id."""
    from backups.registry import ACCOUNTS

    with connection.cursor() as cursor:
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

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}

DUMP_STATE = """
import json, django
django.setup()
from tests.recovery.conftest import table_state
print(json.dumps(table_state()))
"""
DUMP_ACCOUNTS = """
import json, django
django.setup()
from tests.recovery.conftest import account_state
print(json.dumps(account_state()))
"""


def postgres_available() -> bool:
    try:
        import psycopg

        psycopg.connect(**PG_ADMIN, connect_timeout=2).close()
    except Exception:
        return False
    return True


class Scratch:
    """Databases of either engine, made for one test and dropped after it."""

    def __init__(self, tmp_path: Path, data_dir: Path) -> None:
        self.tmp_path, self.data_dir = tmp_path, data_dir
        self.pg_names: list[str] = []

    def url(self, engine: str) -> str:
        if engine == "sqlite":
            return f"sqlite:///{self.tmp_path / f'{uuid.uuid4().hex[:8]}.sqlite3'}"
        import psycopg

        name = f"talowa_scratch_{uuid.uuid4().hex[:10]}"
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
        return {
            table: [tuple(row) for row in rows]
            for table, rows in self._dump(url, DUMP_STATE).items()
        }

    def accounts(self, url: str) -> list[tuple]:
        return [tuple(row) for row in self._dump(url, DUMP_ACCOUNTS)]

    def _dump(self, url: str, script: str):
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=self.env(url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

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
