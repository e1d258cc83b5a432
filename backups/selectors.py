"""Read-only queries over the backup catalog."""

from __future__ import annotations

from django.db.models import QuerySet

from backups.exceptions import BackupError
from backups.models import Backup


def backups_in_scope(*, owner_id: int | None) -> QuerySet[Backup]:
    """All backups of the system scope (owner None) or of one user."""
    if owner_id is None:
        return Backup.objects.filter(scope=Backup.Scope.SYSTEM)
    return Backup.objects.filter(scope=Backup.Scope.USER, owner_id=owner_id)


def latest_completed(*, owner_id: int | None) -> Backup | None:
    return (
        backups_in_scope(owner_id=owner_id)
        .filter(status=Backup.Status.COMPLETED)
        .order_by("-created_at")
        .first()
    )


def newest_audit_anchor() -> Backup | None:
    """Return the newest backup that recorded the audit trail's head, if any."""
    return (
        Backup.objects.filter(
            status__in=[Backup.Status.COMPLETED, Backup.Status.EXPIRED],
            audit_head_event_id__isnull=False,
        )
        .order_by("-created_at")
        .first()
    )


def chain_of(backup: Backup) -> list[Backup]:
    """Return the backups a restore of ``backup`` needs: its full, then each child."""
    chain = [backup]
    seen = {backup.id}
    while chain[-1].parent_id:
        parent = Backup.objects.get(pk=chain[-1].parent_id)
        if parent.id in seen:
            raise BackupError(f"backup {backup.id} has a cycle in its parent links")
        seen.add(parent.id)
        chain.append(parent)
    return list(reversed(chain))


def get_backup(backup_id: str) -> Backup:
    """Return a backup by id, with a clear error when it is not in the catalog."""
    try:
        return Backup.objects.select_related("owner", "parent").get(pk=backup_id)
    except Backup.DoesNotExist:
        raise BackupError(
            f"no backup {backup_id!r} in the catalog; list_backups shows the "
            "known ones (add --from-storage to look in the backup storage)"
        ) from None


def get_backup_history(
    *, user=None, limit: int | None = 50, include_failed: bool = True
) -> list[Backup]:
    """Return backups, newest first: the system's, or one user's when given."""
    backups = Backup.objects.select_related("owner", "parent", "requested_by")
    if user is not None:
        backups = backups.filter(owner=user)
    if not include_failed:
        backups = backups.exclude(status=Backup.Status.FAILED)
    backups = backups.order_by("-created_at")
    return list(backups[:limit] if limit else backups)


def describe_backup(backup: Backup) -> dict:
    """Return the DESIGN "Command-line contract" JSON description of a backup."""
    return {
        "id": backup.id,
        "kind": backup.kind,
        "status": backup.status,
        "scope": backup.scope,
        "user": backup.owner.get_username() if backup.owner_id else None,
        "parent": backup.parent_id,
        "data_types": backup.data_types,
        "counts": backup.counts,
        "size_bytes": backup.stored_bytes,
        "raw_bytes": backup.raw_bytes,
        "sha256": backup.sha256,
        "key_id": backup.key_id,
        "watermark": backup.watermark.isoformat() if backup.watermark else None,
        "created_at": backup.created_at.isoformat(),
        "finished_at": backup.finished_at.isoformat() if backup.finished_at else None,
        "seconds": backup.duration.total_seconds() if backup.duration else None,
        "verified_at": backup.verified_at.isoformat() if backup.verified_at else None,
        "verify_ok": backup.verify_ok,
        "note": backup.note,
        "error": backup.error,
    }
