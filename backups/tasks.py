"""django-q2 task functions of the backups app: thin, given ids, raising on failure.

A task that caught its own error would show as a success in the queue admin;
these let errors through, after the service has recorded them on the job.
"""

from __future__ import annotations

import logging
from typing import Any

from backups.exceptions import BackupError
from backups.models import Backup
from backups.selectors import chain_of, latest_completed
from backups.services import (
    create_full_backup,
    create_incremental_backup,
    expiry,
    exporting,
    scheduling,
    verify_backup,
)
from talowa_admin.models import SystemSettings
from talowa_admin.queue import user_by_id

logger = logging.getLogger(__name__)


def run_export(job_id: int) -> str:
    """Write export ``job_id`` (queued by ``request_export``)."""
    result = exporting.run_export_job(job_id=job_id)
    if result is None:
        return f"export {job_id} was not queued; nothing done"
    return f"export {job_id} completed: {result.size_bytes} bytes"


def export_task_finished(task: Any) -> None:
    """django-q2 hook: fail the job if its task failed before the service could.

    The service marks its own failures; this covers a task that never reached
    it (an import error, say). A worker killed outright calls no hook: the
    next listing of the job, or ``cleanup_expired_exports``, finds its worker
    dead and fails it.
    """
    if task.success or not task.args:
        return
    reason = str(task.result or "the task failed").split(" : ", 1)[0]
    exporting.fail_unfinished_export(
        job_id=int(task.args[0]), reason=f"the export task failed: {reason}"[:500]
    )


def cleanup_expired_exports() -> dict[str, Any]:
    """Delete expired exports' files and fail exports whose worker died."""
    report = exporting.cleanup_expired_exports()
    logger.info("export cleanup: %s", report)
    return report


def run_backup(
    kind: str, user_id: int | None, actor_id: int | None, note: str = ""
) -> str:
    """Take a full or incremental backup (of one user when ``user_id``)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(pk=user_id) if user_id else None
    actor = user_by_id(actor_id) if actor_id else "worker"
    if kind == "incremental":
        return create_incremental_backup(
            user=user, note=note, actor=actor, full_if_missing=True
        )
    return create_full_backup(user=user, note=note, actor=actor)


def verify_backups(backup_ids: list[str], actor_id: int | None = None) -> str:
    """Verify backups; raise if any fails, so the queue shows the failure."""
    actor = user_by_id(actor_id)
    failed = []
    for backup in Backup.objects.filter(pk__in=backup_ids).order_by("created_at"):
        result = verify_backup(backup, actor=actor or "worker")
        if not result.ok:
            failed.append(f"{backup.id}: {result.error}")
    if failed:
        raise BackupError("verification failed: " + "; ".join(failed))
    return f"{len(backup_ids)} backup(s) verified"


def run_backup_schedule(
    schedule_id: int, slot: str | None = None, run_id: int | None = None
) -> str:
    """Run a backup schedule: for ``slot`` (django-q2 passes it) or as ``run_id``.

    Raises when the run failed, so django-q2 and the admin show it failed.
    """
    run = scheduling.run_backup_schedule(
        schedule_id=schedule_id, slot=slot, run_id=run_id
    )
    if run is None:
        return f"schedule {schedule_id}: nothing to run"
    return f"schedule {run.schedule.name}: {run.message}"


def expire_backups_by_keep_rules() -> dict[str, Any]:
    """Expire backups by the default keep rules, when automatic cleanup is on."""
    if not SystemSettings.load().enable_automatic_cleanup:
        return {"skipped": "automatic cleanup is off in the system settings"}
    report = expiry.cleanup_expired_backups(actor="schedule:expire backups")
    logger.info("scheduled expiry: %s backup(s) expired", len(report["expired"]))
    return {"expired": report["expired"]}


def verify_newest_chain() -> str:
    """Verify every archive of the newest system chain; raise if one fails."""
    newest = latest_completed(owner_id=None)
    if newest is None:
        return "no completed system backup to verify"
    failed = []
    chain = chain_of(newest)
    for backup in chain:
        result = verify_backup(backup, actor="schedule:verify newest chain")
        if not result.ok:
            failed.append(f"{backup.id}: {result.error}")
    if failed:
        raise BackupError("verification failed: " + "; ".join(failed))
    return f"chain of {newest.id}: {len(chain)} backup(s) verified"
