"""Expire backups by keep rules, like restic's ``forget``.

Invariants:
- Rules choose backups to keep among the completed backups of each scope; a
  kept backup keeps its whole chain (an incremental is useless without its
  full and the incrementals between), so no kept backup ever loses a parent.
- Backups of a user under legal hold are never expired.
- Expiring deletes the archive and both sidecar copies and marks the record
  expired (the record stays, for history and audit). ``dry_run`` reports the
  same plan and changes nothing.
- Expiry holds ``locks.BACKUP_OBJECTS_LOCK``: it is refused while a storage
  migration or a conversion runs (it would delete the source of a copy in
  flight and leave the copy behind), and they wait for it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from backups.exceptions import BackupError
from backups.models import Backup
from backups.services.sidecars import delete_sidecars
from backups.storage import object_store
from retention.selectors import users_under_legal_hold
from talowa_admin import locks
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)

DEFAULT_KEEP = {"keep_last": 3, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12}


@dataclass(frozen=True)
class KeepRules:
    keep_last: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_within: timedelta | None = None

    def __post_init__(self) -> None:
        counts = (self.keep_last, self.keep_daily, self.keep_weekly, self.keep_monthly)
        if any(n < 0 for n in counts):
            raise ValueError("keep counts cannot be negative")
        if self.keep_within is not None and self.keep_within <= timedelta(0):
            raise ValueError("keep-within must be a positive duration")
        if not any(counts) and self.keep_within is None:
            raise ValueError(
                "no keep rule given: that would expire every backup; give at least "
                "one of keep-last, keep-daily, keep-weekly, keep-monthly, keep-within"
            )


@dataclass
class ExpiryPlan:
    keep: dict[str, list[str]] = field(default_factory=dict)  # id -> reasons
    expire: list[Backup] = field(default_factory=list)


def plan_expiry(backups: list[Backup], rules: KeepRules) -> ExpiryPlan:
    """Decide which completed backups to keep, per scope, and why."""
    plan = ExpiryPlan()
    held = users_under_legal_hold()
    by_scope: dict[Any, list[Backup]] = defaultdict(list)
    for backup in backups:
        by_scope[(backup.scope, backup.owner_id)].append(backup)
    for (_scope, owner_id), group in by_scope.items():
        group.sort(key=lambda b: b.created_at, reverse=True)
        reasons = _keep_reasons(group, rules)
        if owner_id in held:
            for backup in group:
                reasons.setdefault(backup.id, []).append("legal hold")
        _keep_chains(group, reasons)
        plan.keep.update(reasons)
        plan.expire.extend(b for b in group if b.id not in reasons)
    return plan


def _keep_reasons(newest_first: list[Backup], rules: KeepRules) -> dict[str, list[str]]:
    reasons: dict[str, list[str]] = defaultdict(list)
    for backup in newest_first[: rules.keep_last]:
        reasons[backup.id].append("last")
    buckets = (
        ("daily", rules.keep_daily, lambda t: t.date()),
        ("weekly", rules.keep_weekly, lambda t: t.isocalendar()[:2]),
        ("monthly", rules.keep_monthly, lambda t: (t.year, t.month)),
    )
    for name, limit, bucket_of in buckets:
        seen: set = set()
        for backup in newest_first:
            bucket = bucket_of(timezone.localtime(backup.created_at))
            if len(seen) >= limit:
                break
            if bucket not in seen:
                seen.add(bucket)
                reasons[backup.id].append(name)
    if rules.keep_within and newest_first:
        newest = newest_first[0].created_at
        for backup in newest_first:
            if newest - backup.created_at <= rules.keep_within:
                reasons[backup.id].append("within")
    return dict(reasons)


def _keep_chains(group: list[Backup], reasons: dict[str, list[str]]) -> None:
    by_id = {b.id: b for b in group}
    for backup_id in list(reasons):
        parent_id = by_id[backup_id].parent_id if backup_id in by_id else None
        while parent_id and parent_id in by_id:
            reasons.setdefault(parent_id, [])
            if "needed by a kept incremental" not in reasons[parent_id]:
                reasons[parent_id].append("needed by a kept incremental")
            parent_id = by_id[parent_id].parent_id


def cleanup_expired_backups(
    *,
    keep_last: int | None = None,
    keep_daily: int | None = None,
    keep_weekly: int | None = None,
    keep_monthly: int | None = None,
    keep_within: timedelta | None = None,
    dry_run: bool = False,
    actor: Any = None,
) -> dict[str, Any]:
    """Expire completed backups that no keep rule keeps; return the plan.

    With no rule given, ``DEFAULT_KEEP`` applies.
    """
    given = {
        "keep_last": keep_last,
        "keep_daily": keep_daily,
        "keep_weekly": keep_weekly,
        "keep_monthly": keep_monthly,
    }
    if all(v is None for v in given.values()) and keep_within is None:
        given = dict(DEFAULT_KEEP)
    rules = KeepRules(**{k: v or 0 for k, v in given.items()}, keep_within=keep_within)
    completed = list(Backup.objects.filter(status=Backup.Status.COMPLETED))
    plan = plan_expiry(completed, rules)
    if not dry_run and plan.expire:
        with _holding_backup_objects("backup expiry (keep rules)"):
            for backup in plan.expire:
                _expire(backup, actor=actor, reason="keep rules")
    return {
        "dry_run": dry_run,
        "expired" if not dry_run else "would_expire": [b.id for b in plan.expire],
        "kept": plan.keep,
    }


def expire_backup(backup: Backup, *, actor: Any = None, reason: str = "") -> None:
    """Delete a backup's objects and mark it expired (audited)."""
    if backup.status == Backup.Status.EXPIRED:
        return
    with _holding_backup_objects(f"expiry of {backup.id}"):
        _expire(backup, actor=actor, reason=reason)


@contextmanager
def _holding_backup_objects(purpose: str) -> Iterator[None]:
    try:
        with locks.hold(locks.BACKUP_OBJECTS_LOCK, purpose=purpose):
            yield
    except locks.LockHeld as exc:
        raise BackupError(
            f"backups cannot expire now: {exc}; expire them once it has finished"
        ) from exc


def _expire(backup: Backup, *, actor: Any, reason: str) -> None:
    backup.refresh_from_db(fields=["status", "storage"])  # as it is, under the lock
    if backup.status == Backup.Status.EXPIRED:
        return
    dependents = Backup.objects.filter(parent=backup).exclude(
        status__in=[Backup.Status.EXPIRED, Backup.Status.FAILED]
    )
    if dependents.exists():
        names = ", ".join(d.id for d in dependents)
        raise BackupError(
            f"backup {backup.id} is the parent of {names}; expire those first "
            "(or use the keep rules, which keep whole chains)"
        )
    store = object_store(backup.storage)
    if backup.object_key:
        store.delete(backup.object_key)
        delete_sidecars(store, backup.object_key)
    backup.status = Backup.Status.EXPIRED
    backup.finished_at = backup.finished_at or timezone.now()
    backup.save(update_fields=["status", "finished_at"])
    record_audit_event(
        actor=actor,
        action="backup.expire",
        target=backup,
        details={"reason": reason, "stored_bytes": backup.stored_bytes},
    )
    logger.info("backup %s expired (%s)", backup.id, reason)
