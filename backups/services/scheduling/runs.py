"""Run a backup schedule once: one run per slot, skips, retries, failures.

Invariants:
- A scheduled run claims its slot first (``BackupScheduleRun`` is unique per
  schedule and slot), so two workers, or two clusters sharing a database,
  never both run one slot; the loser records nothing and returns.
- Overlap is refused by the backup's own scope lock: a slot whose previous
  run still holds it is recorded as "skipped: previous run still going".
- A transient storage failure (the store unreachable, a timeout, a 5xx) is
  retried ``RETRY_ATTEMPTS - 1`` times with exponential backoff and jitter;
  anything else (a corrupted archive, a missing or wrong key, a quota) fails
  at once. A failed run is recorded, then raised, so the queue shows it.
- After downtime django-q2 (``catch_up`` off) fires a schedule once and moves
  it to its next future slot: one catch-up run, recorded as such.
- A running run records its worker and renews its heartbeat; one whose
  worker died (``talowa_admin.liveness``) is failed by ``mark_dead_runs``,
  which the next run of the schedule, the schedule pages and the health
  check call, so no run stays "running" after its process died.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backups.exceptions import (
    ArchiveCorrupted,
    BackupError,
    BackupInProgress,
    KeyUnavailable,
    QuotaExceeded,
)
from backups.models import Backup, BackupSchedule, BackupScheduleRun
from backups.selectors import backups_in_scope, latest_completed
from backups.services.creating import create_incremental_backup, run_backup
from backups.services.scheduling.schedules import sync_q_schedule
from backups.services.scheduling.validation import schedule_timing
from talowa_admin import liveness, locks

logger = logging.getLogger(__name__)

RETRY_ATTEMPTS = 4  # one try and three retries
RETRY_BASE_SECONDS = 30.0  # then 60, 120, each times a jitter of 0.5 to 1.5
RETRY_MAX_SECONDS = 600.0
CATCH_UP_AFTER = timedelta(minutes=5)
SKIPPED_OVERLAP = "skipped: previous run still going"
TRANSIENT_S3_CODES = {
    "RequestTimeout",
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "Throttling",
}


class ScheduledRunFailed(BackupError):
    """A schedule's run ended in failure (after any retries)."""


