"""Move a backup's data into another database or an export, transformed by rules.

Invariants:
- The rules file is validated before anything runs.
- This deployment's data is never written: the chain is restored into a
  scratch SQLite copy (the restore machinery resolves incrementals and
  tombstones there, on disk, not in memory), selections run on that copy,
  and rows stream from it through the field rules into the target.
- The target database must be empty (migrated first, in a child process,
  with Django's migrations); it is written in one transaction.
- Each table is counted and fingerprinted before (the backup's content) and
  after (what the target holds, read back). The rows read back must equal
  the rows written, and without rules every table's fingerprint must equal
  its fingerprint before: otherwise the run fails.

Steps: 1. validate the rules and the target; 2. restore the chain into the
scratch copy; 3. fingerprint it; 4. apply the row selections; 5. migrate the
target and stream every table into it; 6. read the target back and compare;
7. for an export, run ``export_data`` against the written copy.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connections, transaction

from backups.exceptions import BackupError
from backups.exports import FORMATS
from backups.models import Backup
from backups.registry import ACCOUNTS, TableSpec, tables_for
from backups.selectors import chain_of
from backups.services.discovery import find_backup
from recovery.exceptions import RecoveryError
from recovery.migration.anonymising import Anonymiser
from recovery.migration.databases import (
    Fingerprint,
    attached,
    fingerprint,
    materialise_chain,
    migrate_database,
    read_rows,
    run_manage,
)
from recovery.migration.rules import Rules, load_rules
from recovery.migration.selecting import select_rows
from recovery.migration.streaming import TargetWriter, row_transform, transformed
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)

SCRATCH = "migration_scratch"
TARGET = "migration_target"


class MigrationRefused(RecoveryError):
    """A data migration was refused before anything was written."""


def migrate_data(
    *,
    backup_id: str,
    to_database: str | None = None,
    to_export: str | None = None,
    output: Path | None = None,
    rules_path: Path | None = None,
    dry_run: bool = False,
    actor: Any = None,
) -> dict[str, Any]:
    """Move the chain ending at ``backup_id`` into a database or an export."""
    started = time.monotonic()
    rules = load_rules(rules_path)
    _check_target(to_database, to_export, output, rules)
    backup, chain = _chain(backup_id)
    all_specs = [ACCOUNTS, *tables_for(list(backup.data_types))]
    specs = [ACCOUNTS, *tables_for(rules.data_types(list(backup.data_types)))]
    with tempfile.TemporaryDirectory(dir=_work_dir()) as work:
        scratch_url = f"sqlite:///{Path(work) / 'scratch.sqlite3'}"
        materialise_chain(scratch_url, backup_id)
        with attached(scratch_url, SCRATCH) as scratch:
            before = {s.label: fingerprint(s, SCRATCH) for s in all_specs}
            anonymiser = Anonymiser(_names(scratch) if rules.anonymises else ())
            with transaction.atomic(using=SCRATCH):
                removed = select_rows(rules, scratch)
            target_url = to_database or f"sqlite:///{Path(work) / 'export.sqlite3'}"
            if dry_run:
                after = _stream(specs, rules, anonymiser, writer=None)
                export = None
            else:
                after, user = _write_target(
                    target_url, all_specs, specs, rules, anonymiser
                )
                export = (
                    _export(target_url, user, to_export, output) if to_export else None
                )
    result = _describe(backup, chain, rules, before, after, removed, dry_run=dry_run)
    result["target"] = (
        {"database": _safe_url(to_database)}
        if to_database
        else {"export": to_export, "output": str(output), "result": export}
    )
    result["seconds"] = round(time.monotonic() - started, 3)
    record_audit_event(
        actor=actor,
        action="data.migrate_dry_run" if dry_run else "data.migrate",
        target=backup,
        details={k: result[k] for k in ("status", "chain", "rules", "target")},
    )
    if rules.empty and not result["equal"]:
        raise RecoveryError(
            "the fingerprints before and after differ for "
            f"{', '.join(t for t, v in result['tables'].items() if not v['equal'])}"
        )
    return result


def _write_target(
    url: str,
    all_specs: list[TableSpec],
    specs: list[TableSpec],
    rules: Rules,
    anonymiser: Anonymiser,
) -> tuple[dict[str, Any], str | None]:
    """Migrate the target, stream into it, read it back; name an export's user."""
    migrate_database(url)
    with attached(url, TARGET) as target:
        _refuse_unless_empty(target, all_specs)
        with TargetWriter(target, specs) as writer:
            written = _stream(specs, rules, anonymiser, writer=writer)
        after = {s.label: fingerprint(s, TARGET) for s in specs}
        user = None
        if rules.users is not None and len(rules.users) == 1:
            user = _export_user(rules, connections[SCRATCH], target)
    if after != written:
        raise RecoveryError(
            "the target database does not hold the rows written; discard it"
        )
    return after, user


