"""Per-user backup quotas from the system settings.

A user backup that would exceed ``max_backups_per_user`` or
``max_storage_per_user`` first expires the user's oldest whole chains when
policy allows (automatic cleanup enabled, no legal hold); otherwise it fails
with ``QuotaExceeded`` saying what to do.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Sum

from backups.exceptions import QuotaExceeded
from backups.models import Backup
from backups.services.expiry import expire_backup
from retention.selectors import has_active_legal_hold
from talowa_admin.models import SystemSettings


def _completed(owner_id: int):
    return Backup.objects.filter(
        scope=Backup.Scope.USER, owner_id=owner_id, status=Backup.Status.COMPLETED
    )


def make_room_for_one(*, owner: Any, actor: Any = None) -> None:
    """Before a user backup: expire old chains so one more backup fits the count."""
    limit = SystemSettings.load().max_backups_per_user
    while _completed(owner.pk).count() >= limit:
        if not _expire_oldest_chain(owner, keep=None, actor=actor):
            raise QuotaExceeded(
                f"user {owner.get_username()!r} already has {limit} backups, the "
                "most allowed; expire some (expire_backups), raise "
                "max_backups_per_user in the system settings, or enable automatic "
                "cleanup so the oldest are expired"
            )


def enforce_storage(*, backup: Backup, actor: Any = None) -> None:
    """After a user backup: expire old chains until the user's bytes fit."""
    limit = SystemSettings.load().max_storage_per_user
    owner = backup.owner
    while (_completed(owner.pk).aggregate(n=Sum("stored_bytes"))["n"] or 0) > limit:
        if not _expire_oldest_chain(owner, keep=backup, actor=actor):
            raise QuotaExceeded(
                f"user {owner.get_username()!r}'s backups would take more than "
                f"{limit} bytes (max_storage_per_user); expire older backups, back "
                "up fewer data types, or raise the quota in the system settings"
            )


def _expire_oldest_chain(owner: Any, *, keep: Backup | None, actor: Any) -> bool:
    """Expire the user's oldest chain not containing ``keep``; False if none may go."""
    if not SystemSettings.load().enable_automatic_cleanup:
        return False
    if has_active_legal_hold(user_id=owner.pk):
        return False
    protected = set()
    node = keep
    while node is not None:
        protected.add(node.id)
        node = node.parent
    fulls = _completed(owner.pk).filter(kind=Backup.Kind.FULL).order_by("created_at")
    for full in fulls:
        chain = _descendants(full)
        if protected & {b.id for b in chain}:
            continue
        for member in reversed(chain):
            expire_backup(member, actor=actor, reason="user quota")
        return True
    return False


def _descendants(full: Backup) -> list[Backup]:
    chain, frontier = [full], [full]
    while frontier:
        children = list(
            Backup.objects.filter(parent__in=frontier).exclude(
                status=Backup.Status.EXPIRED
            )
        )
        chain.extend(children)
        frontier = children
    return chain
