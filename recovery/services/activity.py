"""What the recovery side did last and runs now, for status pages.

Each function is one query whatever the history holds.
"""

from __future__ import annotations

from django.db.models import Q, Subquery

from recovery.models import MaintenanceRun, RestoreDrill


def drill_activity() -> tuple[RestoreDrill | None, list[RestoreDrill]]:
    """Return the newest finished restore drill and the drills under way."""
    running = Q(status=RestoreDrill.Status.RUNNING)
    newest_finished = (
        RestoreDrill.objects.exclude(running)
        .order_by("-started_at", "-id")
        .values("pk")[:1]
    )
    drills = list(
        RestoreDrill.objects.filter(running | Q(pk=Subquery(newest_finished)))
        .select_related("requested_by")
        .order_by("started_at", "id")
    )
    under_way = [d for d in drills if d.status == RestoreDrill.Status.RUNNING]
    finished = [d for d in drills if d.status != RestoreDrill.Status.RUNNING]
    return (finished[0] if finished else None), under_way


def running_maintenance() -> list[MaintenanceRun]:
    """Return the maintenance runs under way, oldest first."""
    return list(
        MaintenanceRun.objects.filter(status=MaintenanceRun.Status.RUNNING).order_by(
            "started_at"
        )
    )