def _check_target(to_database, to_export, output, rules: Rules) -> None:
    if bool(to_database) == bool(to_export):
        raise MigrationRefused("give either a target database or an export format")
    if to_database:
        scheme = urlsplit(to_database).scheme.lower()
        if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
            raise MigrationRefused(
                f"the target database URL must be sqlite:// or postgres://, "
                f"not {scheme or 'a bare path'}"
            )
        return
    if to_export not in FORMATS:
        raise MigrationRefused(
            f"unknown export format {to_export!r}; choose one of {', '.join(FORMATS)}"
        )
    if output is None:
        raise MigrationRefused("an export needs --output PATH")
    if rules.users is None or len(rules.users) != 1:
        raise MigrationRefused(
            'an export holds one person\'s data: add a rule {"kind": "filter", '
            '"users": [NAME]} naming exactly one user'
        )


def _chain(backup_id: str) -> tuple[Backup, list[Backup]]:
    try:
        backup = find_backup(backup_id)
        chain = chain_of(backup)
    except BackupError as exc:
        raise MigrationRefused(str(exc)) from exc
    if backup.scope != Backup.Scope.SYSTEM:
        raise MigrationRefused(
            f"backup {backup_id} is a user backup; migrate_data needs a system "
            "backup (it carries the accounts every row points at)"
        )
    for member in chain:
        if member.status != Backup.Status.COMPLETED:
            raise MigrationRefused(f"backup {member.id} is {member.status}")
    return backup, chain


def _work_dir() -> Path:
    folder = Path(settings.TALOWA_DATA_DIR) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _names(connection) -> list[str]:
    """Every account's username and names: what "names" means in a text."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT username, first_name, last_name FROM {ACCOUNTS.table}")
        return [name for row in cursor.fetchall() for name in row if name]


def _refuse_unless_empty(connection, specs: list[TableSpec]) -> None:
    with connection.cursor() as cursor:
        for spec in specs:
            cursor.execute(f"SELECT 1 FROM {spec.table} LIMIT 1")
            if cursor.fetchone():
                raise MigrationRefused(
                    f"the target database already holds {spec.label} rows; "
                    "migrate_data writes only into an empty database"
                )


def _stream(
    specs: list[TableSpec], rules: Rules, anonymiser: Anonymiser, *, writer
) -> dict[str, dict[str, Any]]:
    """Pass every table through the rules (into ``writer``); fingerprint it."""
    printed = {}
    for spec in specs:
        printed[spec.label] = Fingerprint()
        rows = transformed(
            read_rows(spec, SCRATCH),
            row_transform(spec, rules, anonymiser),
            printed[spec.label],
        )
        if writer is None:
            for _row in rows:
                pass
        else:
            writer.write(spec, rows)
        logger.info("migrated %s rows of %s", printed[spec.label].rows, spec.label)
    return {label: p.as_json() for label, p in printed.items()}


def _export_user(rules: Rules, scratch, target) -> str:
    """The export's user as the target names them (after any pseudonym)."""
    (name,) = rules.users
    with scratch.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {ACCOUNTS.table} WHERE username = %s", [name])
        (user_id,) = cursor.fetchone()
    with target.cursor() as cursor:
        cursor.execute(
            f"SELECT username FROM {ACCOUNTS.table} WHERE id = %s", [user_id]
        )
        return cursor.fetchone()[0]


def _export(url: str, user: str, export_format: str, output: Path) -> dict:
    out = run_manage(
        url,
        "export_data",
        "--user",
        user,
        "--format",
        export_format,
        "--output",
        str(output),
        "--json",
    )
    return json.loads(out)


def _describe(backup, chain, rules, before, after, removed, *, dry_run) -> dict:
    tables = {}
    for label, was in before.items():
        now = after.get(label, {"rows": 0, "sha256": None})
        tables[label] = {
            "before": was,
            "after": now,
            "removed": removed.get(label, 0),
            "dropped": label not in after,
            "equal": was == now,
        }
    return {
        "status": "dry_run" if dry_run else "completed",
        "backup_id": backup.id,
        "chain": [b.id for b in chain],
        "rules": rules.count,
        "tables": tables,
        "equal": all(t["equal"] for t in tables.values()),
    }


def _safe_url(url: str) -> str:
    """The URL without its password (for output and the audit trail)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
