"""What the backup storage holds and how it grows: figures for status pages.

Read from the catalog (never from the storage itself, which may be remote and
slow): a backup's bytes are its ``stored_bytes``, counted while it is
completed (expired and failed backups hold no archive). Each archive comes
with two sidecar copies; ``objects`` counts archives.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from backups.models import (
    Backup,
    BackupSchedule,
    BackupScheduleRun,
    all_backup_data_types,
)
from backups.services.scheduling.schedules import next_runs_of
from backups.services.scheduling.validation import schedule_timing

DAILY_SERIES_DAYS = 90
TOP_USERS = 10
RECENT_BACKUPS = 20


def _held() -> Any:
    return Backup.objects.filter(status=Backup.Status.COMPLETED)


def _figures(row: dict) -> dict[str, int]:
    return {"bytes": row["bytes"] or 0, "objects": row["objects"]}


def storage_usage(*, days: int = DAILY_SERIES_DAYS) -> dict[str, Any]:
    """Return bytes and archives in total, per data type, per scope, per user.

    ``by_data_type`` counts an archive under each data type it holds, so its
    entries add up to more than ``total``. ``daily`` gives, for each of the
    last ``days`` days, the bytes and archives added that day and the bytes
    held at its end (of the backups still held).

    Four queries whatever the catalog's size, each an aggregate in SQL.
    """
    first = timezone.localdate() - timedelta(days=days - 1)
    held = _held()
    system, user = Q(scope=Backup.Scope.SYSTEM), Q(scope=Backup.Scope.USER)
    figures = held.aggregate(
        bytes=Sum("stored_bytes"),
        objects=Count("id"),
        before=Sum("stored_bytes", filter=Q(created_at__lt=_start_of(first))),
        system_bytes=Sum("stored_bytes", filter=system),
        system_objects=Count("id", filter=system),
        user_bytes=Sum("stored_bytes", filter=user),
        user_objects=Count("id", filter=user),
    )
    top_users = [
        {"user": row["owner__username"], **_figures(row)}
        for row in held.filter(owner__isnull=False)
        .values("owner__username")
        .annotate(bytes=Sum("stored_bytes"), objects=Count("id"))
        .order_by("-bytes", "owner__username")[:TOP_USERS]
    ]
    return {
        "total": _figures(figures),
        "by_data_type": _by_data_type(held),
        "by_scope": {
            scope: {
                "bytes": figures[f"{scope}_bytes"] or 0,
                "objects": figures[f"{scope}_objects"],
            }
            for scope in ("system", "user")
        },
        "top_users": top_users,
        "daily": _series(held, first, days, before=figures["before"] or 0),
    }


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _by_data_type(held: Any) -> dict[str, dict[str, int]]:
    """Sum per data type from the few distinct lists of types (one query)."""
    by_type: dict[str, dict[str, int]] = {
        name: {"bytes": 0, "objects": 0} for name in all_backup_data_types()
    }
    groups = (
        held.order_by()
        .values("data_types")
        .annotate(bytes=Sum("stored_bytes"), objects=Count("id"))
    )
    for group in groups:
        for name in group["data_types"] or ():
            entry = by_type.setdefault(name, {"bytes": 0, "objects": 0})
            entry["bytes"] += group["bytes"] or 0
            entry["objects"] += group["objects"]
    return by_type


def daily_series(*, days: int = DAILY_SERIES_DAYS) -> list[dict[str, Any]]:
    """Return ``{"date", "added_bytes", "added_objects", "total_bytes"}`` per day."""
    first = timezone.localdate() - timedelta(days=days - 1)
    held = _held()
    before = held.filter(created_at__lt=_start_of(first)).aggregate(
        bytes=Sum("stored_bytes")
    )["bytes"]
    return _series(held, first, days, before=before or 0)


def _series(held: Any, first: date, days: int, *, before: int) -> list[dict]:
    """The daily series from one grouped query over the last ``days`` days."""
    added = {
        row["day"]: (row["bytes"] or 0, row["objects"])
        for row in held.filter(created_at__gte=_start_of(first))
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values("day")
        .annotate(bytes=Sum("stored_bytes"), objects=Count("id"))
    }
    series, running = [], before
    for offset in range(days):
        day = first + timedelta(days=offset)
        size, count = added.get(day, (0, 0))
        running += size
        series.append(
            {
                "date": day.isoformat(),
                "added_bytes": size,
                "added_objects": count,
                "total_bytes": running,
            }
        )
    return series


def daily_outcomes(*, days: int = DAILY_SERIES_DAYS) -> list[dict[str, Any]]:
    """Return, per day of the last ``days``, the backups that succeeded and failed.

    ``{"date", "succeeded", "failed", "average_seconds", "longest_seconds"}``,
    oldest first; a backup counts on the day it started, as succeeded when it
    completed (even if it has expired since), and its durations are those of
    the successful ones (None on a day without one). One grouped query.
    """
    first = timezone.localdate() - timedelta(days=days - 1)
    succeeded = Q(status__in=[Backup.Status.COMPLETED, Backup.Status.EXPIRED])
    took = ExpressionWrapper(
        F("finished_at") - F("started_at"), output_field=DurationField()
    )
    rows = {
        row["day"]: row
        for row in Backup.objects.filter(created_at__gte=_start_of(first))
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values("day")
        .annotate(
            succeeded=Count("id", filter=succeeded),
            failed=Count("id", filter=Q(status=Backup.Status.FAILED)),
            average=Avg(took, filter=succeeded),
            longest=Max(took, filter=succeeded),
        )
    }
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = rows.get(day, {})
        series.append(
            {
                "date": day.isoformat(),
                "succeeded": row.get("succeeded", 0),
                "failed": row.get("failed", 0),
                "average_seconds": _seconds(row.get("average")),
                "longest_seconds": _seconds(row.get("longest")),
            }
        )
    return series


def _seconds(duration: timedelta | None) -> float | None:
    return None if duration is None else round(duration.total_seconds(), 3)


def newest_chain() -> dict[str, Any] | None:
    """Return the newest completed system backup's chain and its verification.

    ``{"backups": [{"id", "kind", "created_at", "size_bytes", "verified_at",
    "verify_ok"}, ...] (full first), "size_bytes", "verified"}``, where
    ``verified`` says every link passed its newest verification; None
    without a completed system backup. Two queries: the newest backup, then
    the system backups back to the newest full one before it, whose parent
    links are followed here.
    """
    completed = Backup.objects.filter(
        scope=Backup.Scope.SYSTEM, status=Backup.Status.COMPLETED
    )
    newest = completed.order_by("-created_at").first()
    if newest is None:
        return None
    full_taken = (
        completed.filter(kind=Backup.Kind.FULL, created_at__lte=newest.created_at)
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    candidates = {
        backup.id: backup
        for backup in Backup.objects.filter(
            scope=Backup.Scope.SYSTEM,
            created_at__lte=newest.created_at,
            created_at__gte=Subquery(full_taken),
        )
    }
    chain = [newest]
    while chain[-1].parent_id:
        parent = candidates.get(chain[-1].parent_id)
        if parent is None:  # a link outside the window: the catalog is odd
            parent = Backup.objects.get(pk=chain[-1].parent_id)
        chain.append(parent)
    chain.reverse()
    return {
        "backups": [
            {
                "id": backup.id,
                "kind": backup.kind,
                "created_at": backup.created_at,
                "size_bytes": backup.stored_bytes,
                "verified_at": backup.verified_at,
                "verify_ok": backup.verify_ok,
            }
            for backup in chain
        ],
        "size_bytes": sum(backup.stored_bytes for backup in chain),
        "verified": all(backup.verify_ok for backup in chain),
    }


def weekly_growth(series: list[dict[str, Any]]) -> int:
    """Return the bytes held now minus a week ago, from a daily series."""
    if len(series) < 8:
        return 0
    return series[-1]["total_bytes"] - series[-8]["total_bytes"]


def recent_backups(*, limit: int = RECENT_BACKUPS) -> list[dict[str, Any]]:
    """Return the newest backups with kind, scope, status, size and duration."""
    backups = Backup.objects.select_related("owner").order_by("-created_at")[:limit]
    return [
        {
            "id": backup.id,
            "kind": backup.kind,
            "scope": backup.scope,
            "user": backup.owner.get_username() if backup.owner_id else None,
            "status": backup.status,
            "size_bytes": backup.stored_bytes,
            "seconds": backup.duration.total_seconds() if backup.duration else None,
            "created_at": backup.created_at,
        }
        for backup in backups
    ]


def schedule_summaries() -> list[dict[str, Any]]:
    """Return each backup schedule's timing, next and last run, and last result.

    Three queries whatever the number of schedules and runs: the schedules
    with the id of their newest run, those runs, their django-q2 next runs.
    """
    newest_run = (
        BackupScheduleRun.objects.filter(schedule=OuterRef("pk"))
        .order_by("-queued_at", "-id")
        .values("id")[:1]
    )
    schedules = list(
        BackupSchedule.objects.order_by("name").annotate(
            newest_run_id=Subquery(newest_run)
        )
    )
    runs = BackupScheduleRun.objects.in_bulk(
        [s.newest_run_id for s in schedules if s.newest_run_id]
    )
    next_runs = next_runs_of(schedules)
    summaries = []
    for schedule in schedules:
        timing = schedule_timing(schedule)
        last = runs.get(schedule.newest_run_id)
        summaries.append(
            {
                "name": schedule.name,
                "enabled": schedule.enabled,
                "timing": timing.describe(),
                "interval_seconds": timing.period.total_seconds(),
                "next_run": next_runs.get(schedule.pk),
                "last_run": schedule.last_run_at,
                "last_result": (
                    {
                        "result": last.result,
                        "backup": last.backup_id,
                        "message": last.message,
                        "at": last.finished_at or last.queued_at,
                    }
                    if last
                    else None
                ),
            }
        )
    return summaries
