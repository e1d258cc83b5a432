"""The export job's life cycle: claim, progress, complete, fail, stale.

Invariants:
- A job moves queued -> running -> completed | failed, and completed ->
  expired; each move is one conditional update, so two workers (a task
  delivered twice, a stale check racing a slow worker) never both win.
- A running job names its worker and renews its heartbeat with its progress
  every ``PROGRESS_EVERY_SECONDS``; a job whose worker died
  (``talowa_admin.liveness``: its process is gone, or its heartbeat stopped)
  is failed by ``mark_stale_exports``, which every listing calls. Once
  completed, ``expires_at`` is when its download expires.
- A job is completed only with its archive fully stored; failing deletes
  whatever it stored.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.utils import timezone

from backups.exports.errors import ExportError
from backups.exports.links import link_lifetime
from backups.exports.source import Progress
from backups.exports.writer import ExportOutcome
from backups.models import ExportJob
from backups.storage import object_store
from talowa_admin import liveness
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)

STORAGE = "exports"
CONTENT_TYPE = "application/zip"
PROGRESS_EVERY_SECONDS = 2.0
QUEUED_TOO_LONG = timedelta(days=1)
Status = ExportJob.Status
UNFINISHED = (Status.QUEUED, Status.RUNNING)


class JobProgress(Progress):
    """Record progress and renew the job's heartbeat, every few seconds at most."""

    def __init__(self, job: ExportJob, *, total: int) -> None:
        self.job_id = job.pk
        self.total = max(total, 1)
        self.done = 0
        self.saved_at = time.monotonic()

    def advance(self, done: int) -> None:
        self.done += done
        if time.monotonic() - self.saved_at < PROGRESS_EVERY_SECONDS:
            return
        self.saved_at = time.monotonic()
        ExportJob.objects.filter(pk=self.job_id, status=Status.RUNNING).update(
            progress=min(99, self.done * 100 // self.total),
            heartbeat_at=timezone.now(),
        )


def claim_job(job_id: int) -> ExportJob | None:
    """Start a queued job; None when it is not queued (any more)."""
    claimed = ExportJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING,
        progress=0,
        worker=liveness.this_worker(),
        heartbeat_at=timezone.now(),
    )
    if not claimed:
        return None
    return ExportJob.objects.select_related("user").get(pk=job_id)


def complete_job(job: ExportJob, *, name: str, outcome: ExportOutcome) -> None:
    """Record a fully stored archive; raise if the job stopped running."""
    now = timezone.now()
    job.files = [
        {
            "name": name,
            "size": outcome.size,
            "sha256": outcome.sha256,
            "content_type": CONTENT_TYPE,
            "members": outcome.files,
            "counts": outcome.counts,
            "missing_media": outcome.missing_media,
        }
    ]
    job.size_bytes, job.progress = outcome.size, 100
    job.status, job.finished_at = Status.COMPLETED, now
    job.expires_at = now + link_lifetime()
    fields = ("files", "size_bytes", "progress", "status", "finished_at", "expires_at")
    done = ExportJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
        **{name: getattr(job, name) for name in fields}
    )
    if not done:
        raise ExportError(
            f"export {job.pk} was marked failed while it ran (its worker looked "
            "dead); its archive was discarded: ask for a new export"
        )


def fail_job(job: ExportJob, reason: str, *, name: str | None = None) -> bool:
    """Mark an unfinished job failed, deleting ``name``; False if it had ended."""
    if name:
        delete_file(name)
    job.status, job.error = Status.FAILED, reason[:2000]
    job.finished_at, job.expires_at, job.files = timezone.now(), None, []
    changed = ExportJob.objects.filter(pk=job.pk, status__in=UNFINISHED).update(
        status=job.status,
        error=job.error,
        finished_at=job.finished_at,
        expires_at=None,
        files=[],
    )
    logger.warning("export %s failed: %s", job.pk, reason)
    return bool(changed)


def fail_unfinished_job(*, job_id: int, reason: str, actor: str) -> bool:
    """Fail a job that is still queued or running, with its partial file."""
    job = ExportJob.objects.filter(pk=job_id, status__in=UNFINISHED).first()
    if job is None or not fail_job(job, reason):
        return False
    # A partial file's name is not recorded; it is the user's only partial
    # when no other export of theirs is unfinished.
    others = ExportJob.objects.filter(user_id=job.user_id, status__in=UNFINISHED)
    if not others.exists():
        object_store(STORAGE).remove_partials(f"{job.user_id}/")
    record_audit_event(
        actor=actor, action="export.failed", target=job, details={"error": job.error}
    )
    return True


def mark_stale_exports(*, user_id: int | None = None) -> list[int]:
    """Fail jobs whose worker died or that no worker took; return their ids."""
    # One query for both kinds: every owner's page load runs this.
    unfinished = ExportJob.objects.filter(status__in=UNFINISHED)
    if user_id is not None:
        unfinished = unfinished.filter(user_id=user_id)
    unfinished = list(unfinished)
    running = [job for job in unfinished if job.status == Status.RUNNING]
    too_old = timezone.now() - QUEUED_TOO_LONG
    queued = [
        job
        for job in unfinished
        if job.status == Status.QUEUED and job.created_at < too_old
    ]
    reasons = {
        job.pk: f"{liveness.died_reason(job)}; ask for a new export"
        for job in liveness.dead(running)
    } | {
        job.pk: "no worker took it up within a day; ask for a new export"
        for job in queued
    }
    return [
        job_id
        for job_id, reason in reasons.items()
        if fail_unfinished_job(job_id=job_id, reason=reason, actor="system")
    ]


def expire_job(job: ExportJob) -> int:
    """Delete a completed job's files and mark it expired; return bytes freed."""
    freed = 0
    for stored in job.files:
        delete_file(stored["name"])
        freed += stored.get("size", 0)
    ExportJob.objects.filter(pk=job.pk, status=Status.COMPLETED).update(
        status=Status.EXPIRED
    )
    return freed


def delete_file(name: str) -> None:
    try:
        object_store(STORAGE).delete(name)
    except Exception:  # the failure being recorded matters more
        logger.exception("could not delete export file %s", name)
