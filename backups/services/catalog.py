"""The backup catalog's life cycle: claim, heartbeat, finish, fail, stale.

Invariants:
- A backup is marked completed only after its archive and sidecar are fully
  written to the storage and its checksum recorded.
- At most one backup per scope is pending or running: the claim sets a unique
  ``lock_key`` that ending the backup clears.
- A backup whose worker died (``talowa_admin.liveness``: its process is gone,
  or its heartbeat stopped) is marked failed by ``mark_stale_backups``, which
  the next backup of its scope, a restore and every listing call; its partial
  object is removed.
- A restore ends the chains it replaced (``close_chains``) in the very
  transaction that changes the data: the next backup of those scopes is full.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from backups.exceptions import BackupError, BackupInProgress
from backups.models import Backup
from backups.selectors import get_backup_history as _history
from backups.services.sidecars import sidecar_names
from backups.storage import object_store
from talowa_admin import liveness, locks

logger = logging.getLogger(__name__)


def scope_lock_key(owner_id: int | None) -> str:
    return "system" if owner_id is None else f"user:{owner_id}"


def claim_backup(**fields) -> Backup:
    """Create a running backup, or raise ``BackupInProgress`` for its scope."""
    owner = fields.get("owner")
    lock_key = scope_lock_key(owner.pk if owner else None)
    mark_stale_backups(lock_key=lock_key)
    now = timezone.now()
    try:
        with transaction.atomic():
            backup = Backup.objects.create(
                **fields,
                status=Backup.Status.RUNNING,
                lock_key=lock_key,
                worker=locks.this_holder(),
                started_at=now,
                heartbeat_at=now,
            )
    except IntegrityError as exc:
        running = Backup.objects.filter(lock_key=lock_key).first()
        since = running.started_at.isoformat(timespec="seconds") if running else "?"
        raise BackupInProgress(
            f"backup {running.id if running else '?'} of the same scope is running "
            f"since {since}; wait for it to finish (list_backups shows it)"
        ) from exc
    # Claim first, then look: a restore takes its lock first, then looks for
    # running backups, so one of the two always sees the other.
    restore = locks.is_held(locks.RESTORE_LOCK)
    if restore is not None and restore.holder != locks.this_holder():
        Backup.objects.filter(pk=backup.pk).delete()
        raise BackupInProgress(
            f"a restore is running ({restore.purpose}); back up after it finishes"
        )
    return backup


def get_backup_history(
    *, user=None, limit: int | None = 50, include_failed: bool = True
) -> list[Backup]:
    """Return backups, newest first, once those whose worker died are failed."""
    mark_stale_backups()
    return _history(user=user, limit=limit, include_failed=include_failed)


def heartbeat(backup: Backup) -> None:
    """Record that the worker is alive, at most every ``heartbeat_every()``."""
    now = timezone.now()
    if backup.heartbeat_at and now - backup.heartbeat_at < liveness.heartbeat_every():
        return
    backup.heartbeat_at = now
    Backup.objects.filter(pk=backup.pk).update(heartbeat_at=now)


def complete_backup(backup: Backup, **fields) -> None:
    for name, value in fields.items():
        setattr(backup, name, value)
    backup.status = Backup.Status.COMPLETED
    backup.finished_at = timezone.now()
    backup.lock_key = None
    backup.save()


def fail_backup(backup: Backup, reason: str) -> None:
    """Mark ``backup`` failed with ``reason`` and remove any object it wrote."""
    left = _remove_objects(backup)
    backup.status = Backup.Status.FAILED
    backup.error = reason[:2000]
    backup.finished_at = timezone.now()
    backup.lock_key = None
    backup.save(update_fields=["status", "error", "finished_at", "lock_key"])
    logger.warning(
        "backup %s failed: %s%s",
        backup.id,
        reason,
        f" (and {', '.join(left)} could not be removed)" if left else "",
    )


def mark_stale_backups(
    *, lock_key: str | None = None, unfinished: Iterable[Backup] | None = None
) -> list[str]:
    """Fail running backups whose worker is gone; return their ids.

    ``unfinished``: the pending and running backups, when the caller has just
    read them (the admin's list shows them), so they are not read twice.
    """
    if unfinished is None:
        unfinished = unfinished_backups()
        if lock_key:
            unfinished = unfinished.filter(lock_key=lock_key)
    stale = liveness.dead(unfinished)
    for backup in stale:
        fail_backup(backup, liveness.died_reason(backup))
    if stale:
        object_store(stale[0].storage).remove_partials("archives")
    return [backup.id for backup in stale]


def unfinished_backups() -> QuerySet[Backup]:
    """Return the backups that are pending or running."""
    return Backup.objects.filter(
        status__in=[Backup.Status.RUNNING, Backup.Status.PENDING]
    )


def _remove_objects(backup: Backup) -> list[str]:
    """Delete the backup's objects; return those that could not be removed.

    The failure being recorded matters more: a storage that refuses the
    write usually refuses the clean-up too, for the same reason, which the
    failure's one log line already gives.
    """
    if not backup.object_key:
        return []
    store = object_store(backup.storage)
    left = []
    for name in (backup.object_key, *sidecar_names(backup.object_key)):
        try:
            store.delete(name)
        except BackupError:
            left.append(name)
        except Exception:  # a bug; still record the backup's failure
            logger.exception("could not remove %s of backup %s", name, backup.id)
            left.append(name)
    return left


def close_chains(*, owner_id: int | None, reason: str) -> list[str]:
    """Stop incrementals from building on backups taken before a restore.

    Restored rows keep their old timestamps, so an incremental on a pre-restore
    parent would miss them: the next backup of each closed scope is a full
    one. A system restore closes every chain; a user restore closes the
    system chain, which holds that user's rows too, and the user's own.
    Call it inside the transaction that changes the data, so that no crash
    can leave restored data under an open chain.
    """
    scopes = Backup.objects.filter(status=Backup.Status.COMPLETED)
    if owner_id is not None:
        scopes = scopes.filter(
            Q(scope=Backup.Scope.SYSTEM) | Q(scope=Backup.Scope.USER, owner_id=owner_id)
        )
    closed = []
    for backup in scopes:
        if not backup.metadata.get("chain_closed"):
            backup.metadata = {**backup.metadata, "chain_closed": reason}
            backup.save(update_fields=["metadata"])
            closed.append(backup.id)
    return closed
