"""Data exports: requested by users or staff, written by workers, downloaded.

Invariants:
- An archive appears under its final name in the ``exports`` storage only
  when complete (the object store writes to a partial name, then renames or
  completes the upload), and the job is marked completed only after that, by
  an update that requires it to be still running: nothing half-written is
  ever offered for download.
- Any failure, an interrupt or a task timeout included, marks the job failed
  with a reason and removes what it wrote. A job whose worker was killed
  outright is failed ("worker died") by ``mark_stale_exports`` the next time
  anything lists it (``backups.exports.jobs`` keeps the job's life cycle).
- At most one queued or running export per user (checked under a lock on the
  user's row) and at most ``TALOWA_EXPORT_DAILY_LIMIT`` asked for by a user
  in 24 hours (failed ones do not count).
- A completed export lasts ``TALOWA_EXPORT_LINK_DAYS`` days; then
  ``cleanup_expired_exports`` deletes its file and marks it expired.
- Every request, export, failure, download and expiry is audited.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from backups.exports import (
    DEFAULT_SCOPE,
    ExportError,
    ExportInProgress,
    ExportLimitReached,
    ExportNotFound,
    ExportOutcome,
    ExportUnavailable,
    check_choices,
    check_scope,
    jobs,
    write_export,
)
from backups.exports.jobs import STORAGE, UNFINISHED, Status
from backups.exports.links import read_download, sign_download
from backups.exports.source import estimated_total
from backups.models import ExportJob
from backups.services.creating import create_full_backup
from backups.storage import FileObjectStore, object_store
from talowa_admin import progress
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)

DEFAULT_DAILY_LIMIT = 5
TASK = "backups.tasks.run_export"
TASK_HOOK = "backups.tasks.export_task_finished"


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: where, how big, its checksum and its counts."""

    format: str
    data_types: list[str]
    include_metadata: bool
    counts: dict[str, int]
    files: list[dict[str, Any]]
    size_bytes: int
    scope: str = DEFAULT_SCOPE
    export_id: int | None = None
    backup_id: str | None = None
    expires_at: datetime | None = None
    missing_media: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"status": Status.COMPLETED.value, **asdict(self)}


@dataclass(frozen=True)
class ExportDownload:
    """An export archive opened for one download."""

    job: ExportJob
    handle: BinaryIO
    filename: str
    size: int
    content_type: str = jobs.CONTENT_TYPE


# --- The brief's API -------------------------------------------------------
def export_user_data(
    user: Any,
    *,
    data_types: Sequence[str] | None = None,
    format: str = "json",  # the brief's keyword
    include_metadata: bool = True,
    scope: str = DEFAULT_SCOPE,
    output: str | Path | None = None,
    backup_id: str | None = None,
    actor: Any = None,
) -> ExportResult:
    """Export ``user``'s data now and describe what was written.

    ``scope`` is ``"sent"`` (only the messages the user sent) or
    ``"conversations"`` (whole conversations they take part in). With
    ``output`` the archive goes to that local file (replacing nothing: it
    must not exist); without, it becomes a completed export job whose
    archive waits in the exports storage for its owner to download it.
    """
    chosen = check_choices(format, data_types)
    check_scope(scope)
    if output is not None:
        return _export_to_file(
            user,
            Path(output),
            format=format,
            data_types=chosen,
            include_metadata=include_metadata,
            scope=scope,
            actor=actor,
        )
    with transaction.atomic():
        _refuse_if_running(user)
        job = ExportJob.objects.create(
            user=user,
            format=format,
            data_types=chosen,
            include_metadata=include_metadata,
            scope=scope,
            backup_id=backup_id,
            requested_by=actor if _is_user(actor) else None,
        )
    result = run_export_job(job_id=job.pk, actor=actor)
    if result is None:  # only if something else started the job meanwhile
        raise ExportError(f"export {job.pk} was started by someone else")
    return result


def perform_data_export(
    *,
    user: Any,
    data_types: Sequence[str] | None = None,
    format: str = "json",  # the brief's keyword
    include_metadata: bool = True,
    scope: str = DEFAULT_SCOPE,
    create_backup: bool = False,
    actor: Any = None,
) -> dict[str, Any]:
    """The brief's ``performDataExport``: optionally back up first, then export."""
    chosen = check_choices(format, data_types)
    check_scope(scope)
    backup_id = None
    if create_backup:
        backup_id = create_full_backup(
            user=user,
            actor=actor,
            note="before a data export",
            metadata={"reason": "data export"},
            **{
                f"include_{name}": name in chosen
                for name in ("messages", "conversations", "call_history", "media_files")
            },
        )
    result = export_user_data(
        user,
        data_types=chosen,
        format=format,
        include_metadata=include_metadata,
        scope=scope,
        backup_id=backup_id,
        actor=actor,
    )
    return result.as_dict()


