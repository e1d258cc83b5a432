"""The components of a health check, one function each.

Each check measures one thing and returns a ``Component``: its status, the
measured value, the threshold it was held against, a detail sentence and,
when it is not healthy, a recommendation an operator can act on (naming the
command or page). A check that raises is reported unhealthy by the caller
(``recovery.services.health``) with the check's ``on_error`` advice; a check
that does not answer within the time limit likewise.
"""

from __future__ import annotations

import shutil
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from backups.models import Backup, BackupSchedule, BackupScheduleRun
from backups.selectors import newest_audit_anchor
from backups.services.scheduling.runs import mark_dead_runs
from backups.services.scheduling.validation import schedule_timing
from backups.storage import object_store
from recovery.models import RestoreDrill
from recovery.services.health_component import (
    DEGRADED,
    HEALTHY,
    UNHEALTHY,
    Check,
    Component,
)
from recovery.services.health_keys import check_keys
from retention.models import CleanupRun
from retention.services.backlog import retention_backlog, type_label
from talowa_admin.audit import AuditAnchor, verify_audit_chain
from talowa_admin.queue import queued_count

PROBE_PREFIX = "health/"


def _age_days(moment) -> float:
    return round((timezone.now() - moment).total_seconds() / 86400, 2)


def check_database() -> Component:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    milliseconds = round((time.perf_counter() - started) * 1000, 1)
    limit = settings.TALOWA_HEALTH_DB_LATENCY_MS
    slow = milliseconds > limit
    return Component(
        "database",
        DEGRADED if slow else HEALTHY,
        milliseconds,
        f"{limit} ms",
        f"{connection.vendor} answered in {milliseconds} ms",
        "The database answers slowly: look for long queries and load on the "
        "database server."
        if slow
        else "",
    )


def check_backup_storage() -> Component:
    store = object_store()
    name = f"{PROBE_PREFIX}probe-{uuid.uuid4().hex}"
    payload = uuid.uuid4().bytes * 64
    started = time.perf_counter()
    store.put(name, payload)
    try:
        read_back = store.get(name)
    finally:
        store.delete(name)
    milliseconds = round((time.perf_counter() - started) * 1000, 1)
    if read_back != payload:
        return Component(
            "backup_storage",
            UNHEALTHY,
            milliseconds,
            "write, read and delete",
            "the backup storage returned other bytes than were written",
            "The backup storage corrupts data: stop backups and check the "
            "storage; then run `verify_backup --all`.",
        )
    return Component(
        "backup_storage",
        HEALTHY,
        milliseconds,
        "write, read and delete",
        f"wrote, read back and deleted a probe in {milliseconds} ms",
    )


def check_workers() -> Component:
    from django_q.models import OrmQ
    from django_q.status import Stat

    clusters = _running_clusters(Stat)
    waiting = queued_count()
    oldest_minutes = None
    if "orm" in settings.Q_CLUSTER:
        first = OrmQ.objects.order_by("id").first()
        started = first.task.get("started") if first else None
        if started is not None:
            oldest_minutes = round((timezone.now() - started).total_seconds() / 60, 1)
    limit = settings.TALOWA_HEALTH_QUEUE_MAX_AGE_MINUTES
    queue = f"{waiting if waiting is not None else 'unknown'} tasks queued" + (
        f", the oldest for {oldest_minutes} min" if oldest_minutes is not None else ""
    )
    if not clusters:
        return Component(
            "workers",
            UNHEALTHY,
            0,
            "at least 1 cluster",
            f"no worker cluster is running; {queue}",
            "No worker cluster runs, so schedules and queued jobs wait: start "
            "`manage.py qcluster`.",
        )
    stale = oldest_minutes is not None and oldest_minutes > limit
    return Component(
        "workers",
        DEGRADED if stale else HEALTHY,
        len(clusters),
        f"at least 1 cluster; oldest queued task under {limit} min",
        f"{len(clusters)} cluster(s) running; {queue}",
        f"Queued tasks wait for over {limit} min: add workers "
        "(TALOWA_WORKERS) or look for a stuck task in Tasks (admin)."
        if stale
        else "",
    )


