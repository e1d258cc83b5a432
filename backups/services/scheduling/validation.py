"""Validate a backup schedule; each refusal names its field.

The API and the admin form both call ``validate_schedule``, so they refuse the
same things with the same words.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from backups.models import BACKUP_DATA_TYPES, BackupSchedule
from backups.services.scheduling.timing import Timing

DEFAULT_MIN_MINUTES = 5
TIMING_FIELDS = ("kind", "every", "at_time", "weekday", "day_of_month")


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
