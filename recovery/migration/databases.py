"""The databases of a data migration: the scratch copy, the target, fingerprints.

- A child process (one choke point, ``run_manage``) migrates a database with
  Django's migrations and restores a chain into the scratch copy, with
  ``DATABASE_URL`` pointing at it: the restore machinery writes through the
  default connection, and a process of its own keeps it away from this
  deployment's database. Secrets travel in the environment, never on a
  command line.
- ``attached`` makes another database reachable here under an alias for as
  long as the migration needs it.
- A fingerprint is one SHA-256 per table over its rows in id order, each row
  in a canonical form (UTC times with microseconds, JSON with sorted keys), so
  the same data gives the same fingerprint on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.utils import load_backend

from backups.registry import TableSpec
from recovery.exceptions import RecoveryError
from talowa_admin.cli import one_line
from talowa_admin.env import parse_database_url

CHUNK_SIZE = 2000
CHILD_TIMEOUT = 6 * 3600

MATERIALISE = """
import json, os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "talowa_admin.settings")
django.setup()
from django.core.management import call_command
from recovery.services.restoring import restore_from_backup
call_command("migrate", verbosity=0, interactive=False)
result = restore_from_backup(
    sys.argv[1], create_pre_restore_backup=False, keep_past_retention=True
)
sys.stdout.write(json.dumps({"chain": result["chain"], "tables": result["tables"]}))
"""


def run_manage(url: str, *args: str, script: str | None = None) -> str:
    """Run ``manage.py args`` (or a Python ``script``) against the database at url."""
    command = (
        [sys.executable, "-c", script, *args]
        if script
        else [sys.executable, str(settings.BASE_DIR / "manage.py"), *args]
    )
    env = dict(
        os.environ,
        DATABASE_URL=url,
        TALOWA_DATA_DIR=str(settings.TALOWA_DATA_DIR),  # keys, storages, media
        TALOWA_LOG_LEVEL="error",
    )
    done = subprocess.run(
        command,
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = one_line(lines[-1]) if lines else f"exit status {done.returncode}"
        raise RecoveryError(f"{args[0] if not script else 'restore'} failed: {reason}")
    return done.stdout


def migrate_database(url: str) -> None:
    """Bring the database at ``url`` to this code's schema."""
    run_manage(url, "migrate", "--noinput", "-v0")


def materialise_chain(url: str, backup_id: str) -> dict[str, Any]:
    """Restore the chain ending at ``backup_id`` into the empty database at url."""
    return json.loads(run_manage(url, backup_id, script=MATERIALISE))


@contextmanager
def attached(url: str, alias: str) -> Iterator[Any]:
    """Make the database at ``url`` reachable as ``connections[alias]``."""
    try:
        config = parse_database_url(url, base_dir=settings.BASE_DIR)
    except ValueError as exc:
        raise RecoveryError(f"the database URL is not usable: {exc}") from exc
    config["CONN_MAX_AGE"] = 0
    configured = connections.configure_settings(
        {"default": connections.settings["default"], alias: config}
    )[alias]
    # A connection of its own, not added to DATABASES: it lives as long as
    # the migration, and ``.using(alias)`` and ``atomic(using=alias)`` find it.
    connection = load_backend(configured["ENGINE"]).DatabaseWrapper(configured, alias)
    connections[alias] = connection
    try:
        yield connection
    finally:
        connection.close()
        del connections[alias]


def canonical(value: Any) -> Any:
    """A row value in the engine-neutral form fingerprints hash."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return value


class Fingerprint:
    """Count rows and hash them in the order they are given (id order)."""

    def __init__(self) -> None:
        self.rows = 0
        self._hash = hashlib.sha256()

    def add(self, row: tuple) -> None:
        self.rows += 1
        line = json.dumps([canonical(v) for v in row], ensure_ascii=False)
        self._hash.update(line.encode() + b"\n")

    def as_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "sha256": self._hash.hexdigest()}


def attnames(spec: TableSpec) -> list[str]:
    return [f.attname for f in spec.model._meta.concrete_fields]


def read_rows(spec: TableSpec, alias: str) -> Iterator[tuple]:
    """Stream a table's rows in id order, as Python values."""
    rows = spec.model._default_manager.using(alias).order_by("pk")
    return rows.values_list(*attnames(spec)).iterator(chunk_size=CHUNK_SIZE)


def fingerprint(spec: TableSpec, alias: str) -> dict[str, Any]:
    printed = Fingerprint()
    for row in read_rows(spec, alias):
        printed.add(row)
    return printed.as_json()
