"""The cleanup of expired data, the restore of an archive batch, and the purge.

Invariants:
- One cleanup or batch restore at a time (the ``retention`` operation
  lock); a dry run takes no lock and writes nothing but its run record.
- Expired rows move to the archive tables under one ``ArchiveBatch`` per run,
  one short transaction per page of rows (``scanning.BatchSizer`` keeps each
  near ``TARGET_BATCH_SECONDS``; ``archiving`` moves them); the batch's
  counts are updated in the same transaction, so they are exact even when a
  worker is killed mid-run. A rerun simply finds what is still expired.
- Archived rows are purged only once their batch's ``purge_after`` has
  passed (the grace window, ``TALOWA_RETENTION_GRACE_DAYS``); until then
  ``restore_archive_batch`` puts them back.
- Media bytes leave the storage at purge, and only when no live or archived
  media row still names the same file.
- Every run is recorded (``CleanupRun``) and audited.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from messaging.models import MediaFile, media_storage
from retention.exceptions import ArchiveBatchUnavailable, CleanupRunning
from retention.models import (
    ArchiveBatch,
    ArchivedMediaFile,
    ArchivedMediaLink,
    CleanupRun,
)
from retention.services import archiving, scanning
from retention.services.policies import PolicyTable, load_policy_table
from retention.types import CALL, MEDIA, MESSAGE, RETENTION_TYPES, TYPE_RULES
from talowa_admin import locks
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)

RETENTION_LOCK = "retention"
PURGE_BATCH_SIZE = 5000
RESTORE_BATCH_SIZE = 2000


def grace_window() -> timedelta:
    return timedelta(days=settings.TALOWA_RETENTION_GRACE_DAYS)


def _actor_label(actor: Any) -> str:
    if hasattr(actor, "get_username"):
        return actor.get_username()
    return str(actor or "system")


def cleanup_expired_messages(
    *, dry_run: bool = False, actor: Any = None, trigger: str = "command"
) -> dict[str, Any]:
    """Archive every expired row (or count them, for a dry run); return the run.

    The result is ``{"run", "dry_run", "deleted": {type: n}, "batch",
    "seconds", "purged"}``; ``purged`` lists the batches whose grace window
    ended and that this run purged.
    """
    if dry_run:
        return _run(dry_run=True, actor=actor, trigger=trigger)
    try:
        with locks.hold(RETENTION_LOCK, purpose="retention cleanup"):
            _close_interrupted_runs()
            result = _run(dry_run=False, actor=actor, trigger=trigger)
            result["purged"] = purge_expired_batches(actor=actor)
    except locks.LockHeld as exc:
        raise CleanupRunning(f"{exc}; try again when it has finished") from exc
    return result


def _close_interrupted_runs() -> None:
    """Mark runs still "running" as failed: holding the lock, none can be alive."""
    CleanupRun.objects.filter(status=CleanupRun.Status.RUNNING, dry_run=False).update(
        status=CleanupRun.Status.FAILED,
        finished_at=timezone.now(),
        error="interrupted: the worker stopped before the run finished",
    )


def _run(*, dry_run: bool, actor: Any, trigger: str) -> dict[str, Any]:
    started = time.monotonic()
    run = CleanupRun.objects.create(
        dry_run=dry_run, trigger=trigger, actor_label=_actor_label(actor)
    )
    table = load_policy_table()
    mover = BatchMover(reason=ArchiveBatch.Reason.CLEANUP, run=run, dry_run=dry_run)
    try:
        for rtype in RETENTION_TYPES:
            for ids in scanning.expired_batches(rtype, table, sizer=mover.sizer):
                mover.move(rtype, ids)
    except BaseException as exc:
        _finish(run, mover, started, status=CleanupRun.Status.FAILED, error=str(exc))
        raise
    _finish(run, mover, started, status=CleanupRun.Status.COMPLETED)
    result = {
        "run": run.pk,
        "dry_run": dry_run,
        "deleted": mover.counts,
        "batch": mover.batch.pk if mover.batch else None,
        "seconds": round(run.seconds, 3),
        "purged": [],
    }
    record_audit_event(
        actor=actor,
        action="retention.dry_run" if dry_run else "retention.cleanup",
        target=run,
        details={k: result[k] for k in ("deleted", "batch", "seconds")},
    )
    return result


def _finish(run, mover, started, *, status, error="") -> None:
    run.counts = mover.counts
    run.seconds = time.monotonic() - started
    run.finished_at = timezone.now()
    run.status = status
    run.error = error[:2000]
    run.save(update_fields=["counts", "seconds", "finished_at", "status", "error"])


class BatchMover:
    """Archive lists of ids of one type, one short transaction each."""

    def __init__(self, *, reason: str, run=None, dry_run=False, note="") -> None:
        self.reason, self.run, self.dry_run, self.note = reason, run, dry_run, note
        self.batch: ArchiveBatch | None = None
        self.counts = dict.fromkeys(RETENTION_TYPES, 0)
        self.sizer = scanning.BatchSizer()
        self.bypass: bool | None = None  # archiving.may_bypass_triggers, asked once

    def move(self, rtype: str, ids: list[int]) -> int:
        if self.dry_run:
            self.counts[rtype] += len(ids)
            return len(ids)
        began = time.monotonic()
        with transaction.atomic():
            batch = self._batch()
            if self.bypass is None and connection.vendor == "postgresql":
                self.bypass = archiving.may_bypass_triggers()
            moved = archiving.archive_rows(
                TYPE_RULES[rtype].table, ids, batch_id=batch.pk, bypass=self.bypass
            )
            self.counts[rtype] += moved
            ArchiveBatch.objects.filter(pk=batch.pk).update(counts=self.counts)
        self.sizer.observe(len(ids), time.monotonic() - began)
        if settings.TALOWA_RETENTION_BATCH_PAUSE_MS:
            time.sleep(settings.TALOWA_RETENTION_BATCH_PAUSE_MS / 1000)
        logger.info(
            "retention: archived %d %s in batch %d (%.3f s)",
            moved,
            rtype,
            batch.pk,
            time.monotonic() - began,
        )
        return moved

    def _batch(self) -> ArchiveBatch:
        if self.batch is None:
            self.batch = ArchiveBatch.objects.create(
                reason=self.reason,
                run=self.run,
                purge_after=timezone.now() + grace_window(),
                note=self.note[:200],
            )
        return self.batch


def count_expired(table: PolicyTable | None = None, *, scope=None) -> dict[str, int]:
    """Return how many rows of each type are expired now (what a run would move)."""
    table = table or load_policy_table()
    scope = scope or scanning.Scope()
    return {
        rtype: sum(
            len(ids) for ids in scanning.expired_batches(rtype, table, scope=scope)
        )
        for rtype in RETENTION_TYPES
    }


# --- Restore and purge of archive batches -----------------------------------------


def restore_archive_batch(*, batch_id: int, actor: Any = None) -> dict[str, Any]:
    """Put every row of an archive batch back where it was; return the counts.

    Takes the retention lock, so no cleanup archives or purges meanwhile. An
    interrupted restore is resumed by running it again.
    """
    try:
        with locks.hold(RETENTION_LOCK, purpose=f"restore of archive batch {batch_id}"):
            return _restore_batch(batch_id, actor=actor)
    except locks.LockHeld as exc:
        raise CleanupRunning(f"{exc}; try again when it has finished") from exc


def _restore_batch(batch_id: int, *, actor: Any) -> dict[str, Any]:
    with transaction.atomic():
        batch = ArchiveBatch.objects.select_for_update().filter(pk=batch_id).first()
        _check_restorable(batch, batch_id)
    restored: dict[str, int] = {}
    for table in (MESSAGE, CALL, MEDIA):
        restored[table] = 0
        after = 0  # rows whose ids are live again stay archived: page past them
        while ids := archiving.archived_ids(
            table, batch_id=batch_id, after=after, limit=RESTORE_BATCH_SIZE
        ):
            with transaction.atomic():
                restored[table] += archiving.restore_rows(table, ids)
            after = ids[-1]
    with transaction.atomic():
        relinked = archiving.relink_media(batch_id=batch_id)
        ArchiveBatch.objects.filter(pk=batch_id).update(restored_at=timezone.now())
    result = {"batch": batch_id, "restored": restored, "relinked_media": relinked}
    record_audit_event(
        actor=actor, action="retention.restore_batch", target=batch, details=result
    )
    return result


def _check_restorable(batch: ArchiveBatch | None, batch_id: int) -> None:
    if batch is None:
        raise ArchiveBatchUnavailable(f"archive batch {batch_id} does not exist")
    if batch.restored_at:
        raise ArchiveBatchUnavailable(
            f"archive batch {batch_id} was already restored on "
            f"{batch.restored_at:%Y-%m-%d %H:%M} UTC"
        )
    if batch.purged_at:
        raise ArchiveBatchUnavailable(
            f"archive batch {batch_id} was purged on {batch.purged_at:%Y-%m-%d} "
            "after its grace window; its rows live on only in older backups"
        )


def purge_expired_batches(*, actor: Any = None, now=None) -> list[int]:
    """Purge every batch whose grace window has ended; return their ids."""
    now = now or timezone.now()
    due = ArchiveBatch.objects.filter(
        purge_after__lte=now, purged_at__isnull=True, restored_at__isnull=True
    ).values_list("pk", flat=True)
    purged = []
    for batch_id in list(due):
        purge_batch(batch_id=batch_id, actor=actor)
        purged.append(batch_id)
    return purged


def purge_batch(*, batch_id: int, actor: Any = None) -> dict[str, int]:
    """Delete a batch's archived rows for good, and media bytes nobody names."""
    files = set(
        ArchivedMediaFile.objects.filter(batch_id=batch_id).values_list(
            "file", flat=True
        )
    )
    counts = {}
    for table in (MESSAGE, CALL, MEDIA):
        counts[table] = 0
        while ids := archiving.archived_ids(
            table, batch_id=batch_id, after=0, limit=PURGE_BATCH_SIZE
        ):
            with transaction.atomic():
                counts[table] += archiving.purge_rows(table, ids)
    counts["media_bytes_deleted"] = _delete_unreferenced(files)
    with transaction.atomic():
        ArchiveBatch.objects.filter(pk=batch_id).update(purged_at=timezone.now())
        ArchivedMediaLink.objects.filter(batch_id=batch_id).delete()
    record_audit_event(
        actor=actor,
        action="retention.purge_batch",
        target=("retention.archivebatch", batch_id),
        details=counts,
    )
    return counts


def _delete_unreferenced(files: set[str]) -> int:
    """Delete the stored bytes of ``files`` that no media row names any more."""
    still_named = set(
        MediaFile.objects.filter(file__in=files).values_list("file", flat=True)
    ) | set(
        ArchivedMediaFile.objects.filter(file__in=files).values_list("file", flat=True)
    )
    storage = media_storage()
    deleted = 0
    for name in sorted(files - still_named):
        if name and storage.exists(name):
            storage.delete(name)
            deleted += 1
    return deleted
