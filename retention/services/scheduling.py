"""The daily cleanup as a django-q2 schedule."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.utils import timezone
from django_q.models import Schedule

CLEANUP_SCHEDULE_NAME = "retention: daily cleanup"
CLEANUP_TASK = "retention.tasks.run_scheduled_cleanup"
# As setup_schedules registers it (backups.services.scheduling.defaults), in
# TIME_ZONE: after the night's full backup has started.
CLEANUP_TIME = time(3, 0)


def schedule_automatic_cleanup() -> str:
    """Create or correct the daily cleanup schedule (idempotent, by name).

    Returns ``"created"``, ``"updated"`` or ``"ok"``, as ``setup_schedules``
    reports its own schedules.
    """
    wanted = {"func": CLEANUP_TASK, "schedule_type": Schedule.DAILY, "repeats": -1}
    current = Schedule.objects.filter(name=CLEANUP_SCHEDULE_NAME).first()
    if current is None:
        Schedule.objects.create(
            name=CLEANUP_SCHEDULE_NAME, next_run=_next_run(), **wanted
        )
        return "created"
    if any(getattr(current, k) != v for k, v in wanted.items()):
        Schedule.objects.filter(pk=current.pk).update(**wanted)
        return "updated"
    return "ok"


def _next_run() -> datetime:
    now = timezone.localtime()
    today = datetime.combine(now.date(), CLEANUP_TIME, tzinfo=now.tzinfo)
    return today if today > now else today + timedelta(days=1)
