"""Restore a backup chain (the brief's ``restoreFromBackup``).

Invariants:
- Nothing is written until the whole chain is found and, unless told
  otherwise, verified end to end (checksums, authentication, manifests,
  parent links).
- Unless told otherwise, a backup of what the restore replaces is taken first
  and named in the result, so the restore can be rolled back.
- The live data changes in one database transaction: complete, or as
  before. In-place restores (user scope, SQLite; ``recovery.loaders``) write
  in it and a dry run rolls it back; system restores on PostgreSQL load
  staged tables first and swap them in with it (``recovery.staging``), and a
  dry run compares the staged tables with the live ones instead.
- No backup runs during a restore, and one restore runs at a time.
- The transaction that changes the live data also closes every affected
  backup chain (so the next backup of those scopes is a full one) and runs
  the caller's ``on_applied`` (a recovery run records what it applied): a
  process killed right after that commit leaves no open chain over
  restored data, and a run that can be rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from backups.exceptions import BackupError
from backups.keyring import load_keyring
from backups.models import Backup
from backups.registry import tables_for
from backups.selectors import chain_of
from backups.services import run_backup, verify_backup
from backups.services.catalog import close_chains, mark_stale_backups
from backups.services.discovery import find_backup
from recovery.exceptions import RestoreRefused
from recovery.loaders import (
    RestoreConflict,
    disable_triggers,
    enable_triggers,
)
from recovery.services import preview
from recovery.services.applying import Applier, ApplyPlan
from recovery.staging import StagedTables, staging_applies
from retention.services import count_past_retention, retention_after_restore
from talowa_admin import locks
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)


@dataclass
class RestoreTarget:
    backup: Backup
    chain: list[Backup]
    user: Any
    data_types: list[str]


def resolve_target(
    backup_id: str, *, user: Any = None, data_types: list[str] | None = None
) -> RestoreTarget:
    """Find the backup and its chain and check the request makes sense."""
    try:
        backup = find_backup(backup_id)
        chain = chain_of(backup)
    except BackupError as exc:
        raise RestoreRefused(str(exc)) from exc
    for member in chain:
        if member.status != Backup.Status.COMPLETED:
            where = "" if member == backup else f" (in the chain of {backup_id})"
            raise RestoreRefused(
                f"backup {member.id}{where} is {member.status}; only completed "
                "backups can be restored"
            )
    user = _target_user(backup, user)
    chosen = list(data_types or backup.data_types)
    missing = sorted(set(chosen) - set(backup.data_types))
    if missing:
        raise RestoreRefused(
            f"backup {backup_id} does not hold {', '.join(missing)}; it holds "
            f"{', '.join(backup.data_types)}"
        )
    try:
        tables_for(chosen)
    except ValueError as exc:
        raise RestoreRefused(str(exc)) from exc
    return RestoreTarget(backup, chain, user, chosen)


def _target_user(backup: Backup, user: Any) -> Any:
    users = get_user_model().objects
    if backup.scope == Backup.Scope.USER:
        if backup.owner_id is None:
            raise RestoreRefused(
                f"backup {backup.id} holds the data of a user who no longer exists; "
                "restore a system backup to bring the account back first"
            )
        if user is not None and user.pk != backup.owner_id:
            raise RestoreRefused(
                f"backup {backup.id} holds {backup.owner.get_username()}'s data, "
                f"not {user.get_username()}'s"
            )
        user = backup.owner
    if user is not None and not users.filter(pk=user.pk).exists():
        raise RestoreRefused(f"user {user.get_username()!r} no longer exists")
    return user


def restore_from_backup(
    backup_id: str,
    *,
    user: Any = None,
    data_types: list[str] | None = None,
    validate_before_restore: bool = True,
    create_pre_restore_backup: bool = True,
    dry_run: bool = False,
    actor: Any = None,
    on_applied: Callable[[dict[str, Any]], None] | None = None,
    keep_past_retention: bool = False,
    defer_retention: bool = False,
) -> dict[str, Any]:
    """Restore the chain ending at ``backup_id``; return what was done.

    ``on_applied(result)`` runs inside the transaction that changes the data,
    just before it commits (never for a dry run). Restored rows already past
    their retention are archived again afterwards (as an archive batch,
    undoable) unless ``keep_past_retention``; ``result["retention"]`` says how
    many (retention.services.restores). With ``defer_retention`` the caller
    does that itself once this returns (a recovery run, as its own step).
    """
    target = resolve_target(backup_id, user=user, data_types=data_types)
    purpose = f"restore of {backup_id}" + (" (dry run)" if dry_run else "")
    try:
        with locks.hold(locks.RESTORE_LOCK, purpose=purpose):
            _refuse_while_backing_up()
            if validate_before_restore:
                validate_chain(target.chain, actor=actor)
            pre = None
            if create_pre_restore_backup and not dry_run:
                pre = take_pre_restore_backup(target, actor=actor)
            result = apply_chain(target, dry_run=dry_run, on_applied=on_applied)
            if not dry_run and not defer_retention:
                result["retention"] = retention_after_restore(
                    backup_id=backup_id,
                    user_id=target.user.pk if target.user else None,
                    data_types=target.data_types,
                    keep=keep_past_retention,
                    actor=actor,
                )
    except locks.LockHeld as exc:
        raise RestoreRefused(f"{exc}; try again when it has finished") from exc
    result["pre_restore_backup"] = pre.id if pre else None
    record_audit_event(
        actor=actor,
        action="restore.dry_run" if dry_run else "restore.run",
        target=target.backup,
        details=_audit(result),
    )
    return result


def _refuse_while_backing_up() -> None:
    mark_stale_backups()
    running = list(
        Backup.objects.filter(lock_key__isnull=False).values_list("id", flat=True)
    )
    if running:
        raise RestoreRefused(
            f"backup {', '.join(running)} is running; restore when it has finished"
        )


def validate_chain(chain: list[Backup], *, actor: Any = None) -> None:
    """Verify every archive of the chain, or refuse with the first failure."""
    keyring = load_keyring()
    for position, member in enumerate(chain):
        expected_parent = chain[position - 1].id if position else None
        if member.parent_id != expected_parent:
            raise RestoreRefused(f"backup {member.id} does not continue the chain")
        outcome = verify_backup(member, actor=actor, keyring=keyring)
        if not outcome.ok:
            raise RestoreRefused(
                f"backup {member.id} in the chain failed verification: "
                f"{outcome.error}; nothing was restored"
            )


def take_pre_restore_backup(target: RestoreTarget, *, actor: Any) -> Backup:
    """Back up the data a restore of ``target`` will replace."""
    return run_backup(
        kind=Backup.Kind.FULL,
        user=target.user,
        data_types=target.data_types,
        metadata={"pre_restore_for": target.backup.id},
        note=f"before restoring {target.backup.id}",
        actor=actor,
        enforce_quota=False,
    )


def apply_chain(
    target: RestoreTarget,
    *,
    dry_run: bool,
    on_applied: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Apply the chain in one transaction; roll it back for a dry run.

    Unless a dry run, that transaction also closes the chains the restore
    replaced and runs ``on_applied(result)``.
    """
    plan = ApplyPlan(
        chain=target.chain,
        specs=tables_for(target.data_types),
        user_id=target.user.pk if target.user else None,
        dry_run=dry_run,
    )
    applier = Applier(plan=plan, keyring=load_keyring())

    def settle(tallies: dict, changes: dict | None) -> dict[str, Any]:
        """Describe the restore; end the chains it replaced (in its transaction)."""
        result = _describe(target, applier, tallies, changes, dry_run=dry_run)
        if not dry_run:
            result["closed_chains"] = close_chains(
                owner_id=plan.user_id, reason=f"restore of {target.backup.id}"
            )
            if on_applied is not None:
                on_applied(result)
        return result

    try:
        if staging_applies(user_id=plan.user_id):
            return _apply_staged(applier, settle)
        return _apply_in_place(applier, settle)
    except (RestoreConflict, BackupError) as exc:
        raise RestoreRefused(f"{exc}; nothing was restored") from exc


