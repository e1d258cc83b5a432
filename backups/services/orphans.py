"""Objects in the backup storage that no backup needs any more.

Invariants:
- An object is deletable only when it is older than the grace period and no
  completed or running backup of the catalog names it (its archive or either
  sidecar copy). Young objects may belong to a backup being written.
- An archive the catalog does not know at all is never deletable: it may be a
  backup from before a disaster, found again by ``list_backups --from-storage
  --rebuild-catalog``. It is reported instead.
- The caller makes sure no backup is running (``running_backups``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from backups.models import Backup
from backups.services.sidecars import (
    ARCHIVE_PREFIX,
    ARCHIVE_SUFFIX,
    COPY_PREFIX,
    SIDECAR_SUFFIX,
    backup_id_of,
    sidecar_names,
)
from backups.storage import ObjectStore

KEPT_STATUSES = (Backup.Status.COMPLETED, Backup.Status.RUNNING)


@dataclass
class OrphanReport:
    deletable: list[str] = field(default_factory=list)
    too_young: list[str] = field(default_factory=list)
    uncatalogued: list[str] = field(default_factory=list)


def running_backups() -> list[str]:
    return list(
        Backup.objects.filter(lock_key__isnull=False).values_list("id", flat=True)
    )


def find_orphans(store: ObjectStore, *, grace: timedelta) -> OrphanReport:
    """Sort the storage's unreferenced objects into deletable, young, unknown."""
    referenced: set[str] = set()
    statuses: dict[str, str] = {}
    for backup_id, object_key, status in Backup.objects.values_list(
        "id", "object_key", "status"
    ):
        statuses[backup_id] = status
        if status in KEPT_STATUSES and object_key:
            referenced.update((object_key, *sidecar_names(object_key)))
    report = OrphanReport()
    cutoff = timezone.now() - grace
    for name in store.list(""):
        if name in referenced:
            continue
        archive = _archive_of(name)
        if archive is not None and backup_id_of(archive) not in statuses:
            report.uncatalogued.append(name)
        elif store.modified(name) > cutoff:
            report.too_young.append(name)
        else:
            report.deletable.append(name)
    return report


def _archive_of(name: str) -> str | None:
    """Return the archive key an archive or sidecar object belongs to, if any."""
    key = name.removeprefix(COPY_PREFIX).removesuffix(SIDECAR_SUFFIX)
    if key.startswith(ARCHIVE_PREFIX) and key.endswith(ARCHIVE_SUFFIX):
        return key
    return None