# A cluster renews its heartbeat in the cache every few seconds and it expires
# after 3: a cluster busy on a loaded machine can miss a beat, so its absence
# is only believed after looking again for this long.
HEARTBEAT_WAIT = 6.0


def _running_clusters(stat_class: Any) -> list:
    deadline = time.monotonic() + HEARTBEAT_WAIT
    while True:
        clusters = [s for s in stat_class.get_all() if s.status != "Stopped"]
        if clusters or time.monotonic() >= deadline:
            return clusters
        time.sleep(1)


def check_newest_backup() -> Component:
    limit = settings.TALOWA_HEALTH_BACKUP_MAX_HOURS
    newest = (
        Backup.objects.filter(scope=Backup.Scope.SYSTEM, status=Backup.Status.COMPLETED)
        .order_by("-created_at")
        .first()
    )
    if newest is None:
        return Component(
            "backups",
            UNHEALTHY,
            None,
            f"{limit} h",
            "no completed system backup exists",
            "No system backup exists: run `create_backup` and register the "
            "schedules with `setup_schedules`.",
        )
    hours = round((timezone.now() - newest.created_at).total_seconds() / 3600, 1)
    stale = hours > limit
    return Component(
        "backups",
        DEGRADED if stale else HEALTHY,
        hours,
        f"{limit} h",
        f"newest system backup {newest.id}, {hours} h old",
        f"No system backup for {hours} h: run `create_backup` and check the "
        "backup schedules (Backup schedules in the admin)."
        if stale
        else "",
    )


SCHEDULE_GRACE = timedelta(hours=1)


def check_backup_schedules() -> Component:
    """Each enabled schedule's newest successful run against its interval."""
    mark_dead_runs()  # a run whose worker died says so, not "running"
    late: list[str] = []
    schedules = BackupSchedule.objects.filter(enabled=True).order_by("name")
    now = timezone.now()
    worst_hours = 0.0
    for schedule in schedules:
        period = schedule_timing(schedule).period
        succeeded = (
            schedule.runs.filter(result=BackupScheduleRun.Result.SUCCEEDED)
            .order_by("-finished_at")
            .first()
        )
        since = (
            succeeded.finished_at or succeeded.queued_at
            if succeeded
            else schedule.created_at
        )
        if now - since > period + SCHEDULE_GRACE:
            hours = round((now - since).total_seconds() / 3600, 1)
            worst_hours = max(worst_hours, hours)
            last = schedule.runs.order_by("-queued_at", "-id").first()
            why = f", last run {last.result}: {last.message}" if last else ""
            late.append(
                f"{schedule.name!r} has no successful backup for {hours:g} h "
                f"(runs every {period}){why}"
            )
    count = schedules.count()
    if late:
        return Component(
            "backup_schedules",
            DEGRADED,
            worst_hours,
            "a successful run within each schedule's interval + 1 h",
            "; ".join(late),
            f"Backup schedule {late[0].split(' has ')[0]} is late: read its recent "
            "runs in Backup schedules (admin), check the workers, or take a backup "
            "with its Run now.",
        )
    return Component(
        "backup_schedules",
        HEALTHY,
        worst_hours,
        "a successful run within each schedule's interval + 1 h",
        f"{count} enabled schedule(s), each with a recent successful run",
    )


def check_verification() -> Component:
    limit = settings.TALOWA_HEALTH_VERIFY_MAX_DAYS
    newest = (
        Backup.objects.filter(verify_ok=True, verified_at__isnull=False)
        .order_by("-verified_at")
        .first()
    )
    failed = Backup.objects.filter(
        verify_ok=False, status=Backup.Status.COMPLETED
    ).count()
    if newest is None:
        days, detail = None, "no backup was ever verified"
    else:
        days = _age_days(newest.verified_at)
        detail = f"newest verification: {newest.id}, {days} days ago"
    if failed:
        return Component(
            "verification",
            UNHEALTHY,
            days,
            f"{limit} days",
            f"{detail}; {failed} completed backup(s) failed verification",
            "Backups failed verification: run `verify_backup --all` and "
            "replace the broken ones with a new `create_backup`.",
        )
    stale = days is None or days > limit
    return Component(
        "verification",
        DEGRADED if stale else HEALTHY,
        days,
        f"{limit} days",
        detail,
        (
            "No backup was ever verified: run `verify_backup --all`."
            if days is None
            else f"No verified backup for {days:g} days: run `verify_backup --all`."
        )
        if stale
        else "",
    )


