"""The maintenance jobs' schedules for status pages: next run, last run, result.

Two queries whatever the queue's history: the django-q2 schedules of the
default maintenance jobs, then the last task of each (by its id).
"""

from __future__ import annotations

from typing import Any

from django_q.models import Schedule, Task

from backups.services.scheduling.defaults import DEFAULT_SCHEDULES


def maintenance_job_summaries() -> list[dict[str, Any]]:
    """Return each registered maintenance job: timing, next and last run, result.

    ``{"name", "description", "timing", "next_run", "last_run",
    "last_result": "succeeded" | "failed" | None}``, soonest first.
    """
    defaults = {default.name: default for default in DEFAULT_SCHEDULES}
    schedules = list(
        Schedule.objects.filter(name__in=list(defaults)).order_by("next_run", "name")
    )
    tasks = Task.objects.only("id", "stopped", "success").in_bulk(
        [schedule.task for schedule in schedules if schedule.task]
    )
    summaries = []
    for schedule in schedules:
        default = defaults[schedule.name]
        task = tasks.get(schedule.task) if schedule.task else None
        summaries.append(
            {
                "name": schedule.name,
                "description": default.description,
                "timing": default.timing.describe(),
                "next_run": schedule.next_run,
                "last_run": task.stopped if task else None,
                "last_result": (
                    None if task is None else "succeeded" if task.success else "failed"
                ),
            }
        )
    return summaries
