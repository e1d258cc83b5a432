"""Backup history for status pages: outcomes per day and the newest chain.

Both are read with a fixed number of queries whatever the catalog holds:
the per-day outcomes are one grouped query, and the newest chain one query
for the system backups since the newest full one (a chain's links are then
followed in memory; a chain is as long as the keep rules let it grow).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Q,
    Subquery,
)
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
    since = timezone.make_aware(datetime.combine(first, datetime.min.time()))
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
    chain = _newest_chain_links()
    if not chain:
        return None
    return {
        "head": chain[-1].id,
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


def _newest_chain_links() -> list[Backup]:
    """Read the system backups since the newest full one and follow the links.

    One query when the newest chain starts at the newest completed full
    backup, as incrementals do (each chains to the newest completed backup of
    its scope); otherwise the chain is followed link by link.
    """
    system = Backup.objects.filter(scope=Backup.Scope.SYSTEM)
    newest_full = (
        system.filter(kind=Backup.Kind.FULL, status=Backup.Status.COMPLETED)
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    window = list(
        system.filter(created_at__gte=Subquery(newest_full)).order_by("-created_at")
    )
    completed = [b for b in window if b.status == Backup.Status.COMPLETED]
    if not completed:
        head = (
            system.filter(status=Backup.Status.COMPLETED)
            .order_by("-created_at")
            .first()
        )
        return chain_of(head) if head else []
    known = {backup.id: backup for backup in window}
    chain = [completed[0]]
    while chain[-1].parent_id:
        parent = known.get(chain[-1].parent_id)
        if parent is None or len(chain) > len(known):
            return chain_of(completed[0])  # an unusual catalog: link by link
        chain.append(parent)
    return list(reversed(chain))