Settle = Callable[[dict, dict | None], dict[str, Any]]


def _apply_in_place(applier: Applier, settle: Settle) -> dict[str, Any]:
    """Apply the chain in the live tables, in one transaction."""
    dry_run = applier.plan.dry_run
    with transaction.atomic():
        if dry_run:
            preview.capture_before(applier.plan)
        disable_triggers(applier.plan.written_specs)
        tallies = applier.run()
        enable_triggers(applier.plan.written_specs)
        changes = None
        if dry_run:
            changes = preview.compare_after(applier.plan)
            applier.past_retention = _past_retention(applier.plan)
        result = settle(tallies, changes)
        if dry_run:
            transaction.set_rollback(True)
    return result


def _apply_staged(applier: Applier, settle: Settle) -> dict[str, Any]:
    """Load the chain into staged tables, then swap them in (or compare them)."""
    with StagedTables(applier.plan.specs, tallies=applier.rows.tallies) as staging:
        applier.staging = staging
        tallies = applier.run()
        if applier.plan.dry_run:
            changes = preview.compare_staged(applier.plan, staging)
            staged = {s.table: staging.staged_name(s.table) for s in applier.plan.specs}
            applier.past_retention = _past_retention(applier.plan, staged)
            return settle(tallies, changes)
        with transaction.atomic():
            staging.swap()
            return settle(tallies, None)


def _describe(
    target: RestoreTarget,
    applier: Applier,
    tallies: dict,
    changes: dict | None,
    *,
    dry_run: bool,
) -> dict[str, Any]:
    return {
        "status": "dry_run" if dry_run else "completed",
        "backup_id": target.backup.id,
        "chain": [b.id for b in target.chain],
        "scope": "user" if target.user else "system",
        "user": target.user.get_username() if target.user else None,
        "data_types": target.data_types,
        "tables": {label: t.as_json() for label, t in tallies.items()},
        "changes": changes,
        "media": {
            "written": applier.media.written,
            "present": applier.media.present,
            "mismatched": applier.media.mismatched,
        },
        "note": preview.shared_rows_note(applier.plan),
        "retention": {"past_retention": getattr(applier, "past_retention", None)},
    }


def _past_retention(plan: ApplyPlan, tables=None) -> dict[str, int]:
    """Count the restored rows already past their retention (for the preview)."""
    types = sorted({s.data_type for s in plan.specs})
    return count_past_retention(user_id=plan.user_id, data_types=types, tables=tables)


def _audit(result: dict[str, Any]) -> dict[str, Any]:
    return {
        k: result.get(k)
        for k in (
            "status",
            "chain",
            "scope",
            "user",
            "data_types",
            "pre_restore_backup",
            "tables",
        )
    }
