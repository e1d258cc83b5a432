"""Named operation locks shared by the apps (a restore excludes backups).

A lock is a row; holding it means the row exists. Its holder renews the row's
heartbeat while it holds it; a holder that ``talowa_admin.liveness`` finds
dead (its process gone on this host, its heartbeat stopped on another) loses
its lock to the next taker.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError, transaction
from django.utils import timezone

from talowa_admin import liveness
from talowa_admin.errors import OperatorError
from talowa_admin.models import OperationLock

RESTORE_LOCK = "restore"
# Held by whatever copies, rewrites or deletes backup objects wholesale
# (storage migration, conversion, expiry): an expiry in the middle of a
# migration would leave the migrated copy of an expired backup behind.
BACKUP_OBJECTS_LOCK = "backup-objects"


class LockHeld(OperatorError):
    """Another live operation holds the lock."""


def this_holder() -> str:
    return liveness.this_worker()


def is_held(name: str, *, clear_dead: bool = True) -> OperationLock | None:
    """Return the live holder's lock row, clearing a dead holder's unless told not."""
    lock = OperationLock.objects.filter(name=name).first()
    if lock is None:
        return None
    if liveness.worker_is_alive(lock.holder, last_seen=lock.heartbeat_at):
        return lock
    if clear_dead:
        OperationLock.objects.filter(pk=lock.pk).delete()
    return None


@contextmanager
def hold(name: str, *, purpose: str = "") -> Iterator[OperationLock]:
    """Hold lock ``name`` for the block, or raise ``LockHeld``."""
    is_held(name)  # clears a dead holder's row
    now = timezone.now()
    try:
        with transaction.atomic():
            lock = OperationLock.objects.create(
                name=name,
                holder=this_holder(),
                acquired_at=now,
                heartbeat_at=now,
                purpose=purpose[:200],
            )
    except IntegrityError:
        current = OperationLock.objects.filter(name=name).first()
        raise LockHeld(
            f"{name} is already running"
            + (
                f" ({current.purpose}, since {current.acquired_at:%Y-%m-%d %H:%M} "
                f"UTC, by {current.holder})"
                if current
                else ""
            )
        ) from None
    try:
        with liveness.Heartbeat(OperationLock.objects.filter(pk=lock.pk)):
            yield lock
    finally:
        OperationLock.objects.filter(pk=lock.pk).delete()
