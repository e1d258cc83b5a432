"""What the backup storage holds and how it grows: figures for status pages.

Read from the catalog (never from the storage itself, which may be remote and
slow): a backup's bytes are its ``stored_bytes``, counted while it is
completed (expired and failed backups hold no archive). Each archive comes
with two sidecar copies; ``objects`` counts archives.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Sum
from django.utils import timezone

from backups.models import Backup, BackupSchedule, all_backup_data_types
from backups.services.scheduling.schedules import next_run_of
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
    """
    held = _held()
    total = held.aggregate(bytes=Sum("stored_bytes"), objects=Count("id"))
    by_scope = {
        row["scope"]: _figures(row)
        for row in held.values("scope").annotate(
            bytes=Sum("stored_bytes"), objects=Count("id")
        )
    }
    by_type: dict[str, dict[str, int]] = {
        name: {"bytes": 0, "objects": 0} for name in all_backup_data_types()
    }
    for types, size in held.values_list("data_types", "stored_bytes").iterator():
        for name in types:
            entry = by_type.setdefault(name, {"bytes": 0, "objects": 0})
            entry["bytes"] += size
            entry["objects"] += 1
    top_users = [
        {"user": row["owner__username"], **_figures(row)}
        for row in held.filter(owner__isnull=False)
        .values("owner__username")
        .annotate(bytes=Sum("stored_bytes"), objects=Count("id"))
        .order_by("-bytes")[:TOP_USERS]
    ]
    return {
        "total": _figures(total),
        "by_data_type": by_type,
        "by_scope": {
            scope: by_scope.get(scope, {"bytes": 0, "objects": 0})
            for scope in ("system", "user")
        },
        "top_users": top_users,
        "daily": daily_series(days=days),
    }


def daily_series(*, days: int = DAILY_SERIES_DAYS) -> list[dict[str, Any]]:
    """Return ``{"date", "added_bytes", "added_objects", "total_bytes"}`` per day."""
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    added: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    before = 0
    for created_at, size in _held().values_list("created_at", "stored_bytes"):
        day = timezone.localtime(created_at).date()
        if day < first:
            before += size
        else:
            added[day][0] += size
            added[day][1] += 1
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
    """Return each backup schedule's timing, next and last run, and last result."""
    summaries = []
    for schedule in BackupSchedule.objects.order_by("name"):
        timing = schedule_timing(schedule)
        last = schedule.runs.order_by("-queued_at", "-id").first()
        summaries.append(
            {
                "name": schedule.name,
                "enabled": schedule.enabled,
                "timing": timing.describe(),
                "interval_seconds": timing.period.total_seconds(),
                "next_run": next_run_of(schedule),
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