# --- Requests from users and staff -----------------------------------------
def request_export(
    *,
    user: Any,
    format: str,  # the brief's keyword
    data_types: Sequence[str] | None = None,
    include_metadata: bool = True,
    scope: str = DEFAULT_SCOPE,
    requested_by: Any = None,
    request: Any = None,
    daily_limit: bool = True,
) -> ExportJob:
    """Queue an export of ``user``'s data for a worker; return its job.

    Raises ``ExportRefused`` (bad choice), ``ExportInProgress`` or
    ``ExportLimitReached`` (``daily_limit`` counts exports users asked for
    themselves; staff requests pass ``daily_limit=False``).
    """
    chosen = check_choices(format, data_types)
    check_scope(scope)
    requested_by = requested_by if requested_by is not None else user
    jobs.mark_stale_exports(user_id=user.pk)
    with transaction.atomic():
        _refuse_if_running(user)
        if daily_limit:
            _refuse_over_daily_limit(user)
        job = ExportJob.objects.create(
            user=user,
            format=format,
            data_types=chosen,
            include_metadata=include_metadata,
            scope=scope,
            requested_by=requested_by,
        )
    record_audit_event(
        actor=requested_by,
        action="export.request",
        target=job,
        request=request,
        details={
            "user": user.get_username(),
            "format": format,
            "data_types": chosen,
            "scope": scope,
            "include_metadata": include_metadata,
        },
    )
    transaction.on_commit(lambda: queue_export(job_id=job.pk))
    return job


def request_exports(
    *,
    users: Sequence[Any],
    format: str,  # the brief's keyword
    data_types: Sequence[str] | None = None,
    include_metadata: bool = True,
    scope: str = DEFAULT_SCOPE,
    requested_by: Any,
    request: Any = None,
) -> tuple[list[ExportJob], dict[str, str]]:
    """Queue one export per user for staff; return the jobs and who was refused."""
    jobs, refused = [], {}
    for user in users:
        try:
            jobs.append(
                request_export(
                    user=user,
                    format=format,
                    data_types=data_types,
                    include_metadata=include_metadata,
                    scope=scope,
                    requested_by=requested_by,
                    request=request,
                    daily_limit=False,
                )
            )
        except ExportInProgress as exc:
            refused[user.get_username()] = str(exc)
    return jobs, refused


def queue_export(*, job_id: int) -> None:
    """Hand a queued job to the django-q2 cluster (failing it if that fails)."""
    from django_q.tasks import async_task

    try:
        async_task(
            TASK, job_id, hook=TASK_HOOK, task_name=f"export-{job_id}", group="exports"
        )
    except Exception as exc:
        reason = _reason(exc)
        jobs.fail_unfinished_job(
            job_id=job_id, reason=f"it could not be queued: {reason}", actor="system"
        )
        raise ExportError(
            f"the export could not be started ({reason}); try again in a few minutes"
        ) from exc


