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
from datetime import time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django_q.models import Schedule

from backups.models import BACKUP_DATA_TYPES, BackupSchedule, BackupScheduleRun
from backups.services.scheduling.timing import WEEKDAYS, Timing
from talowa_admin import queue
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)

RUN_FUNC = "backups.tasks.run_backup_schedule"
DEFAULT_MIN_MINUTES = 5
TIMING_FIELDS = ("kind", "every", "at_time", "weekday", "day_of_month")
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
# The brief's backupConfig flags, camelCase or snake_case, to data types.
INCLUDE_FLAGS = {
    "includeMessages": "messages",
    "include_messages": "messages",
    "includeConversations": "conversations",
    "include_conversations": "conversations",
    "includeCallHistory": "call_history",
    "include_call_history": "call_history",
    "includeMediaFiles": "media_files",
    "include_media_files": "media_files",
}
CONFIG_KEYS = {
    *INCLUDE_FLAGS,
    "full_every",
    "fullEvery",
    "incremental",
    "kind",
    "scope",
    "user",
    "note",
}


def schedule_timing(schedule: BackupSchedule) -> Timing:
    return Timing(
        kind=schedule.kind,
        every=schedule.every,
        at=schedule.at_time,
        weekday=schedule.weekday,
        day=schedule.day_of_month,
    )


def minimum_interval() -> timedelta:
    """The shortest interval a schedule may have (``TALOWA_SCHEDULE_MIN_MINUTES``)."""
    return timedelta(
        minutes=getattr(settings, "TALOWA_SCHEDULE_MIN_MINUTES", DEFAULT_MIN_MINUTES)
    )


# --- validation --------------------------------------------------------------


# The timing fields each kind uses; the others are cleared.
KIND_FIELDS = {
    "minutes": {"every"},
    "hours": {"every"},
    "daily": {"at_time"},
    "weekly": {"at_time", "weekday"},
    "monthly": {"at_time", "day_of_month"},
}


def validate_schedule(schedule: BackupSchedule) -> None:
    """Raise ``ValidationError`` naming each field of ``schedule`` that is wrong.

    First clears the timing fields that its kind does not use.
    """
    for field in set(TIMING_FIELDS[1:]) - KIND_FIELDS.get(schedule.kind, set()):
        setattr(schedule, field, None)
    errors: dict[str, str] = {}
    name = (schedule.name or "").strip()
    if not name:
        errors["name"] = "Give the schedule a name."
    elif BackupSchedule.objects.filter(name=name).exclude(pk=schedule.pk).exists():
        errors["name"] = f"A schedule named “{name}” already exists; choose another."
    errors.update(_timing_errors(schedule))
    errors.update(_data_type_errors(schedule.data_types))
    if schedule.full_every_days is not None:
        if not schedule.incremental:
            errors["full_every_days"] = (
                "Only an incremental schedule takes a full backup every so many "
                "days; leave it empty for a full schedule."
            )
        elif not 1 <= schedule.full_every_days <= 366:
            errors["full_every_days"] = "Give a number of days from 1 to 366."
    if errors:
        raise ValidationError(errors)


