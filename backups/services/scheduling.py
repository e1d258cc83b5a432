"""The default django-q2 schedules, registered idempotently by name.

Schedules are rows of django-q2's ``Schedule``; this module owns the ones the
product needs so that ``setup_schedules`` can be run at every deploy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from django_q.models import Schedule


@dataclass(frozen=True)
class DefaultSchedule:
    name: str
    func: str
    minutes: int
    description: str


DEFAULT_SCHEDULES = (
    DefaultSchedule(
        "talowa: expire exports",
        "backups.tasks.cleanup_expired_exports",
        60,
        "delete expired export files and fail exports whose worker died",
    ),
)


def ensure_default_schedules() -> dict[str, str]:
    """Create missing default schedules and correct changed ones; say which."""
    outcome = {}
    for default in DEFAULT_SCHEDULES:
        wanted = {
            "func": default.func,
            "schedule_type": Schedule.MINUTES,
            "minutes": default.minutes,
            "repeats": -1,
        }
        current = Schedule.objects.filter(name=default.name).first()
        if current is None:
            Schedule.objects.create(
                name=default.name,
                next_run=timezone.now() + timedelta(minutes=1),
                **wanted,
            )
            outcome[default.name] = "created"
        elif any(getattr(current, k) != v for k, v in wanted.items()):
            Schedule.objects.filter(pk=current.pk).update(**wanted)
            outcome[default.name] = "updated"
        else:
            outcome[default.name] = "ok"
    return outcome