def check_restore_drill() -> Component:
    limit = settings.TALOWA_HEALTH_DRILL_MAX_DAYS
    drills = RestoreDrill.objects.exclude(status=RestoreDrill.Status.RUNNING)
    newest = drills.order_by("-started_at").first()
    passed = drills.filter(status=RestoreDrill.Status.PASSED).first()
    proven = (
        f"last proven restorable: {passed.backup_id}, "
        f"{passed.started_at:%Y-%m-%d %H:%M} UTC, RTO {passed.rto_seconds:g} s"
        if passed
        else "never proven restorable by a drill"
    )
    days = _age_days(passed.started_at) if passed else None
    if newest is not None and newest.status == RestoreDrill.Status.FAILED:
        return Component(
            "restore_drill",
            UNHEALTHY,
            days,
            f"{limit} days",
            f"the newest drill ({newest.pk}, {newest.backup_id or 'no backup'}) "
            f"failed: {newest.error}; {proven}",
            "The newest restore drill failed: read its error in Restore drills "
            "(admin), fix the cause, then run `run_restore_drill`.",
        )
    stale = days is None or days > limit
    return Component(
        "restore_drill",
        DEGRADED if stale else HEALTHY,
        days,
        f"{limit} days",
        proven,
        f"No passed restore drill within {limit} days: run `run_restore_drill`."
        if stale
        else "",
    )


def check_space() -> Component:
    data_dir = settings.TALOWA_DATA_DIR
    usage = shutil.disk_usage(data_dir)
    free_percent = round(usage.free * 100 / usage.total, 1)
    minimum = settings.TALOWA_HEALTH_MIN_FREE_PERCENT
    quota = settings.TALOWA_BACKUP_STORAGE_QUOTA_BYTES
    used = (
        Backup.objects.filter(status=Backup.Status.COMPLETED).aggregate(
            total=Sum("stored_bytes")
        )["total"]
        or 0
    )
    detail = f"{free_percent}% free in {data_dir}; backups use {used} bytes" + (
        f" of a {quota}-byte quota" if quota else ""
    )
    problems = []
    if free_percent < minimum:
        problems.append(
            f"Only {free_percent}% of the disk of {data_dir} is free: free "
            "space, or run `expire_backups` and `run_maintenance --optimize-storage`."
        )
    if quota and used > quota:
        problems.append(
            f"Backups use {used} bytes, over the {quota}-byte quota: run "
            "`expire_backups` or raise TALOWA_BACKUP_STORAGE_QUOTA_BYTES."
        )
    return Component(
        "space",
        DEGRADED if problems else HEALTHY,
        free_percent,
        f"{minimum}% free" + (f"; {quota} bytes of backups" if quota else ""),
        detail,
        " ".join(problems),
    )


def check_failed_tasks() -> Component:
    from django_q.models import Failure

    since = timezone.now() - timedelta(hours=24)
    failures = Failure.objects.filter(stopped__gte=since)
    count = failures.count()
    newest = failures.order_by("-stopped").first()
    return Component(
        "failed_tasks",
        DEGRADED if count else HEALTHY,
        count,
        "0 in 24 h",
        f"{count} task(s) failed in the last 24 hours"
        + (f", the newest: {newest.name} ({newest.func})" if newest else ""),
        "Tasks failed in the last 24 hours: read their errors in Failed tasks "
        "(admin) and rerun what matters."
        if count
        else "",
    )


