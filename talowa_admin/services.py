"""The brief's integration facade (``BackupRecoveryIntegrationService``).

The top layer of the project: it calls the apps' services and never the other
way round. Each function keeps the brief's name and keyword arguments.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from backups.models import Backup
from backups.selectors import newest_audit_anchor
from backups.services import (
    create_backup_schedule,
    delete_backup_schedule,
    execute_backup_now,
    exporting,
    start_scheduler,
    update_backup_schedule,
)
from backups.services.scheduling import (
    apply_default_backup_interval,
    ensure_default_schedules,
)
from backups.services.usage import (
    recent_backups,
    schedule_summaries,
    storage_usage,
    weekly_growth,
)
from recovery.services import check_system_health, plans
from recovery.services.health import latest_health
from recovery.services.maintenance import perform_system_maintenance
from retention.exceptions import InvalidRetentionPolicy
from retention.services import validate_periods
from talowa_admin.audit import AuditAnchor, record_audit_event, verify_audit_chain
from talowa_admin.models import SystemSettings, normalize_retention_periods

__all__ = [
    "check_system_health",
    "configure_system_settings",
    "create_backup_schedule",
    "delete_backup_schedule",
    "execute_backup_now",
    "execute_disaster_recovery",
    "get_backup_status",
    "initialize_backup_system",
    "perform_data_export",
    "perform_system_maintenance",
    "start_scheduler",
    "update_backup_schedule",
    "verify_audit_log",
]

_SETTING_NAMES = (
    "default_backup_interval",
    "default_retention_periods",
    "enable_automatic_cleanup",
    "max_backups_per_user",
    "max_storage_per_user",
)


def configure_system_settings(
    *,
    default_backup_interval: timedelta | None = None,
    default_retention_periods: dict[str, int] | None = None,
    enable_automatic_cleanup: bool | None = None,
    max_backups_per_user: int | None = None,
    max_storage_per_user: int | None = None,
    actor: Any = None,
    request: Any = None,
) -> SystemSettings:
    """Change the system-wide settings; arguments left as None keep their value.

    Retention periods are merged into the current ones, so passing only
    ``{"messages": ...}``-style subsets is enough (``messages`` sets every
    message type not named itself). Raises ``ValidationError`` with every
    invalid field and changes nothing in that case. A new backup interval
    retimes the default incremental backup schedule.
    """
    given = {
        "default_backup_interval": default_backup_interval,
        "default_retention_periods": default_retention_periods,
        "enable_automatic_cleanup": enable_automatic_cleanup,
        "max_backups_per_user": max_backups_per_user,
        "max_storage_per_user": max_storage_per_user,
    }
    changes = {name: value for name, value in given.items() if value is not None}
    with transaction.atomic():
        current = SystemSettings.objects.select_for_update().filter(id=1).first()
        current = current or SystemSettings.load()
        before = {name: getattr(current, name) for name in _SETTING_NAMES}
        if "default_retention_periods" in changes:
            _check_mapping(changes["default_retention_periods"])
            changes["default_retention_periods"] = {
                **current.default_retention_periods,
                **normalize_retention_periods(changes["default_retention_periods"]),
            }
        for name, value in changes.items():
            setattr(current, name, value)
        current.full_clean()
        if "default_retention_periods" in changes:
            _check_legal_bounds(current.default_retention_periods)
        if _is_user(actor):
            current.updated_by = actor
        current.save()
    changed = {
        name: {"from": before[name], "to": getattr(current, name)}
        for name in _SETTING_NAMES
        if before[name] != getattr(current, name)
    }
    if changed:
        record_audit_event(
            actor=actor,
            action="settings.change",
            target=current,
            details={"changed": changed},
            request=request,
        )
    if "default_backup_interval" in changed:
        apply_default_backup_interval(current.default_backup_interval, actor=actor)
    return current


def initialize_backup_system(
    *,
    create_default_schedules: bool = True,
    enable_auto_cleanup: bool = True,
    custom_retention_periods: dict[str, int] | None = None,
    actor: Any = None,
) -> dict[str, Any]:
    """Set up unattended protection (the brief's ``initializeBackupSystem``).

    Applies the cleanup switch and any custom retention periods (the brief's
    keys, ``messages`` included), registers the default schedules (as
    ``setup_schedules`` does) and reports whether a cluster will run them.
    """
    current = configure_system_settings(
        enable_automatic_cleanup=enable_auto_cleanup,
        default_retention_periods=custom_retention_periods,
        actor=actor,
    )
    schedules = (
        ensure_default_schedules(actor=actor) if create_default_schedules else {}
    )
    return {
        "settings": {
            "enable_automatic_cleanup": current.enable_automatic_cleanup,
            "default_retention_periods": current.default_retention_periods,
            "default_backup_interval": current.default_backup_interval,
        },
        "schedules": schedules,
        "scheduler": start_scheduler(),
    }


def _check_mapping(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError(
            {"default_retention_periods": "Give a mapping of data type to days."}
        )


def _check_legal_bounds(periods: dict[str, int]) -> None:
    """Refuse a global default outside a type's legal bounds."""
    try:
        validate_periods(periods, entity_type="global")
    except InvalidRetentionPolicy as exc:
        messages = [m for ms in exc.message_dict.values() for m in ms]
        raise ValidationError({"default_retention_periods": messages}) from exc


def _is_user(actor: Any) -> bool:
    return hasattr(actor, "get_username")


def perform_data_export(
    *,
    user: Any,
    data_types: list[str] | None = None,
    format: str = "json",  # noqa: A002 (the brief's name)
    include_metadata: bool = True,
    scope: str = "sent",
    create_backup: bool = False,
    actor: Any = None,
):
    """Export one user's data, optionally backing it up first (the brief's API)."""
    return exporting.perform_data_export(
        user=user,
        data_types=data_types,
        format=format,
        include_metadata=include_metadata,
        scope=scope,
        create_backup=create_backup,
        actor=actor,
    )


def execute_disaster_recovery(
    *,
    backup_id: str,
    validate_before_restore: bool = True,
    create_pre_restore_backup: bool = True,
    actor: Any = None,
) -> dict[str, Any]:
    """Run the default recovery plan for ``backup_id`` (the brief's API)."""
    return plans.execute_disaster_recovery(
        backup_id=backup_id,
        validate_before_restore=validate_before_restore,
        create_pre_restore_backup=create_pre_restore_backup,
        actor=actor,
    )


def get_backup_status() -> dict[str, Any]:
    """Return storage usage, recent backups, schedules and recommendations.

    The keys are documented in docs/operations.md ("Backup status");
    ``health`` gives the newest stored state of each health component.
    Recommendations come from the newest stored health check (``check_health``
    and the hourly schedule store it) and from the storage's growth.
    """
    return backup_status(cached_storage_usage())


def backup_status(usage: dict[str, Any]) -> dict[str, Any]:
    """Return ``get_backup_status()``'s figures around the storage ``usage`` given.

    For a caller that caches the whole status itself (the dashboard, under
    its own fingerprint), so the storage figures are not looked up twice.
    """
    health = latest_health()
    return {
        "storage_usage": usage,
        "backup_history": recent_backups(),
        "schedules": schedule_summaries(),
        "recommendations": [
            snapshot.recommendation
            for snapshot in health.values()
            if snapshot.recommendation
        ]
        + storage_trend(usage),
        "health": {
            name: {
                "status": snapshot.status,
                "value": snapshot.value,
                "threshold": snapshot.threshold,
                "detail": snapshot.detail,
                "recommendation": snapshot.recommendation,
                "checked_at": snapshot.checked_at,
            }
            for name, snapshot in health.items()
        },
    }


STATUS_CACHE_SECONDS = 3600


def cached_storage_usage() -> dict[str, Any]:
    """Return ``storage_usage()``, cached until the backup catalog changes.

    The cache key carries a fingerprint of the catalog (backups, the newest
    finish, the newest status change) and today's date (the daily series
    ends today), so a backup that finishes, fails or expires makes the next
    call compute afresh on every process, whether or not they share the
    cache. The fingerprint is one aggregate over the catalog; a miss costs
    the four of ``storage_usage``.
    """
    fingerprint = Backup.objects.aggregate(
        count=Count("id"),
        completed=Count("id", filter=Q(status=Backup.Status.COMPLETED)),
        finished=Max("finished_at"),
        stored=Sum("stored_bytes", filter=Q(status=Backup.Status.COMPLETED)),
    )
    fingerprint["today"] = timezone.localdate()
    key = (
        "talowa:storage_usage:"
        + hashlib.sha256(repr(sorted(fingerprint.items())).encode()).hexdigest()[:32]
    )
    usage = cache.get(key)
    if usage is None:
        usage = storage_usage()
        cache.set(key, usage, STATUS_CACHE_SECONDS)
    return usage


def storage_trend(usage: dict[str, Any]) -> list[str]:
    """Say how fast the backup storage grows and when the quota is reached."""
    growth = weekly_growth(usage["daily"])
    if growth <= 0:
        return []
    sentence = f"Backup storage grows {_size(growth)} a week"
    quota = settings.TALOWA_BACKUP_STORAGE_QUOTA_BYTES
    held = usage["total"]["bytes"]
    if not quota:
        return [sentence + "."]
    if held >= quota:
        return [
            f"{sentence}; the quota of {_size(quota)} is reached: run "
            "`expire_backups` or raise TALOWA_BACKUP_STORAGE_QUOTA_BYTES."
        ]
    weeks = (quota - held) / growth
    return [
        f"{sentence}; the quota of {_size(quota)} is reached in {weeks:.0f} "
        f"week{'s' if round(weeks) != 1 else ''}: plan `expire_backups` rules or "
        "more space."
    ]


def _size(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def verify_audit_log() -> dict[str, Any]:
    """Check the audit trail's chain and that it reaches the newest backup's head.

    Returns ``{"ok", "checked", "broken_at", "reason", "anchor", "missing"}``
    (the ``verify_audit_log`` command's JSON).
    """
    backup = newest_audit_anchor()
    anchor = None
    if backup is not None:
        anchor = AuditAnchor(
            event_id=backup.audit_head_event_id,
            hash=backup.audit_head_hash,
            source=f"backup {backup.id}",
        )
    result = verify_audit_chain(anchor)
    missing = None
    if result.missing is not None:
        first, last = result.missing
        missing = {"first": first, "last": last, "count": last - first + 1}
    return {
        "ok": result.ok,
        "checked": result.checked,
        "broken_at": result.broken_at,
        "reason": result.reason,
        "anchor": {"backup": backup.id, **backup.audit_head} if backup else None,
        "missing": missing,
    }
