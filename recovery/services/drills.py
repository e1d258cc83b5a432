"""Restore drills: prove that the newest backup chain restores, and how fast.

A drill restores the newest completed system chain with the restore's own
machinery (``recovery.services.restoring.validate_chain`` and the
``Applier``) into a scratch copy, never into the live tables, then compares
every table of the copy with what the archives call for
(``recovery.services.contents``), records the result and the measured time
to restore (RTO) in a ``RestoreDrill``, and drops the copy.

Invariants:
- The live data and media are never written: on PostgreSQL the chain is
  loaded into the restore's staging schema (``recovery.staging``) and never
  swapped in; on SQLite into a scratch file in ``TALOWA_DATA_DIR/drills``.
  Media blobs are read and checked against their SHA-256, not written.
- The scratch copy is dropped whether the drill passes, fails or raises.
- A drill holds the restore lock (the staging schema is the restore's): a
  restore waits for the drill, and a drill is refused during a restore.
- Every drill is recorded, passed or failed, with the reason, and audited.
  A drill whose worker died is failed as "worker died" by the next page or
  status that reads it (``recovery.services.activity``).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from backups.exceptions import BackupError
from backups.keyring import load_keyring
from backups.models import Backup
from backups.registry import ACCOUNTS, TableSpec, tables_for
from recovery.exceptions import RecoveryError, RestoreRefused
from recovery.loaders import RestoreConflict
from recovery.models import RestoreDrill
from recovery.services.applying import Applier, ApplyPlan
from recovery.services.contents import expected_contents, table_contents
from recovery.services.restoring import RestoreTarget, resolve_target, validate_chain
from recovery.staging import StagedTables
from talowa_admin import liveness, locks
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)

SCRATCH_DIRECTORY = "drills"


def newest_restorable_backup() -> Backup | None:
    """Return the newest completed system backup, the end of the chain to drill."""
    return (
        Backup.objects.filter(scope=Backup.Scope.SYSTEM, status=Backup.Status.COMPLETED)
        .order_by("-created_at")
        .first()
    )


def run_restore_drill(
    *, backup_id: str | None = None, actor: Any = None
) -> RestoreDrill:
    """Restore a chain (the newest by default) into a scratch copy and compare.

    Returns the recorded drill, passed or failed; ``error`` says why it failed.
    """
    drill = RestoreDrill.objects.create(
        engine=connection.vendor,
        requested_by=actor if getattr(actor, "pk", None) else None,
        worker=liveness.this_worker(),
        heartbeat_at=timezone.now(),
    )
    try:
        with liveness.Heartbeat(RestoreDrill.objects.filter(pk=drill.pk)):
            _drill(drill, backup_id=backup_id, actor=actor)
    except (RecoveryError, BackupError, RestoreConflict, locks.LockHeld) as exc:
        drill.status = RestoreDrill.Status.FAILED
        drill.error = str(exc)
    finally:
        drill.finished_at = timezone.now()
        if drill.status == RestoreDrill.Status.RUNNING:  # an unexpected exception
            drill.status = RestoreDrill.Status.FAILED
            drill.error = drill.error or "the drill stopped on an unexpected error"
        drill.save()
        record_audit_event(
            actor=actor,
            action="restore_drill.run",
            target=drill,
            details={
                k: v
                for k, v in drill.as_json().items()
                if k in ("backup_id", "chain", "status", "rto_seconds", "error")
            },
        )
    logger.info(
        "restore drill %s of %s: %s (RTO %s s)%s",
        drill.pk,
        drill.backup_id,
        drill.status,
        drill.rto_seconds,
        f": {drill.error}" if drill.error else "",
    )
    return drill


def _drill(drill: RestoreDrill, *, backup_id: str | None, actor: Any) -> None:
    if backup_id is None:
        newest = newest_restorable_backup()
        if newest is None:
            raise RestoreRefused("no completed system backup to drill; create one")
        backup_id = newest.id
    drill.backup_id = backup_id
    target = resolve_target(backup_id)
    if target.backup.scope != Backup.Scope.SYSTEM:
        raise RestoreRefused(f"backup {backup_id} is a user backup; drill a system one")
    drill.chain = [b.id for b in target.chain]
    drill.save(update_fields=["backup_id", "chain"])
    keyring = load_keyring()
    with locks.hold(locks.RESTORE_LOCK, purpose=f"restore drill of {backup_id}"):
        started = time.perf_counter()
        validate_chain(target.chain, actor=actor)
        verified = time.perf_counter()
        actual, media_mismatched = _restore_into_scratch(target, keyring)
        loaded = time.perf_counter()
    drill.verify_seconds = round(verified - started, 3)
    drill.load_seconds = round(loaded - verified, 3)
    drill.rto_seconds = round(loaded - started, 3)
    labels = {spec.label for spec in tables_for(target.data_types)}
    expected = expected_contents(target.chain, labels, keyring=keyring)
    drill.tables, problems = _compare(expected, actual)
    unexpected = sorted(set(media_mismatched) - expected.mismatched_blobs)
    if unexpected:
        problems.append(
            f"{len(unexpected)} media blobs do not match their SHA-256 "
            f"(first: {unexpected[0]})"
        )
    if problems:
        raise RecoveryError("the restored copy differs: " + "; ".join(problems))
    drill.status = RestoreDrill.Status.PASSED


def _compare(expected, actual: dict) -> tuple[dict, list[str]]:
    """Return the per-table report and a sentence per table that differs."""
    engines = expected.source_engines
    checksums_comparable = engines == {connection.vendor}
    report, problems = {}, []
    for label, want in sorted(expected.tables.items()):
        got = actual[label]
        rows_match = want.rows == got.rows
        checksum_match = want.checksum == got.checksum
        report[label] = {
            "expected": want.as_json(),
            "restored": got.as_json(),
            "match": rows_match and (checksum_match or not checksums_comparable),
        }
        if not rows_match:
            problems.append(f"{label}: {got.rows} rows restored, {want.rows} expected")
        elif checksums_comparable and not checksum_match:
            problems.append(f"{label}: the rows' content differs from the backup's")
    if not checksums_comparable:
        report["note"] = (
            f"archives written from {', '.join(sorted(engines))}; on "
            f"{connection.vendor} only row counts are compared"
        )
    return report, problems


def _restore_into_scratch(target: RestoreTarget, keyring: Any) -> tuple[dict, list]:
    """Apply the chain to a scratch copy; return its table digests and bad blobs."""
    plan = ApplyPlan(
        chain=target.chain,
        specs=tables_for(target.data_types),
        user_id=None,
        # A drill writes no media: blobs are read and checked, nothing more.
        dry_run=True,
    )
    applier = Applier(plan=plan, keyring=keyring)
    if connection.vendor == "postgresql":
        with StagedTables(plan.specs, tallies=applier.rows.tallies) as staging:
            applier.staging = staging
            applier.run()
            raw = staging.db.connection
            raw.execute("SET TIME ZONE 'UTC'")
            raw.execute("SET DateStyle = 'ISO, YMD'")
            actual = _digests(raw, plan.specs)
    else:
        with sqlite_scratch(plan.specs) as scratch:
            applier.rows.db = scratch
            scratch.set_autocommit(False)
            applier.run()
            scratch.commit()
            actual = _digests(scratch.connection, plan.specs)
    return actual, applier.media.mismatched


def _digests(raw: Any, specs: list[TableSpec]) -> dict:
    return {
        spec.label: table_contents(raw, vendor=connection.vendor, spec=spec)
        for spec in specs
    }


@contextlib.contextmanager
def sqlite_scratch(specs: list[TableSpec]) -> Iterator[Any]:
    """Yield a connection to a new SQLite file with the live tables' schema.

    Tables and indexes (no triggers) of the accounts and ``specs``; the file
    is removed on exit.
    """
    tables = [ACCOUNTS.table, *(spec.table for spec in specs)]
    marks = ", ".join(["%s"] * len(tables))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sql FROM sqlite_master WHERE tbl_name IN ({marks}) AND type "
            "IN ('table', 'index') AND sql IS NOT NULL ORDER BY type DESC, name",
            tables,
        )
        schema = [row[0] for row in cursor.fetchall()]
    directory = Path(settings.TALOWA_DATA_DIR) / SCRATCH_DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"drill-{uuid.uuid4().hex[:12]}.sqlite3"
    default = connections[DEFAULT_DB_ALIAS]
    scratch = type(default)(
        {**default.settings_dict, "NAME": str(path)}, alias="talowa_drill"
    )
    try:
        scratch.ensure_connection()
        raw = scratch.connection
        raw.execute("PRAGMA journal_mode = OFF")  # disposable: no journal needed
        raw.execute("PRAGMA synchronous = OFF")
        for statement in schema:
            raw.execute(statement)
        yield scratch
    finally:
        scratch.close()
        for leftover in directory.glob(f"{path.name}*"):
            leftover.unlink(missing_ok=True)