def retry_delay(attempt: int, *, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): exponential, jittered."""
    base = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempt - 1))
    return base * (0.5 + rand())


def is_transient(exc: BaseException) -> bool:
    """Tell whether ``exc`` is a storage or network failure worth retrying."""
    if isinstance(exc, ArchiveCorrupted | KeyUnavailable | QuotaExceeded):
        return False
    from botocore import exceptions as boto

    link: BaseException | None = exc
    seen = 0
    while link is not None and seen < 10:
        if isinstance(
            link,
            ConnectionError
            | TimeoutError
            | boto.ConnectionError
            | boto.HTTPClientError,
        ):
            return True
        if isinstance(link, boto.ClientError):
            error = link.response.get("Error", {})
            status = link.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return error.get("Code") in TRANSIENT_S3_CODES or (status or 0) >= 500
        link, seen = link.__cause__ or link.__context__, seen + 1
    return False


def run_backup_schedule(
    *,
    schedule_id: int,
    slot: str | datetime | None = None,
    run_id: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> BackupScheduleRun | None:
    """Run ``schedule_id`` for ``slot`` (from django-q2) or as run ``run_id``.

    Return the finished run, or None when there was nothing to run (the
    schedule is gone or disabled, or another worker has the slot). Raise
    ``ScheduledRunFailed`` when the run failed.
    """
    found = BackupSchedule.objects.select_related("owner").filter(pk=schedule_id)
    schedule = found.first()
    mark_dead_runs(schedule_id=schedule_id)
    if schedule is None:
        logger.warning("backup schedule %s no longer exists; nothing run", schedule_id)
        return None
    if run_id is not None:
        run = BackupScheduleRun.objects.filter(pk=run_id, schedule=schedule).first()
        if run is None or run.result != BackupScheduleRun.Result.QUEUED:
            logger.info("run %s of %s is not queued; nothing run", run_id, schedule)
            return None
    elif not schedule.enabled:
        sync_q_schedule(schedule)
        logger.info("backup schedule %s is disabled; nothing run", schedule.name)
        return None
    else:
        run = claim_slot(schedule, _as_datetime(slot))
        if run is None:
            return None
    _start(run)
    with liveness.Heartbeat(BackupScheduleRun.objects.filter(pk=run.pk)):
        return _attempt_until_done(schedule, run, sleep=sleep)


def mark_dead_runs(*, schedule_id: int | None = None) -> list[int]:
    """Fail the running runs whose worker died; return their ids."""
    running = BackupScheduleRun.objects.filter(
        result=BackupScheduleRun.Result.RUNNING
    ).select_related("schedule")
    if schedule_id is not None:
        running = running.filter(schedule_id=schedule_id)
    failed = []
    for run in liveness.dead(running):
        reason = liveness.died_reason(run)
        ended = BackupScheduleRun.objects.filter(
            pk=run.pk, result=BackupScheduleRun.Result.RUNNING
        ).update(
            result=BackupScheduleRun.Result.FAILED,
            message=reason[:2000],
            finished_at=timezone.now(),
        )
        if ended:  # not failed meanwhile by another reader
            logger.warning(
                "backup schedule %s: run %s %s", run.schedule, run.pk, reason
            )
            failed.append(run.pk)
    return failed


def claim_slot(
    schedule: BackupSchedule, slot: datetime | None
) -> BackupScheduleRun | None:
    """Record the run of ``slot``, or return None if a worker already has it."""
    slot = slot or timezone.now().replace(microsecond=0)
    late = timezone.now() - slot
    trigger = (
        BackupScheduleRun.Trigger.CATCH_UP
        if late > max(CATCH_UP_AFTER, schedule_timing(schedule).period)
        else BackupScheduleRun.Trigger.SCHEDULED
    )
    try:
        with transaction.atomic():
            return BackupScheduleRun.objects.create(
                schedule=schedule, slot=slot, trigger=trigger
            )
    except IntegrityError:
        logger.info(
            "backup schedule %s: the slot %s is already taken by another worker",
            schedule.name,
            slot.isoformat(),
        )
        return None


def _attempt_until_done(
    schedule: BackupSchedule, run: BackupScheduleRun, *, sleep
) -> BackupScheduleRun:
    while True:
        run.attempts += 1
        BackupScheduleRun.objects.filter(pk=run.pk).update(attempts=run.attempts)
        try:
            backup_id = take_backup(schedule)
        except BackupInProgress as exc:
            return _finish(run, BackupScheduleRun.Result.SKIPPED, _skip_reason(exc))
        except Exception as exc:
            if is_transient(exc) and run.attempts < RETRY_ATTEMPTS:
                delay = retry_delay(run.attempts)
                logger.warning(
                    "backup schedule %s: attempt %s failed (%s); retrying in %.0f s",
                    schedule.name,
                    run.attempts,
                    exc,
                    delay,
                )
                sleep(delay)
                continue
            _finish(run, BackupScheduleRun.Result.FAILED, _failure(exc, run))
            raise ScheduledRunFailed(
                f"backup schedule {schedule.name}: {run.message}"
            ) from exc
        run.backup_id = backup_id
        return _finish(run, BackupScheduleRun.Result.SUCCEEDED, f"backup {backup_id}")


def take_backup(schedule: BackupSchedule) -> str:
    """Take the backup ``schedule`` asks for now; return its id."""
    user = schedule.owner
    owner_id = user.pk if user else None
    options = {
        "user": user,
        "metadata": {"schedule": schedule.name, "schedule_id": schedule.pk},
        "note": (schedule.note or f"schedule: {schedule.name}")[:200],
        "actor": f"schedule:{schedule.name}"[:150],
    }
    parent = latest_completed(owner_id=owner_id)
    if schedule.incremental and parent and not _full_due(schedule, owner_id):
        return create_incremental_backup(full_if_missing=True, **options)
    return run_backup(
        kind=Backup.Kind.FULL, data_types=list(schedule.data_types), **options
    ).id


def _full_due(schedule: BackupSchedule, owner_id: int | None) -> bool:
    if not schedule.full_every_days:
        return False
    latest_full = (
        backups_in_scope(owner_id=owner_id)
        .filter(status=Backup.Status.COMPLETED, kind=Backup.Kind.FULL)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return latest_full is None or timezone.now() - latest_full >= timedelta(
        days=schedule.full_every_days
    )


def _start(run: BackupScheduleRun) -> None:
    run.result = BackupScheduleRun.Result.RUNNING
    run.started_at = run.heartbeat_at = timezone.now()
    run.worker = locks.this_holder()
    run.save(update_fields=["result", "started_at", "heartbeat_at", "worker"])


def _finish(run: BackupScheduleRun, result: str, message: str) -> BackupScheduleRun:
    run.result = result
    run.message = message[:2000]
    run.finished_at = timezone.now()
    run.save(update_fields=["result", "message", "finished_at", "backup", "attempts"])
    schedule_fields: dict[str, Any] = {"last_run_at": run.finished_at}
    if run.backup_id:
        schedule_fields["last_backup"] = run.backup_id
    BackupSchedule.objects.filter(pk=run.schedule_id).update(**schedule_fields)
    log = logger.warning if result == BackupScheduleRun.Result.FAILED else logger.info
    log("backup schedule %s: run %s %s: %s", run.schedule, run.pk, result, message)
    return run


def _skip_reason(exc: BackupInProgress) -> str:
    if "restore" in str(exc):
        return f"skipped: {exc}"
    return f"{SKIPPED_OVERLAP} ({exc})"


def _failure(exc: BaseException, run: BackupScheduleRun) -> str:
    reason = (
        str(exc) if isinstance(exc, BackupError) else f"{type(exc).__name__}: {exc}"
    )
    tries = f" after {run.attempts} attempts" if run.attempts > 1 else ""
    return f"failed{tries}: {reason}"


def _as_datetime(slot: str | datetime | None) -> datetime | None:
    if slot is None or isinstance(slot, datetime):
        return slot
    return parse_datetime(slot)