def check_audit_trail() -> Component:
    backup = newest_audit_anchor()
    anchor = None
    if backup is not None:
        anchor = AuditAnchor(
            event_id=backup.audit_head_event_id,
            hash=backup.audit_head_hash,
            source=f"backup {backup.id}",
        )
    result = verify_audit_chain(anchor)
    if not result.ok:
        return Component(
            "audit_trail",
            UNHEALTHY,
            result.checked,
            "intact and anchored",
            f"the audit trail is broken: {result.reason}",
            "The audit trail was tampered with or cut short: run "
            "`verify_audit_log` for the first bad entry and investigate.",
        )
    return Component(
        "audit_trail",
        HEALTHY,
        result.checked,
        "intact and anchored",
        f"{result.checked} entries intact"
        + (f", anchored by backup {backup.id}" if backup else ", not yet anchored"),
    )


def check_retention() -> Component:
    """The newest cleanup run against the daily schedule, and the backlog.

    The backlog is probed, not counted whole (``retention_backlog``): above a
    thousand rows of a type it is an estimate (PostgreSQL) or a lower bound.
    """
    limit = settings.TALOWA_HEALTH_RETENTION_MAX_HOURS
    backlog = retention_backlog()
    waiting = backlog.describe()
    if backlog.oldest is not None:
        waiting += (
            f" are past retention now, the oldest "
            f"({type_label(backlog.oldest_type).lower()}) from "
            f"{backlog.oldest:%Y-%m-%d}"
        )
    else:
        waiting += " are past retention now"
    last = (
        CleanupRun.objects.filter(dry_run=False)
        .exclude(status=CleanupRun.Status.RUNNING)
        .order_by("-started_at", "-id")
        .first()
    )
    threshold = f"a run within {limit} h"
    if last is None:
        return Component(
            "retention",
            DEGRADED,
            backlog.rows,
            threshold,
            f"no retention cleanup has run; {waiting}",
            "No retention cleanup has run: run `apply_retention` and register its "
            "schedule with `setup_schedules`.",
        )
    hours = round((timezone.now() - last.started_at).total_seconds() / 3600, 1)
    detail = (
        f"newest cleanup run {last.pk} {last.status} {hours} h ago, deleted "
        f"{last.total} rows; {waiting}"
    )
    if last.status == CleanupRun.Status.FAILED:
        advice = (
            f"The newest retention cleanup failed ({last.error}): fix the cause "
            "and run `apply_retention`."
        )
    elif hours > limit:
        advice = (
            f"No retention cleanup for {hours:g} h and {backlog.describe()} past "
            "retention: run `apply_retention` and check its schedule."
        )
    else:
        advice = ""
    return Component(
        "retention",
        DEGRADED if advice else HEALTHY,
        backlog.rows,
        threshold,
        detail,
        advice,
    )


CHECKS: tuple[Check, ...] = (
    Check(
        "database",
        check_database,
        "The database cannot be reached: check DATABASE_URL and that the "
        "database server runs.",
    ),
    Check(
        "backup_storage",
        check_backup_storage,
        "The backup storage cannot be written and read: check "
        "TALOWA_BACKUP_STORAGE (and the AWS_* settings), permissions and space.",
    ),
    Check(
        "workers",
        check_workers,
        "The worker cluster's state cannot be read: check the broker (REDIS_URL) "
        "and the cache.",
    ),
    Check("backups", check_newest_backup, "Check the database and the catalog."),
    Check("backup_schedules", check_backup_schedules, "Check the database."),
    Check("verification", check_verification, "Check the database."),
    Check("restore_drill", check_restore_drill, "Check the database."),
    Check(
        "encryption_keys",
        check_keys,
        "The backup keys are not usable: set TALOWA_BACKUP_KEYS (the README says "
        "how to generate one).",
    ),
    Check("space", check_space, "Check that TALOWA_DATA_DIR exists."),
    Check(
        "retention",
        check_retention,
        "The retention backlog cannot be read: run `apply_retention --dry-run`.",
    ),
    Check("failed_tasks", check_failed_tasks, "Check the database."),
    Check(
        "audit_trail",
        check_audit_trail,
        "The audit trail cannot be checked: run `verify_audit_log`.",
    ),
)
