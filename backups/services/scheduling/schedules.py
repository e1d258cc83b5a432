"""The brief's BackupSchedulerService: schedules as rows, django-q2 kept in step.

Invariants:
- A ``BackupSchedule`` row is the schedule. Its django-q2 ``Schedule`` is
  derived from it by ``sync_q_schedule`` after every create, change, disable
  and delete made through these functions (the admin calls them too), and
  ``sync_all_schedules`` (run by ``setup_schedules`` at every deploy) repairs
  any drift, such as rows a migration wrote.
- A disabled schedule has no django-q2 schedule; enabling it again starts at
  its next slot, never with a burst of missed ones.
- Every input is validated before anything is written; each refusal names
  its field (``ValidationError`` keyed by the model field).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django_q.models import Schedule

from backups.models import BACKUP_DATA_TYPES, BackupSchedule, BackupScheduleRun
from backups.services.scheduling.inputs import apply_brief_input
from backups.services.scheduling.validation import (
    TIMING_FIELDS,
    schedule_timing,
    validate_schedule,
)
from talowa_admin import queue
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)

RUN_FUNC = "backups.tasks.run_backup_schedule"
AUDITED_FIELDS = (
    "name",
    *TIMING_FIELDS,
    "incremental",
    "full_every_days",
    "data_types",
    "owner_id",
    "note",
    "enabled",
)

# --- the API -----------------------------------------------------------------------


def create_backup_schedule(
    *,
    schedule_name: str,
    interval: Any,
    data_types: list[str] | None = None,
    backup_config: Mapping[str, Any] | None = None,
    enabled: bool = True,
    actor: Any = None,
    request: Any = None,
) -> int:
    """Create a schedule (the brief's ``createBackupSchedule``); return its id."""
    schedule = BackupSchedule(
        name=str(schedule_name or "").strip(),
        enabled=enabled,
        created_by=actor if hasattr(actor, "get_username") else None,
    )
    apply_brief_input(
        schedule,
        interval=interval,
        data_types=list(BACKUP_DATA_TYPES) if data_types is None else data_types,
        backup_config=backup_config or {},
    )
    return save_schedule(schedule, actor=actor, request=request).pk


def update_backup_schedule(
    schedule_id: int, *, actor: Any = None, request: Any = None, **changes: Any
) -> BackupSchedule:
    """Change a schedule: ``schedule_name``, ``interval``, ``data_types``,
    ``backup_config`` and ``enabled``, as in ``create_backup_schedule``."""
    allowed = {"schedule_name", "interval", "data_types", "backup_config", "enabled"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationError(
            {
                unknown[0]: f"update_backup_schedule cannot change “{unknown[0]}”; "
                "it changes " + ", ".join(sorted(allowed)) + "."
            }
        )
    schedule = get_schedule(schedule_id)
    if "schedule_name" in changes:
        schedule.name = str(changes["schedule_name"] or "").strip()
    if "enabled" in changes:
        schedule.enabled = bool(changes["enabled"])
    apply_brief_input(
        schedule,
        interval=changes.get("interval"),
        data_types=changes.get("data_types"),
        backup_config=changes.get("backup_config"),
    )
    return save_schedule(schedule, actor=actor, request=request)


def get_schedule(schedule_id: Any) -> BackupSchedule:
    found = BackupSchedule.objects.filter(pk=_as_id(schedule_id)).first()
    if found is None:
        raise ValidationError({"schedule_id": f"No backup schedule {schedule_id}."})
    return found


def _as_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(
            {"schedule_id": f"“{value}” is not a schedule id."}
        ) from None


def save_schedule(
    schedule: BackupSchedule, *, actor: Any = None, request: Any = None
) -> BackupSchedule:
    """Validate, save and audit ``schedule``, and bring django-q2 in step."""
    validate_schedule(schedule)
    before = (
        BackupSchedule.objects.filter(pk=schedule.pk).first() if schedule.pk else None
    )
    with transaction.atomic():
        schedule.save()
        retime = before is None or any(
            getattr(before, f) != getattr(schedule, f) for f in TIMING_FIELDS
        )
        sync_q_schedule(schedule, retime=retime)
    changed = {
        field: {"from": getattr(before, field, None), "to": getattr(schedule, field)}
        for field in AUDITED_FIELDS
        if before is None or getattr(before, field) != getattr(schedule, field)
    }
    if changed:
        record_audit_event(
            actor=actor,
            action="schedule.create" if before is None else "schedule.change",
            target=schedule,
            details={"changed": changed},
            request=request,
        )
    return schedule


def set_schedules_enabled(
    schedules, *, enabled: bool, actor: Any = None, request: Any = None
) -> int:
    """Enable or disable ``schedules``; return how many changed."""
    changed = 0
    for schedule in schedules:
        if schedule.enabled != enabled:
            schedule.enabled = enabled
            save_schedule(schedule, actor=actor, request=request)
            changed += 1
    return changed


def delete_backup_schedule(
    schedule_id: Any, *, actor: Any = None, request: Any = None
) -> None:
    """Delete a schedule, its django-q2 schedule and its run history (audited)."""
    schedule = get_schedule(schedule_id)
    with transaction.atomic():
        _q_schedules_of(schedule).delete()
        details = {"name": schedule.name, "when": schedule_timing(schedule).describe()}
        record_audit_event(
            actor=actor,
            action="schedule.delete",
            target=schedule,
            details=details,
            request=request,
        )
        schedule.delete()


def execute_backup_now(
    schedule_id: Any, *, actor: Any = None, request: Any = None
) -> dict[str, Any]:
    """Queue one run of a schedule now; return its handle.

    The handle is ``{"run_id", "task_id", "backup_id"}``; ``backup_id`` is
    None until the worker has taken the backup (the run's row says).
    """
    schedule = get_schedule(schedule_id)
    run = BackupScheduleRun.objects.create(
        schedule=schedule,
        trigger=BackupScheduleRun.Trigger.MANUAL,
        requested_by=actor if hasattr(actor, "get_username") else None,
    )
    record_audit_event(
        actor=actor,
        action="schedule.run_now",
        target=schedule,
        details={"run": run.pk},
        request=request,
    )
    task_id = queue.enqueue(
        RUN_FUNC,
        schedule.pk,
        name=f"run now: {schedule.name}",
        group="backups",
        run_id=run.pk,
    )
    run.refresh_from_db()
    return {"run_id": run.pk, "task_id": task_id, "backup_id": run.backup_id}


# --- keeping django-q2 in step ------------------------------------------------------


def q_schedule_name(schedule: BackupSchedule) -> str:
    return f"backup schedule {schedule.pk}: {schedule.name}"[:100]


def _q_schedules_of(schedule: BackupSchedule):
    return Schedule.objects.filter(func=RUN_FUNC, args=repr((schedule.pk,)))


def sync_q_schedule(schedule: BackupSchedule, *, retime: bool = False) -> str:
    """Make ``schedule``'s django-q2 schedule match it; say what was done."""
    existing = list(_q_schedules_of(schedule).order_by("pk"))
    for extra in existing[1:]:
        extra.delete()
    current = existing[0] if existing else None
    if not schedule.enabled:
        if current is not None:
            current.delete()
        _remember_q_id(schedule, None)
        return "removed" if current is not None else "ok"
    timing = schedule_timing(schedule)
    wanted = {
        "name": q_schedule_name(schedule),
        "func": RUN_FUNC,
        "args": repr((schedule.pk,)),
        "kwargs": None,
        "repeats": -1,
        "cluster": None,
        "intended_date_kwarg": "slot",
        **timing.q_fields(),
    }
    if current is None:
        current = Schedule.objects.create(next_run=timing.first_run(), **wanted)
        outcome = "created"
    else:
        drifted = any(getattr(current, k) != v for k, v in wanted.items())
        if drifted or retime:
            if retime or current.schedule_type != wanted["schedule_type"]:
                wanted["next_run"] = timing.first_run()
            Schedule.objects.filter(pk=current.pk).update(**wanted)
        outcome = "updated" if drifted or retime else "ok"
    _remember_q_id(schedule, current.pk)
    return outcome


def _remember_q_id(schedule: BackupSchedule, q_id: int | None) -> None:
    if schedule.q_schedule_id != q_id:
        schedule.q_schedule_id = q_id
        BackupSchedule.objects.filter(pk=schedule.pk).update(q_schedule_id=q_id)


def sync_all_schedules() -> dict[str, str]:
    """Bring every schedule's django-q2 schedule in step; remove orphans."""
    outcome = {}
    for schedule in BackupSchedule.objects.all():
        outcome[schedule.name] = sync_q_schedule(schedule)
    wanted_args = {
        repr((pk,))
        for pk in BackupSchedule.objects.filter(enabled=True).values_list(
            "pk", flat=True
        )
    }
    orphans = Schedule.objects.filter(func=RUN_FUNC).exclude(args__in=wanted_args)
    for orphan in orphans:
        outcome[orphan.name or f"django-q2 schedule {orphan.pk}"] = "removed"
        orphan.delete()
    return outcome


def next_run_of(schedule: BackupSchedule):
    """Return when the schedule runs next, or None when it does not."""
    return next_runs_of([schedule]).get(schedule.pk)


def next_runs_of(schedules: list[BackupSchedule]) -> dict[int, Any]:
    """Return when each schedule runs next, by schedule id, in one query.

    A disabled schedule, or one without its django-q2 schedule, is left out.
    """
    wanted = {s.q_schedule_id: s.pk for s in schedules if s.enabled and s.q_schedule_id}
    if not wanted:
        return {}
    return {
        wanted[q_id]: next_run
        for q_id, next_run in Schedule.objects.filter(pk__in=wanted).values_list(
            "pk", "next_run"
        )
    }
