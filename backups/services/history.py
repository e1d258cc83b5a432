"""Backup history for status pages: outcomes per day and the newest chain.

Both are read with a fixed number of queries whatever the catalog holds:
the per-day outcomes are one grouped query, and the newest chain is read
with one query for its head, one for its full backup and one for the backups
between them (a chain's links are then followed in memory).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from backups.models import Backup
from backups.selectors import chain_of

HISTORY_DAYS = 30

_TOOK = ExpressionWrapper(F("finished_at") - F("started_at"), DurationField())


def daily_outcomes(*, days: int = HISTORY_DAYS) -> list[dict[str, Any]]:
    """Return, for each of the last ``days`` days, backups completed and failed.

    Each day is ``{"date", "completed", "failed", "average_seconds",
    "longest_seconds"}``; a backup counts on the day it was created, and
    expired backups count as completed (they were, before expiry). Durations
    are of the backups that finished that day.
    """
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    since = timezone.make_aware(
        timezone.datetime.combine(first, timezone.datetime.min.time())
    )
    done = Q(status__in=[Backup.Status.COMPLETED, Backup.Status.EXPIRED])
    rows = (
        Backup.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(
            completed=Count("id", filter=done),
            failed=Count("id", filter=Q(status=Backup.Status.FAILED)),
            average=Avg(_TOOK, filter=done & Q(started_at__isnull=False)),
            longest=Max(_TOOK, filter=done & Q(started_at__isnull=False)),
        )
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = by_day.get(day, {})
        series.append(
            {
                "date": day.isoformat(),
                "completed": row.get("completed", 0),
                "failed": row.get("failed", 0),
                "average_seconds": _seconds(row.get("average")),
                "longest_seconds": _seconds(row.get("longest")),
            }
        )
    return series


def _seconds(value: timedelta | None) -> float | None:
    return round(value.total_seconds(), 3) if value is not None else None


def newest_chain() -> dict[str, Any] | None:
    """Return the newest completed system backup's chain and its verification.

    ``{"head", "backups": [{"id", "kind", "created_at", "stored_bytes",
    "verified_at", "verify_ok"}], "verified", "unverified", "failed"}``:
    ``verified`` is true when every archive of the chain passed its last
    verification. None when no completed system backup exists.
    """
    system = Backup.objects.filter(scope=Backup.Scope.SYSTEM)
    head = system.filter(status=Backup.Status.COMPLETED).order_by("-created_at").first()
    if head is None:
        return None
    chain = _chain_from_window(system, head)
    return {
        "head": head.id,
        "backups": [
            {
                "id": backup.id,
                "kind": backup.kind,
                "created_at": backup.created_at,
                "stored_bytes": backup.stored_bytes,
                "verified_at": backup.verified_at,
                "verify_ok": backup.verify_ok,
            }
            for backup in chain
        ],
        "verified": all(backup.verify_ok for backup in chain),
        "unverified": sum(backup.verify_ok is None for backup in chain),
        "failed": sum(backup.verify_ok is False for backup in chain),
    }


def _chain_from_window(system, head: Backup) -> list[Backup]:
    """Follow ``head``'s parents among the system backups since its full backup."""
    if head.parent_id is None:
        return [head]
    full = (
        system.filter(kind=Backup.Kind.FULL, created_at__lte=head.created_at)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    window = system.filter(created_at__lte=head.created_at)
    if full is not None:
        window = window.filter(created_at__gte=full)
    known = {backup.id: backup for backup in window}
    chain = [head]
    while chain[-1].parent_id:
        parent = known.get(chain[-1].parent_id)
        if parent is None or len(chain) > len(known):
            return chain_of(head)  # an unusual catalog: follow it link by link
        chain.append(parent)
    return list(reversed(chain))