def _timing_errors(schedule: BackupSchedule) -> dict[str, str]:
    kind = schedule.kind
    if kind not in BackupSchedule.Kind.values:
        return {
            "kind": f"Unknown interval kind “{kind}”; choose among "
            + ", ".join(BackupSchedule.Kind.values)
            + "."
        }
    if kind in ("minutes", "hours"):
        if not schedule.every or schedule.every < 1:
            return {"every": f"Give how many {kind} between runs (a whole number)."}
        period = schedule_timing(schedule).period
        if period < minimum_interval():
            floor = int(minimum_interval().total_seconds() // 60)
            return {
                "every": f"Every {schedule.every} {kind} is too often: the interval "
                f"must be at least {floor} minutes."
            }
        if period > timedelta(days=31):
            return {"every": "The interval must be at most 31 days."}
        return {}
    errors = {}
    if schedule.at_time is None:
        errors["at_time"] = f"Give the time of day (HH:MM) of a {kind} schedule."
    if kind == "weekly" and schedule.weekday not in range(7):
        errors["weekday"] = "Choose the day of the week of a weekly schedule."
    if kind == "monthly" and schedule.day_of_month not in range(1, 29):
        errors["day_of_month"] = (
            "Give the day of the month from 1 to 28 (every month has those)."
        )
    return errors


def _data_type_errors(data_types: Any) -> dict[str, str]:
    if not isinstance(data_types, list | tuple):
        return {"data_types": "Give the data types as a list."}
    unknown = [t for t in data_types if t not in BACKUP_DATA_TYPES]
    if unknown:
        return {
            "data_types": f"Unknown data type “{unknown[0]}”; choose among "
            + ", ".join(BACKUP_DATA_TYPES)
            + "."
        }
    if not data_types:
        return {"data_types": "Choose at least one data type to back up."}
    return {}


# --- the brief's input ---------------------------------------------------------


def apply_brief_input(
    schedule: BackupSchedule,
    *,
    interval: Any = None,
    data_types: Any = None,
    backup_config: Mapping[str, Any] | None = None,
) -> None:
    """Set fields of ``schedule`` from the brief's arguments (only those given)."""
    if interval is not None:
        for field, value in parse_interval(interval).items():
            setattr(schedule, field, value)
    if data_types is not None:
        schedule.data_types = (
            list(data_types) if isinstance(data_types, list | tuple) else data_types
        )
    if backup_config is not None:
        _apply_config(schedule, backup_config)


def parse_interval(interval: Any) -> dict[str, Any]:
    """Turn a ``timedelta`` or ``{"kind": "daily", "at": "02:00", ...}`` into fields."""
    if isinstance(interval, timedelta):
        minutes = interval.total_seconds() / 60
        if minutes != int(minutes):
            raise ValidationError({"every": "Give the interval in whole minutes."})
        if minutes and minutes % 60 == 0:
            return _interval_fields("hours", every=int(minutes // 60))
        return _interval_fields("minutes", every=int(minutes))
    if not isinstance(interval, Mapping):
        raise ValidationError(
            {
                "kind": "Give the interval as a timedelta or as a mapping such as "
                '{"kind": "daily", "at": "02:00"}.'
            }
        )
    kind = str(interval.get("kind", ""))
    return _interval_fields(
        kind,
        every=interval.get("every"),
        at=_parse_time(interval.get("at")),
        weekday=_parse_weekday(interval.get("weekday")),
        day=interval.get("day"),
    )


def _interval_fields(kind, *, every=None, at=None, weekday=None, day=None) -> dict:
    return {
        "kind": kind,
        "every": every,
        "at_time": at,
        "weekday": weekday,
        "day_of_month": day,
    }


def _parse_time(value: Any) -> time | None:
    if value is None or isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(
            {"at_time": f"“{value}” is not a time of day; write it as HH:MM."}
        ) from None


def _parse_weekday(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    names = [day.lower() for day in WEEKDAYS]
    if str(value).lower() in names:
        return names.index(str(value).lower())
    raise ValidationError(
        {"weekday": f"“{value}” is not a day of the week; write e.g. Sunday or 6."}
    )


def _apply_config(schedule: BackupSchedule, config: Mapping[str, Any]) -> None:
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise ValidationError(
            {
                "backup_config": f"Unknown backup_config key “{unknown[0]}”; known: "
                + ", ".join(sorted(CONFIG_KEYS))
                + "."
            }
        )
    types = list(schedule.data_types or [])
    for key, data_type in INCLUDE_FLAGS.items():
        if key in config and config[key] and data_type not in types:
            types.append(data_type)
        elif key in config and not config[key] and data_type in types:
            types.remove(data_type)
    schedule.data_types = [t for t in BACKUP_DATA_TYPES if t in types] + [
        t for t in types if t not in BACKUP_DATA_TYPES
    ]
    if "incremental" in config:
        schedule.incremental = bool(config["incremental"])
    if "kind" in config:
        if config["kind"] not in ("full", "incremental"):
            raise ValidationError(
                {"incremental": "backup_config kind must be full or incremental."}
            )
        schedule.incremental = config["kind"] == "incremental"
    full_every = config.get("full_every", config.get("fullEvery"))
    if full_every is not None:
        schedule.full_every_days = _days(full_every)
    if "scope" in config or "user" in config:
        schedule.owner = _scope_owner(config.get("scope"), config.get("user"))
    if "note" in config:
        schedule.note = str(config["note"])[:200]


def _days(value: Any) -> int:
    if isinstance(value, timedelta):
        if value % timedelta(days=1):
            raise ValidationError({"full_every_days": "Give full_every in whole days."})
        return value.days
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValidationError(
        {"full_every_days": "Give full_every as a timedelta or a number of days."}
    )


def _scope_owner(scope: Any, user: Any):
    if scope not in (None, "system", "user"):
        raise ValidationError({"owner": "backup_config scope must be system or user."})
    if scope == "system" or (scope is None and user is None):
        return None
    if user is None:
        raise ValidationError({"owner": "A user scope needs backup_config user."})
    if hasattr(user, "get_username"):
        return user
    users = get_user_model().objects
    found = users.filter(**{users.model.USERNAME_FIELD: str(user)}).first()
    if found is None and isinstance(user, int):
        found = users.filter(pk=user).first()
    if found is None:
        raise ValidationError({"owner": f"No user named “{user}”."})
    return found


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
    if not schedule.enabled or not schedule.q_schedule_id:
        return None
    return (
        Schedule.objects.filter(pk=schedule.q_schedule_id)
        .values_list("next_run", flat=True)
        .first()
    )
