"""The recovery app's django-q2 schedules, registered idempotently by name.

``setup_schedules`` calls these at every deploy; calling them again changes
nothing unless the wanted schedule differs from the stored one.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_q.models import Schedule

HEALTH_CHECK_SCHEDULE = "talowa: hourly health check"
RESTORE_DRILL_SCHEDULE = "talowa: weekly restore drill"


def ensure_schedule(name: str, *, func: str, schedule_type: str) -> str:
    """Create or correct the repeating schedule ``name``; say which."""
    wanted = {"func": func, "schedule_type": schedule_type, "repeats": -1}
    current = Schedule.objects.filter(name=name).first()
    if current is None:
        Schedule.objects.create(
            name=name, next_run=timezone.now() + timedelta(minutes=1), **wanted
        )
        return "created"
    if any(getattr(current, key) != value for key, value in wanted.items()):
        Schedule.objects.filter(pk=current.pk).update(**wanted)
        return "updated"
    return "ok"


def schedule_restore_drills() -> dict[str, str]:
    """Register the weekly restore drill of the newest chain."""
    return {
        RESTORE_DRILL_SCHEDULE: ensure_schedule(
            RESTORE_DRILL_SCHEDULE,
            func="recovery.tasks.restore_drill",
            schedule_type=Schedule.WEEKLY,
        )
    }


def schedule_health_checks() -> dict[str, str]:
    """Register the hourly health check (history and alerts)."""
    return {
        HEALTH_CHECK_SCHEDULE: ensure_schedule(
            HEALTH_CHECK_SCHEDULE,
            func="recovery.tasks.health_check",
            schedule_type=Schedule.HOURLY,
        )
    }
