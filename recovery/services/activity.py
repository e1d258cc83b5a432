"""What the recovery side did last and runs now, for status pages.

Each function is one query whatever the history holds, plus one update for
each drill or maintenance run found running whose worker died
(``talowa_admin.liveness``): it is failed as such, not shown running.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from django.utils import timezone

from recovery.models import MaintenanceRun, RestoreDrill
from talowa_admin import liveness

Run = TypeVar("Run", RestoreDrill, MaintenanceRun)


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
    return _alive(
        RestoreDrill.objects.filter(status=RestoreDrill.Status.RUNNING)
        .select_related("requested_by")
        .order_by("started_at", "id")
    )


def running_maintenance() -> list[MaintenanceRun]:
    """Return the maintenance runs under way, oldest first."""
    return _alive(
        MaintenanceRun.objects.filter(status=MaintenanceRun.Status.RUNNING).order_by(
            "started_at", "id"
        )
    )


def _alive(running: Iterable[Run]) -> list[Run]:
    """Fail the runs of ``running`` whose worker died; return the others.

    A run is failed only if it still is running under the same worker: one
    that finished meanwhile keeps its own outcome.
    """
    runs = list(running)
    dead = liveness.dead(runs)
    for run in dead:
        type(run).objects.filter(
            pk=run.pk, status=run.Status.RUNNING, worker=run.worker
        ).update(
            status=run.Status.FAILED,
            error=liveness.died_reason(run),
            finished_at=timezone.now(),
        )
    return [run for run in runs if run not in dead]
