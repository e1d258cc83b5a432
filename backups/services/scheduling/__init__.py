"""Backup schedules: the brief's BackupSchedulerService and the default schedules.

- ``schedules``: create, change, delete and run schedules; django-q2 in step.
- ``inputs`` and ``validation``: the brief's arguments as fields, checked.
- ``runs``: one run of a schedule (slot claim, skip, retry, failure).
- ``defaults``: the default schedules of ``setup_schedules``.
- ``cluster``: ``start_scheduler``, which says whether a cluster is running.
- ``timing``: kinds of interval in django-q2's terms.
"""

from __future__ import annotations

from backups.services.scheduling.cluster import start_scheduler
from backups.services.scheduling.defaults import (
    DEFAULT_SCHEDULES,
    apply_default_backup_interval,
    ensure_default_schedules,
)
from backups.services.scheduling.runs import run_backup_schedule
from backups.services.scheduling.schedules import (
    create_backup_schedule,
    delete_backup_schedule,
    execute_backup_now,
    save_schedule,
    set_schedules_enabled,
    sync_all_schedules,
    update_backup_schedule,
)
from backups.services.scheduling.validation import validate_schedule

__all__ = [
    "DEFAULT_SCHEDULES",
    "apply_default_backup_interval",
    "create_backup_schedule",
    "delete_backup_schedule",
    "ensure_default_schedules",
    "execute_backup_now",
    "run_backup_schedule",
    "save_schedule",
    "set_schedules_enabled",
    "start_scheduler",
    "sync_all_schedules",
    "update_backup_schedule",
    "validate_schedule",
]
