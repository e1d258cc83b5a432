"""What the recovery side did last and runs now, for status pages.

Each function is one query whatever the history holds.
"""

from __future__ import annotations

from recovery.models import MaintenanceRun, RestoreDrill


def newest_finished_drill() -> RestoreDrill | None:
    """Return the newest restore drill that has finished, passed or not."""
    return (
        RestoreDrill.objects.exclude(status=RestoreDrill.Status.RUNNING)
        .select_related("requested_by")
        .order_by("-started_at", "-id")
        .first()
    )


def running_drills() -> list[RestoreDrill]:
    """Return the restore drills under way, oldest first."""
    return list(
        RestoreDrill.objects.filter(status=RestoreDrill.Status.RUNNING)
        .select_related("requested_by")
        .order_by("started_at", "id")
    )


def running_maintenance() -> list[MaintenanceRun]:
    """Return the maintenance runs under way, oldest first."""
    return list(
        MaintenanceRun.objects.filter(status=MaintenanceRun.Status.RUNNING).order_by(
            "started_at"
        )
    )
