"""Where a backup's sidecar lives: two copies, either one enough to read it.

Invariants:
- Every sidecar is stored twice in the backup storage: beside its archive
  (``<object_key>.key``, the *primary* copy) and under its own prefix
  (``sidecar-copies/<object_key>.key``, the *second* copy), so that one lost
  or damaged object (a deleted key, a faulty lifecycle rule on ``archives/``)
  cannot lose a backup whose header key was retired. The storage stays the
  source of truth: both copies are found by listing it, without the catalog.
- Whoever writes a sidecar (backup creation, rotation, repair) writes both,
  primary first, through ``write_sidecars``; whoever deletes a backup deletes
  both through ``delete_sidecars``.
- Readers pass every copy they found, primary first, to the archive layer,
  which uses the first one that belongs to the archive and unwraps
  (``backups.archive.usable_sidecar``): one missing or damaged copy is
  harmless while the other is intact.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from backups.exceptions import StorageUnavailable
from backups.storage import ObjectStat, ObjectStore

logger = logging.getLogger(__name__)

ARCHIVE_PREFIX = "archives/"
ARCHIVE_SUFFIX = ".tbk"
SIDECAR_SUFFIX = ".key"
COPY_PREFIX = "sidecar-copies/"


@dataclass(frozen=True, slots=True)
class SidecarCopy:
    """One stored copy of a sidecar: its name and bytes (None when unreadable)."""

    name: str
    data: bytes | None
    problem: str = ""


def primary_name(object_key: str) -> str:
    """Return the name of the sidecar copy stored beside the archive."""
    return f"{object_key}{SIDECAR_SUFFIX}"


def copy_name(object_key: str) -> str:
    """Return the name of the second sidecar copy, under its own prefix."""
    return f"{COPY_PREFIX}{object_key}{SIDECAR_SUFFIX}"


def sidecar_names(object_key: str) -> tuple[str, str]:
    """Return the names of both sidecar copies, primary first."""
    return primary_name(object_key), copy_name(object_key)


def backup_id_of(object_key: str) -> str:
    """Return the backup id in an archive's object key."""
    return object_key.rsplit("/", 1)[-1].removesuffix(ARCHIVE_SUFFIX)


def write_sidecars(store: ObjectStore, object_key: str, data: bytes) -> None:
    """Write ``data`` as both copies of the archive's sidecar, primary first."""
    for name in sidecar_names(object_key):
        store.put(name, data)


def delete_sidecars(store: ObjectStore, object_key: str) -> None:
    """Delete both copies of the archive's sidecar (absent ones are fine)."""
    for name in sidecar_names(object_key):
        store.delete(name)


def read_sidecar_copies(store: ObjectStore, object_key: str) -> list[SidecarCopy]:
    """Return both copies of the archive's sidecar, primary first.

    A copy that is missing or cannot be read has ``data`` None and says why.
    """
    return [_read(store, name) for name in sidecar_names(object_key)]


def read_sidecars(store: ObjectStore, object_key: str) -> list[bytes]:
    """Return the readable copies of the archive's sidecar, primary first."""
    copies = read_sidecar_copies(store, object_key)
    for copy in copies:
        if copy.data is None:
            logger.warning("sidecar copy %s: %s", copy.name, copy.problem)
    return [copy.data for copy in copies if copy.data is not None]


def _read(store: ObjectStore, name: str) -> SidecarCopy:
    try:
        if not store.exists(name):
            return SidecarCopy(name, None, "missing")
        return SidecarCopy(name, store.get(name))
    except StorageUnavailable as exc:
        return SidecarCopy(name, None, str(exc))


def stored_object_keys(store: ObjectStore) -> list[str]:
    """Return the object key of every archive that has a sidecar copy stored.

    Both prefixes are listed, so an archive whose primary copy is lost is
    still found through its second copy.
    """
    found = set()
    for prefix, start in ((ARCHIVE_PREFIX, 0), (COPY_PREFIX, len(COPY_PREFIX))):
        for name in store.list(prefix.rstrip("/")):
            if name.endswith(ARCHIVE_SUFFIX + SIDECAR_SUFFIX):
                found.add(name[start : -len(SIDECAR_SUFFIX)])
    return sorted(found)


def stored_sidecar_stats(store: ObjectStore) -> dict[str, ObjectStat]:
    """Return every sidecar copy in the storage by name, with its size and tag.

    One listing per prefix, whatever the catalog's size; a backup's copies
    are found in it under the names ``sidecar_names`` gives.
    """
    return {
        name: stat
        for prefix in (ARCHIVE_PREFIX, COPY_PREFIX)
        for name, stat in store.list_stats(
            prefix.rstrip("/"), suffix=SIDECAR_SUFFIX
        ).items()
    }


def stored_archive_keys(store: ObjectStore) -> list[str]:
    """Return the object key of every archive in the storage."""
    return [
        name
        for name in store.list(ARCHIVE_PREFIX.rstrip("/"))
        if name.endswith(ARCHIVE_SUFFIX)
    ]
