"""Create full and incremental backups (the brief's ``createFullBackup``).

Invariant: a backup is marked completed only after its archive and sidecar are
fully written and its sizes and checksum recorded; any failure, including an
interrupt, marks it failed and removes what it wrote. A process killed outright
leaves a running record that the next backup of its scope marks failed.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model

from backups.engines import open_snapshot
from backups.exceptions import BackupError
from backups.keyring import load_keyring
from backups.models import BACKUP_DATA_TYPES, Backup
from backups.selectors import chain_of, latest_completed
from backups.services import quota
from backups.services.catalog import claim_backup, complete_backup, fail_backup
from backups.services.pipeline import ArchivePlan, counts_from_tables, write_archive
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)


def create_full_backup(
    *,
    include_messages: bool = True,
    include_call_history: bool = True,
    include_conversations: bool = True,
    include_media_files: bool = True,
    metadata: dict[str, Any] | None = None,
    user: Any = None,
    note: str = "",
    actor: Any = None,
) -> str:
    """Back up everything (or one ``user``'s data) and return the backup id."""
    wanted = {
        "messages": include_messages,
        "conversations": include_conversations,
        "call_history": include_call_history,
        "media_files": include_media_files,
    }
    data_types = [name for name in BACKUP_DATA_TYPES if wanted[name]]
    return run_backup(
        kind=Backup.Kind.FULL,
        user=user,
        data_types=data_types,
        metadata=metadata,
        note=note,
        actor=actor,
    ).id


def create_incremental_backup(
    *,
    user: Any = None,
    metadata: dict[str, Any] | None = None,
    note: str = "",
    actor: Any = None,
    full_if_missing: bool = False,
) -> str:
    """Back up what changed since the scope's latest backup; return the id.

    The new backup carries the same data types as its chain. Without a
    completed backup to build on it raises ``BackupError``, or takes a full
    backup when ``full_if_missing`` (schedules do).
    """
    parent = latest_completed(owner_id=user.pk if user else None)
    if parent is None or parent.metadata.get("chain_closed"):
        if not full_if_missing:
            raise BackupError(
                "there is no backup of this scope to build an incremental on"
                + (" since the last restore" if parent else "")
                + "; create a full backup first"
            )
        return run_backup(
            kind=Backup.Kind.FULL,
            user=user,
            data_types=list(parent.data_types if parent else BACKUP_DATA_TYPES),
            metadata=metadata,
            note=note,
            actor=actor,
        ).id
    return run_backup(
        kind=Backup.Kind.INCREMENTAL,
        user=user,
        data_types=list(parent.data_types),
        parent=parent,
        metadata=metadata,
        note=note,
        actor=actor,
    ).id


def run_backup(
    *,
    kind: str,
    user: Any,
    data_types: list[str],
    parent: Backup | None = None,
    metadata: dict | None = None,
    note: str = "",
    actor: Any = None,
    enforce_quota: bool = True,
) -> Backup:
    """Claim, write, record and audit one backup; return it completed.

    ``enforce_quota=False`` is for safety copies (the backup a restore takes
    first): a quota must never expire the very backups being restored.
    """
    if not data_types:
        raise BackupError("nothing to back up: choose at least one data type")
    if user is not None and not get_user_model().objects.filter(pk=user.pk).exists():
        raise BackupError(f"user {user.get_username()!r} does not exist")
    keyring = load_keyring()
    if user is not None and enforce_quota:
        quota.make_room_for_one(owner=user, actor=actor)
    backup = claim_backup(
        kind=kind,
        scope=Backup.Scope.USER if user else Backup.Scope.SYSTEM,
        owner=user,
        parent=parent,
        data_types=data_types,
        metadata=metadata or {},
        note=note[:200],
        requested_by=actor if hasattr(actor, "get_username") else None,
    )
    try:
        _write(backup, parent=parent, keyring=keyring)
        if user is not None and enforce_quota:
            quota.enforce_storage(backup=backup, actor=actor)
    except BaseException as exc:
        fail_backup(backup, _reason(exc))
        record_audit_event(
            actor=actor,
            action="backup.failed",
            target=backup,
            details={"kind": kind, "error": backup.error},
        )
        raise
    record_audit_event(
        actor=actor,
        action="backup.create",
        target=backup,
        details={
            "kind": kind,
            "scope": backup.scope,
            "counts": backup.counts,
            "stored_bytes": backup.stored_bytes,
            "parent": backup.parent_id,
        },
    )
    logger.info("backup %s completed: %s bytes stored", backup.id, backup.stored_bytes)
    return backup


def _write(backup: Backup, *, parent: Backup | None, keyring) -> None:
    chain = [b.id for b in chain_of(parent)] if parent else []
    with open_snapshot() as snapshot:
        plan = ArchivePlan(
            backup,
            list(backup.data_types),
            since=parent.watermark if parent else None,
            chain=chain,
        )
        result = write_archive(plan, snapshot=snapshot, keyring=keyring)
    complete_backup(
        backup,
        watermark=snapshot.watermark,
        counts=counts_from_tables(result.manifest["tables"], result.manifest["blobs"]),
        raw_bytes=result.raw_bytes,
        compressed_bytes=result.compressed_bytes,
        stored_bytes=result.stored_bytes,
        sha256=result.sha256,
        key_id=result.key_id,
        audit_head=result.manifest["audit_head"],
        metadata={
            **backup.metadata,
            "source_engine": snapshot.engine,
            "media_missing": len(result.manifest["blobs"]["missing"]),
        },
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, BackupError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
