"""The default schedules, registered idempotently by ``setup_schedules`` at each deploy.

Two kinds:
- Backup schedules (``BackupSchedule`` rows, edited in the admin): a daily
  full system backup at 02:00 and incrementals every
  ``SystemSettings.default_backup_interval`` between. A deploy creates a
  missing one and never undoes an operator's changes; to stop one, disable
  it (a deleted default comes back at the next deploy).
- Maintenance jobs (django-q2 schedules by name): expired exports hourly,
  backup expiry by keep rules daily, verification of the newest chain
  weekly, and slots that other parts fill: retention cleanup, the hourly
  health check and the weekly restore drill. A slot is registered once its
  function exists (``waiting`` until then); a deploy corrects a changed job.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

from django_q.models import Schedule

from backups.models import BACKUP_DATA_TYPES, BackupSchedule
from backups.services.scheduling.inputs import parse_interval
from backups.services.scheduling.schedules import save_schedule, sync_all_schedules
from backups.services.scheduling.timing import Timing
from talowa_admin.models import SystemSettings

SETUP_ACTOR = "command:setup_schedules"


@dataclass(frozen=True)
class DefaultSchedule:
    name: str
    func: str
    timing: Timing
    description: str


DEFAULT_SCHEDULES = (
    DefaultSchedule(
        "talowa: expire exports",
        "backups.tasks.cleanup_expired_exports",
        Timing("minutes", every=60),
        "delete expired export files and fail exports whose worker died",
    ),
    DefaultSchedule(
        "talowa: expire backups",
        "backups.tasks.expire_backups_by_keep_rules",
        Timing("daily", at=time(3, 30)),
        "expire backups by the default keep rules (when automatic cleanup is on)",
    ),
    DefaultSchedule(
        "talowa: verify newest chain",
        "backups.tasks.verify_newest_chain",
        Timing("weekly", at=time(4, 0), weekday=6),
        "read, decrypt and check every archive of the newest system backup chain",
    ),
    # Slots for other parts: registered once their task function exists.
    DefaultSchedule(
        # The same schedule as retention.services.schedule_automatic_cleanup.
        "retention: daily cleanup",
        "retention.tasks.run_scheduled_cleanup",
        Timing("daily", at=time(3, 0)),
        "archive messaging data past its retention period (when automatic "
        "cleanup is on)",
    ),
    DefaultSchedule(
        "talowa: health check",
        "recovery.tasks.check_system_health",
        Timing("minutes", every=60),
        "check the system's health and alert when it is not healthy",
    ),
    DefaultSchedule(
        "talowa: restore drill",
        "recovery.tasks.restore_drill",
        Timing("weekly", at=time(5, 0), weekday=6),
        "restore the newest chain into a scratch copy, compare it, record the RTO",
    ),
)

DAILY_FULL = "daily-full"
INCREMENTAL = "incremental"
BACKUP_SCHEDULE_DESCRIPTIONS = {
    DAILY_FULL: "a full system backup every day at 02:00",
    INCREMENTAL: "incremental system backups every default_backup_interval "
    "(disabled while that is a day or more)",
}


def ensure_default_schedules(*, actor: Any = SETUP_ACTOR) -> dict[str, str]:
    """Register what is missing, correct what drifted; say what happened to each."""
    outcome = ensure_default_backup_schedules(actor=actor)
    outcome.update(ensure_maintenance_schedules())
    return outcome


def ensure_maintenance_schedules() -> dict[str, str]:
    outcome = {}
    for default in DEFAULT_SCHEDULES:
        current = Schedule.objects.filter(name=default.name).first()
        if not function_exists(default.func):
            if current is not None:
                current.delete()
            outcome[default.name] = f"waiting for {default.func}"
            continue
        wanted = {"func": default.func, "repeats": -1, **default.timing.q_fields()}
        if current is None:
            Schedule.objects.create(
                name=default.name, next_run=default.timing.first_run(), **wanted
            )
            outcome[default.name] = "created"
        elif any(getattr(current, k) != v for k, v in wanted.items()):
            Schedule.objects.filter(pk=current.pk).update(**wanted)
            outcome[default.name] = "updated"
        else:
            outcome[default.name] = "ok"
    return outcome


def function_exists(dotted: str) -> bool:
    module, _, name = dotted.rpartition(".")
    try:
        return callable(getattr(importlib.import_module(module), name, None))
    except ImportError:
        return False


def ensure_default_backup_schedules(*, actor: Any = SETUP_ACTOR) -> dict[str, str]:
    """Create the default backup schedules that are missing; sync every schedule."""
    created = set()
    for key, schedule in _default_backup_schedules().items():
        if not BackupSchedule.objects.filter(builtin=key).exists():
            if BackupSchedule.objects.filter(name=schedule.name).exists():
                schedule.name = f"{schedule.name} ({key})"
            save_schedule(schedule, actor=actor)
            created.add(schedule.name)
    outcome = sync_all_schedules()
    return {
        name: "created" if name in created else state for name, state in outcome.items()
    }


def _default_backup_schedules() -> dict[str, BackupSchedule]:
    interval = SystemSettings.load().default_backup_interval
    incremental = BackupSchedule(
        name="Incremental backups",
        builtin=INCREMENTAL,
        incremental=True,
        data_types=list(BACKUP_DATA_TYPES),
        enabled=interval < timedelta(days=1),
        **incremental_timing(interval),
    )
    return {
        DAILY_FULL: BackupSchedule(
            name="Daily full backup",
            builtin=DAILY_FULL,
            kind=BackupSchedule.Kind.DAILY,
            at_time=time(2, 0),
            data_types=list(BACKUP_DATA_TYPES),
        ),
        INCREMENTAL: incremental,
    }


def incremental_timing(interval: timedelta) -> dict[str, Any]:
    """The fields of "every ``interval``" (at most a day) for the incrementals."""
    return parse_interval(min(interval, timedelta(days=1)))


def apply_default_backup_interval(interval: timedelta, *, actor: Any = None) -> bool:
    """Follow a new ``default_backup_interval`` with the default incrementals."""
    schedule = BackupSchedule.objects.filter(builtin=INCREMENTAL).first()
    if schedule is None:
        return False
    for field, value in incremental_timing(interval).items():
        setattr(schedule, field, value)
    schedule.enabled = interval < timedelta(days=1)
    save_schedule(schedule, actor=actor)
    return True
