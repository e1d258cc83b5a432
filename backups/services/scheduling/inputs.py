"""The brief's arguments (``interval``, ``data_types``, ``backup_config``) as fields.

``interval`` is a ``timedelta`` (every N minutes or hours) or a mapping such
as ``{"kind": "weekly", "weekday": "sunday", "at": "03:00"}``;
``backup_config`` takes the brief's ``includeMessages``-style flags (snake_case
too), ``incremental`` or ``kind``, ``full_every``, ``scope`` with ``user``,
and ``note``. Parsing errors are ``ValidationError`` keyed by the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from backups.models import BACKUP_DATA_TYPES, BackupSchedule
from backups.services.scheduling.timing import WEEKDAYS

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
