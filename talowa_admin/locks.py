"""Named operation locks shared by the apps (a restore excludes backups).

A lock is a row; holding it means the row exists. A holder on this host whose
process is gone, or any holder silent for ``STALE_AFTER``, is presumed dead
and its lock is broken by the next taker.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from talowa_admin.errors import OperatorError
from talowa_admin.models import OperationLock

RESTORE_LOCK = "restore"
STALE_AFTER = timedelta(minutes=30)
HOST = socket.gethostname()


class LockHeld(OperatorError):
    """Another live operation holds the lock."""


def this_holder() -> str:
    return f"{HOST}:{os.getpid()}"


def holder_is_alive(holder: str, last_seen, *, stale_after=STALE_AFTER) -> bool:
    """Tell whether the process named ``host:pid`` may still be running."""
    host, _, pid = holder.rpartition(":")
    if host == HOST and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return timezone.now() - last_seen < stale_after


def is_held(name: str, *, clear_dead: bool = True) -> OperationLock | None:
    """Return the live holder's lock row, clearing a dead holder's unless told not."""
    lock = OperationLock.objects.filter(name=name).first()
    if lock is None:
        return None
    if holder_is_alive(lock.holder, lock.heartbeat_at):
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
        yield lock
    finally:
        OperationLock.objects.filter(pk=lock.pk).delete()