def _refuse_if_running(user: Any) -> None:
    """Raise ``ExportInProgress`` if ``user`` has an unfinished export (locks)."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    running = ExportJob.objects.filter(user=user, status__in=UNFINISHED).first()
    if running is not None:
        raise ExportInProgress(
            f"an export of {user.get_username()}'s data is already being prepared "
            f"(asked for at {running.created_at:%Y-%m-%d %H:%M} UTC); wait for it "
            "to finish before asking for another"
        )


def _refuse_over_daily_limit(user: Any) -> None:
    limit = getattr(settings, "TALOWA_EXPORT_DAILY_LIMIT", DEFAULT_DAILY_LIMIT)
    since = timezone.now() - timedelta(days=1)
    recent = list(
        ExportJob.objects.filter(user=user, requested_by=user, created_at__gte=since)
        .exclude(status=Status.FAILED)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:limit]
    )
    if len(recent) >= limit:
        again = recent[-1] + timedelta(days=1)
        raise ExportLimitReached(
            f"you have asked for {limit} exports in the last 24 hours, the most "
            f"allowed; you can ask for another after {again:%Y-%m-%d %H:%M} UTC"
        )


# --- The worker's side -----------------------------------------------------
def run_export_job(*, job_id: int, actor: Any = None) -> ExportResult | None:
    """Write a queued job's archive and mark it completed (or failed, raising).

    Returns None, doing nothing, when the job is not queued any more (a task
    delivered twice, or a job already failed as stale).
    """
    job = jobs.claim_job(job_id)
    if job is None:
        logger.warning("export %s is not queued; nothing to do", job_id)
        return None
    actor = actor if actor is not None else "task:run_export"
    name = f"{job.user_id}/{job.pk}-{secrets.token_urlsafe(12)}.zip"
    try:
        with object_store(STORAGE).open_write(name) as out:
            outcome = write_export(
                out,
                user=job.user,
                export_format=job.format,
                data_types=job.data_types,
                include_metadata=job.include_metadata,
                scope=job.scope,
                export_id=job.pk,
                backup_id=job.backup_id,
                progress=jobs.JobProgress(
                    job,
                    total=estimated_total(
                        user_id=job.user_id,
                        data_types=job.data_types,
                        scope=job.scope,
                    ),
                ),
            )
        jobs.complete_job(job, name=name, outcome=outcome)
    except BaseException as exc:
        jobs.fail_job(job, _reason(exc), name=name)
        record_audit_event(
            actor=actor,
            action="export.failed",
            target=job,
            details={"error": job.error},
        )
        raise
    record_audit_event(
        actor=actor,
        action="export.create",
        target=job,
        details={
            "user": job.user.get_username(),
            "format": job.format,
            "data_types": job.data_types,
            "scope": job.scope,
            "counts": outcome.counts,
            "size_bytes": outcome.size,
            "sha256": outcome.sha256,
        },
    )
    logger.info("export %s completed: %s bytes", job.pk, outcome.size)
    return _result_of(job, outcome)


def fail_unfinished_export(*, job_id: int, reason: str) -> bool:
    """Fail a job still queued or running, as when its task failed outright."""
    return jobs.fail_unfinished_job(
        job_id=job_id, reason=reason, actor="task:run_export"
    )


def mark_stale_exports() -> list[int]:
    """Fail every job whose worker died or that no worker took; return ids."""
    return jobs.mark_stale_exports()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, SystemExit):
        return f"stopped: {exc}" if str(exc) else "stopped"
    if isinstance(exc, ExportError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _result_of(job: ExportJob, outcome: ExportOutcome) -> ExportResult:
    return ExportResult(
        format=job.format,
        data_types=list(job.data_types),
        include_metadata=job.include_metadata,
        counts=outcome.counts,
        files=[{key: job.files[0][key] for key in ("name", "size", "sha256")}],
        size_bytes=outcome.size,
        scope=job.scope,
        export_id=job.pk,
        backup_id=job.backup_id,
        expires_at=job.expires_at,
        missing_media=outcome.missing_media,
    )


def _export_to_file(
    user: Any,
    path: Path,
    *,
    format: str,  # the brief's keyword
    data_types: list[str],
    include_metadata: bool,
    scope: str,
    actor: Any,
) -> ExportResult:
    """Write an archive to a local file atomically (the command's --output)."""
    path = path.resolve()
    if path.exists():
        raise ExportError(
            f"{path} already exists; choose another output or remove it first"
        )
    if not path.parent.is_dir():
        raise ExportError(f"the folder {path.parent} does not exist")
    if progress.watched():
        progress.expect(rows=estimated_total(user_id=user.pk, data_types=data_types))
    with FileObjectStore("output", path.parent).open_write(path.name) as out:
        outcome = write_export(
            out,
            user=user,
            export_format=format,
            data_types=data_types,
            include_metadata=include_metadata,
            scope=scope,
        )
    record_audit_event(
        actor=actor,
        action="export.create",
        target=user,
        details={
            "user": user.get_username(),
            "format": format,
            "data_types": data_types,
            "scope": scope,
            "counts": outcome.counts,
            "output": str(path),
            "size_bytes": outcome.size,
            "sha256": outcome.sha256,
        },
    )
    return ExportResult(
        format=format,
        data_types=data_types,
        include_metadata=include_metadata,
        counts=outcome.counts,
        files=[{"name": str(path), "size": outcome.size, "sha256": outcome.sha256}],
        size_bytes=outcome.size,
        scope=scope,
        missing_media=outcome.missing_media,
    )


# --- Owners' downloads and the job list -------------------------------------
def exports_of(*, user: Any, limit: int = 20) -> list[ExportJob]:
    """Return ``user``'s latest exports, failing any whose worker died."""
    jobs.mark_stale_exports(user_id=user.pk)
    return list(ExportJob.objects.filter(user=user).order_by("-created_at")[:limit])


def export_of(*, user: Any, job_id: int) -> ExportJob:
    """Return one of ``user``'s exports, or raise ``ExportNotFound``."""
    jobs.mark_stale_exports(user_id=user.pk)
    job = ExportJob.objects.filter(pk=job_id, user=user).first()
    if job is None:
        raise ExportNotFound(f"you have no export {job_id}")
    return job


def is_downloadable(job: ExportJob, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return bool(
        job.status == Status.COMPLETED
        and job.files
        and job.expires_at
        and job.expires_at > now
    )


def download_token(job: ExportJob) -> str:
    """Return the signed token of ``job``'s download link."""
    return sign_download(job_id=job.pk, user_id=job.user_id)


def open_download(*, token: str, user: Any, request: Any = None) -> ExportDownload:
    """Open the archive a download link names, for its owner only; audit it.

    Raises ``ExportNotFound`` for a forged link, someone else's link or an
    export that is not ready, and ``ExportUnavailable`` for an expired one.
    """
    claim = read_download(token)
    if claim is None or claim.user_id != user.pk:
        raise ExportNotFound("no such export")
    job = (
        ExportJob.objects.filter(pk=claim.job_id, user_id=user.pk)
        .select_related("user")  # its name goes in the audit entry and file name
        .first()
    )
    if job is None:
        raise ExportNotFound("no such export")
    expired = job.status == Status.EXPIRED or (
        job.status == Status.COMPLETED and not is_downloadable(job)
    )
    if claim.expired or expired:
        raise ExportUnavailable(
            "this download link has expired; ask for a new export on My data"
        )
    if job.status != Status.COMPLETED:
        raise ExportNotFound("this export is not ready")
    return _open_archive(job, actor=user, request=request, gone_hint="on My data")


def open_requested_download(
    *, job_id: int, requester: Any, request: Any = None
) -> ExportDownload:
    """Open an export's archive for the staff member who asked for it; audit it.

    Only the requester may download it this way (the user it belongs to has
    their own signed link). Raises ``ExportNotFound`` for anyone else's job
    or one that is not ready, ``ExportUnavailable`` once it expired.
    """
    job = (
        ExportJob.objects.filter(pk=job_id, requested_by_id=requester.pk)
        .select_related("user")
        .first()
    )
    if job is None:
        raise ExportNotFound(f"you did not ask for export {job_id}")
    if job.status == Status.EXPIRED or (
        job.status == Status.COMPLETED and not is_downloadable(job)
    ):
        raise ExportUnavailable(f"export {job_id} has expired; ask for a new one")
    if job.status != Status.COMPLETED:
        raise ExportNotFound(f"export {job_id} is {job.status}, not ready")
    return _open_archive(
        job, actor=requester, request=request, gone_hint="from the users list"
    )


def _open_archive(
    job: ExportJob, *, actor: Any, request: Any, gone_hint: str
) -> ExportDownload:
    """Open ``job``'s archive and audit the download by ``actor``."""
    stored = job.files[0]
    try:
        handle = storages[STORAGE].open(stored["name"], "rb")
    except FileNotFoundError as exc:
        raise ExportUnavailable(
            f"this export's file is gone; ask for a new export {gone_hint}"
        ) from exc
    record_audit_event(
        actor=actor,
        action="export.download",
        target=job,
        request=request,
        details={"size_bytes": stored["size"], "user": job.user.get_username()},
    )
    stamp = (job.finished_at or job.created_at).strftime("%Y%m%d")
    owner = job.user.get_username()
    filename = f"talowa-export-{owner}-{stamp}-{job.format}.zip"
    return ExportDownload(job, handle, filename, stored["size"])


# --- Maintenance --------------------------------------------------------------
def cleanup_expired_exports(*, now: datetime | None = None) -> dict[str, Any]:
    """Delete the files of expired exports and fail dead ones; report counts."""
    now = now or timezone.now()
    stale = jobs.mark_stale_exports()
    expired = list(
        ExportJob.objects.filter(status=Status.COMPLETED, expires_at__lte=now)
    )
    freed = sum(jobs.expire_job(job) for job in expired)
    report = {
        "expired": [job.pk for job in expired],
        "failed_stale": stale,
        "bytes_freed": freed,
    }
    if expired or stale:
        record_audit_event(
            actor="task:cleanup_expired_exports", action="export.expire", details=report
        )
    return report


def _is_user(actor: Any) -> bool:
    return hasattr(actor, "get_username")
