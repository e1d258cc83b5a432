"""System maintenance (the brief's ``performSystemMaintenance``).

Four steps, each optional, each reporting its own result: expire backups by
the keep rules, clean up messages past retention, optimize the storage, and
validate the data's integrity. Optimizing the storage deletes objects no
backup needs (``backups.services.orphans``: only older than
``TALOWA_MAINTENANCE_ORPHAN_GRACE_HOURS``, and never while a backup runs),
unfinished writes (likewise only while no backup runs), expired export
files and a staging schema left by a killed restore (under the restore lock,
so never one in use), then lets the database tidy itself (``VACUUM
(ANALYZE)`` on PostgreSQL, ``PRAGMA optimize`` on SQLite).

Invariants: a dry run changes nothing and reports what each step would do;
one step's failure is recorded as that step's error and the others still run;
every run is recorded (``MaintenanceRun``, each step as it ends) and audited;
a run whose worker died is failed as "worker died" by the next page or status
that reads it (``recovery.services.activity``), with the steps it finished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from backups.models import ExportJob
from backups.services import cleanup_expired_backups as expire_by_keep_rules
from backups.services.exporting import cleanup_expired_exports
from backups.services.orphans import find_orphans, running_backups
from backups.storage import object_store
from recovery.models import MaintenanceRun
from recovery.services.integrity import validate_data_integrity as validate
from recovery.staging import SCHEMA
from retention.services import cleanup_expired_messages as apply_retention
from talowa_admin import liveness, locks
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)

STEPS = (
    "cleanup_expired_backups",
    "cleanup_expired_messages",
    "optimize_storage",
    "validate_data_integrity",
)


def perform_system_maintenance(
    *,
    cleanup_expired_backups: bool = True,
    cleanup_expired_messages: bool = True,
    optimize_storage: bool = True,
    validate_data_integrity: bool = True,
    dry_run: bool = False,
    actor: Any = None,
) -> dict[str, Any]:
    """Run the chosen steps; return ``{"run", "dry_run", "status", "steps"}``."""
    chosen = {
        "cleanup_expired_backups": cleanup_expired_backups,
        "cleanup_expired_messages": cleanup_expired_messages,
        "optimize_storage": optimize_storage,
        "validate_data_integrity": validate_data_integrity,
    }
    run = MaintenanceRun.objects.create(
        dry_run=dry_run,
        actor_label=_label(actor),
        worker=liveness.this_worker(),
        heartbeat_at=timezone.now(),
    )
    with liveness.Heartbeat(MaintenanceRun.objects.filter(pk=run.pk)):
        for name in STEPS:
            if chosen[name]:
                run.steps[name] = _step(
                    _STEP_FUNCTIONS[name], dry_run=dry_run, actor=actor
                )
                # Recorded as it ends: a run whose worker dies keeps what it did.
                run.save(update_fields=["steps"])
    failed = [name for name, step in run.steps.items() if step["status"] == "failed"]
    run.status = (
        MaintenanceRun.Status.FAILED if failed else MaintenanceRun.Status.COMPLETED
    )
    run.finished_at = timezone.now()
    run.save()
    result = {
        "run": run.pk,
        "dry_run": dry_run,
        "status": run.status,
        "steps": run.steps,
    }
    record_audit_event(
        actor=actor,
        action="maintenance.dry_run" if dry_run else "maintenance.run",
        target=run,
        details={"status": run.status, "steps": sorted(run.steps), "failed": failed},
    )
    return result


def _label(actor: Any) -> str:
    if hasattr(actor, "get_username"):
        return actor.get_username()
    return str(actor or "system")[:150]


def _step(function: Callable[..., dict], *, dry_run: bool, actor: Any) -> dict:
    started = time.perf_counter()
    try:
        outcome = function(dry_run=dry_run, actor=actor)
        status = "completed"
    except Exception as exc:  # one failing step does not stop the others
        logger.exception("maintenance step %s failed", function.__name__)
        outcome, status = {"error": str(exc)}, "failed"
    return {
        "status": status,
        "seconds": round(time.perf_counter() - started, 3),
        "result": outcome,
    }


def _expire_backups(*, dry_run: bool, actor: Any) -> dict:
    return expire_by_keep_rules(dry_run=dry_run, actor=actor)


def _expire_messages(*, dry_run: bool, actor: Any) -> dict:
    return apply_retention(dry_run=dry_run, actor=actor, trigger="maintenance")


def _validate(*, dry_run: bool, actor: Any) -> dict:
    report = validate()
    if report["status"] == "error":
        raise RuntimeError(
            "integrity validation found errors: "
            + "; ".join(
                c["message"] for c in report["checks"] if c["status"] == "error"
            )
        )
    return report


def _optimize_storage(*, dry_run: bool, actor: Any) -> dict:
    return {
        "backup_storage": _tidy_backup_storage(dry_run=dry_run),
        "expired_exports": _expired_exports(dry_run=dry_run),
        "staging_schema": _leftover_staging(dry_run=dry_run),
        "database": _optimize_database(dry_run=dry_run),
    }


def _tidy_backup_storage(*, dry_run: bool) -> dict:
    running = running_backups()
    if running:
        return {"skipped": f"backup {', '.join(running)} is running"}
    store = object_store()
    grace = timedelta(hours=settings.TALOWA_MAINTENANCE_ORPHAN_GRACE_HOURS)
    report = find_orphans(store, grace=grace)
    partials = 0
    if not dry_run:
        for name in report.deletable:
            store.delete(name)
        partials = store.remove_partials("")
    return {
        "orphans_deleted" if not dry_run else "orphans_to_delete": report.deletable,
        "orphans_kept_within_grace": len(report.too_young),
        "uncatalogued_archives": report.uncatalogued,
        "partials_removed": partials,
        **(
            {
                "advice": "archives the catalog does not know are kept: run "
                "`list_backups --from-storage --rebuild-catalog`"
            }
            if report.uncatalogued
            else {}
        ),
    }


def _expired_exports(*, dry_run: bool) -> dict:
    if dry_run:
        due = ExportJob.objects.filter(
            status=ExportJob.Status.COMPLETED, expires_at__lte=timezone.now()
        ).count()
        return {"would_expire": due}
    return cleanup_expired_exports()


def _leftover_staging(*, dry_run: bool) -> dict:
    if connection.vendor != "postgresql":
        return {"present": False}
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [SCHEMA])
        present = cursor.fetchone() is not None
    if not present or dry_run:
        return {"present": present, "dropped": False}
    try:
        with (
            locks.hold(locks.RESTORE_LOCK, purpose="maintenance: drop staging"),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    except locks.LockHeld as exc:
        return {"present": True, "dropped": False, "skipped": str(exc)}
    return {"present": True, "dropped": True}


def _optimize_database(*, dry_run: bool) -> dict:
    statement = (
        "VACUUM (ANALYZE)" if connection.vendor == "postgresql" else "PRAGMA optimize"
    )
    if dry_run:
        return {"would_run": statement}
    with connection.cursor() as cursor:
        cursor.execute(statement)
    return {"ran": statement}


_STEP_FUNCTIONS: dict[str, Callable[..., dict]] = {
    "cleanup_expired_backups": _expire_backups,
    "cleanup_expired_messages": _expire_messages,
    "optimize_storage": _optimize_storage,
    "validate_data_integrity": _validate,
}
