"""Is a django-q2 cluster running? ``start_scheduler`` answers, it cannot start one.

The scheduler is ``manage.py qcluster``: a long-running process that a
service manager (systemd, a container) keeps up, on one host or many.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from django_q.models import Schedule

from backups.services.scheduling.schedules import sync_all_schedules

# The cluster looks at schedules every 30 s: a schedule this late means none ran.
OVERDUE_AFTER = timedelta(minutes=2)
HOW_TO_START = (
    "start one with `manage.py qcluster` (make run does; in production keep it "
    "running under a service manager, see docs/operations.md)"
)


def start_scheduler() -> dict[str, Any]:
    """Bring every django-q2 schedule in step and say whether a cluster runs them.

    Returns ``{"running": True | False, "clusters": [...], "overdue": [...],
    "message": ...}``.
    """
    sync_all_schedules()
    clusters = _clusters()
    overdue = list(
        Schedule.objects.exclude(repeats=0)
        .filter(next_run__lt=timezone.now() - OVERDUE_AFTER)
        .values_list("name", flat=True)
    )
    running = bool(clusters) and not overdue
    if running:
        message = f"{len(clusters)} cluster(s) running: schedules will run"
    elif overdue:
        message = f"schedules are overdue ({', '.join(overdue[:3])}): no cluster "
        message += "is running them; " + HOW_TO_START
    else:
        message = "no cluster is running; " + HOW_TO_START
    return {
        "running": running,
        "clusters": clusters,
        "overdue": overdue,
        "message": message,
    }


def _clusters() -> list[dict[str, Any]]:
    from django_q.status import Stat

    try:
        stats = Stat.get_all()
    except Exception:  # a broker that cannot be reached has no cluster to show
        return []
    return [
        {"host": stat.host, "id": str(stat.cluster_id), "status": stat.status}
        for stat in stats
    ]
