"""What the backup storage holds and how it grows: figures for status pages.

Read from the catalog (never from the storage itself, which may be remote and
slow): a backup's bytes are its ``stored_bytes``, counted while it is
completed (expired and failed backups hold no archive). Each archive comes
with two sidecar copies; ``objects`` counts archives.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, OuterRef, Q, Subquery, Sum
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
