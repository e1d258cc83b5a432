"""The daily cleanup as a django-q2 schedule."""

from __future__ import annotations

from django.utils import timezone
from django_q.models import Schedule

CLEANUP_SCHEDULE_NAME = "retention: daily cleanup"
CLEANUP_TASK = "retention.tasks.run_scheduled_cleanup"


def schedule_automatic_cleanup() -> None:
    """Create or update the daily cleanup schedule (idempotent, by name)."""
    existing = Schedule.objects.filter(name=CLEANUP_SCHEDULE_NAME).first()
    wanted = {"func": CLEANUP_TASK, "schedule_type": Schedule.DAILY, "repeats": -1}
    if existing is None:
        Schedule.objects.create(
            name=CLEANUP_SCHEDULE_NAME,
            next_run=timezone.now().replace(hour=3, minute=30, second=0, microsecond=0)
            + timezone.timedelta(days=1),
            **wanted,
        )
        return
    changed = [k for k, v in wanted.items() if getattr(existing, k) != v]
    for name in changed:
        setattr(existing, name, wanted[name])
    if changed:
        existing.save(update_fields=changed)
