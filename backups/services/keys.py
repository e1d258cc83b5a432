"""Key rotation: re-wrap every backup's data key with the primary key.

Rotation never re-encrypts data: each archive's data key is unwrapped with
the key that wraps it and wrapped again with the primary key, and only the
small sidecar objects are rewritten (each atomically, both copies of each,
see ``backups/services/sidecars.py``). Rotation also repairs: a missing or
damaged copy is rewritten from the intact one. The storage is the source of
truth, so archives missing from the catalog are rotated too. Every place
that holds backups is covered: the configured storage and each storage the
catalog names (after ``migrate_backups``, before TALOWA_BACKUP_STORAGE is
switched, the two differ).

A key may leave ``TALOWA_BACKUP_KEYS`` (``retirement_check``) only when no
sidecar copy is wrapped by it and every backup has both sidecar copies
intact without it: the archives written with that key (their header names
it) are then readable only through their sidecars, and one lost copy must
not lose them.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backups.archive import (
    open_sidecar,
    parse_sidecar,
    read_archive_header,
    rewrap_data_key,
    usable_sidecar,
)
from backups.exceptions import BackupError
from backups.keyring import KeyRing, generate_key_spec, load_keyring
from backups.models import Backup
from backups.services.sidecars import (
    SidecarCopy,
    backup_id_of,
    read_sidecar_copies,
    stored_archive_keys,
    stored_object_keys,
)
from backups.storage import ObjectStore, backup_stores
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)


def keys_in_use(*, store: ObjectStore | None = None) -> dict[str, list[str]]:
    """Return, per key id, the backups with a sidecar copy wrapped by it."""
    found: dict[str, set[str]] = defaultdict(set)
    for place, object_key in _stored_objects(store, stored_object_keys):
        for copy in read_sidecar_copies(place, object_key):
            try:
                sidecar = parse_sidecar(copy.data) if copy.data else None
            except BackupError:
                continue  # damaged: rotation repairs it, retirement refuses
            if sidecar is not None:
                found[sidecar.key_id].add(sidecar.archive_id)
    return {key_id: sorted(ids) for key_id, ids in found.items()}


def rotate_keys(
    *, actor: Any = None, dry_run: bool = False, keyring: KeyRing | None = None
) -> dict[str, Any]:
    """Wrap every data key with the primary key, in both sidecar copies."""
    keyring = keyring or load_keyring()
    primary = keyring.primary_id
    rewrapped, repaired, unchanged, failed = [], [], [], {}
    for store, object_key in _stored_objects(None, stored_object_keys):
        copies = read_sidecar_copies(store, object_key)
        try:
            chosen = usable_sidecar(
                [c.data for c in copies if c.data is not None], keyring=keyring
            )
            rewrap = chosen.sidecar.key_id != primary
            target = chosen.raw
            if rewrap:
                target = rewrap_data_key(target, keyring=keyring, new_key_id=primary)
        except BackupError as exc:
            failed[backup_id_of(object_key)] = str(exc)
            continue
        archive_id = chosen.sidecar.archive_id
        stale = [copy.name for copy in copies if copy.data != target]
        (rewrapped if rewrap else repaired if stale else unchanged).append(archive_id)
        if not dry_run:
            for name in stale:
                store.put(name, target)
            if rewrap:
                Backup.objects.filter(pk=archive_id).update(key_id=primary)
    result = {
        "primary": primary,
        "dry_run": dry_run,
        "rewrapped": rewrapped,
        "repaired": repaired,
        "unchanged": len(unchanged),
        "failed": failed,
        "in_use": keys_in_use() if not dry_run else None,
    }
    if not dry_run:
        record_audit_event(
            actor=actor,
            action="keys.rotate",
            details={
                "primary": primary,
                "rewrapped": len(rewrapped),
                "repaired": len(repaired),
                "failed": sorted(failed),
            },
        )
    return result


def retirement_check(
    key_id: str, *, keyring: KeyRing | None = None, store: ObjectStore | None = None
) -> dict[str, Any]:
    """Say whether ``key_id`` can leave the key ring without stranding a backup.

    Reads every archive's header (to know which were written with the key)
    and both sidecar copies of each. ``can_retire`` is true when no copy is
    wrapped by the key and every copy opens with the remaining keys.
    """
    keyring = keyring or load_keyring()
    if key_id == keyring.primary_id:
        return _verdict(key_id, primary=True)
    remaining = KeyRing((k, keyring.get(k)) for k in keyring.ids if k != key_id)
    still_wrapping, dependent, unpaired = [], [], {}
    for place, object_key in _stored_objects(store, stored_archive_keys):
        try:
            with place.open_read(object_key) as stream:
                header = read_archive_header(stream)
        except BackupError as exc:
            unpaired[backup_id_of(object_key)] = f"its archive is unreadable ({exc})"
            continue
        if header.key_id == key_id:
            dependent.append(header.archive_id)
        problems = []
        for copy in read_sidecar_copies(place, object_key):
            problem = _copy_problem(copy, key_id, remaining, header)
            if problem == "wrapped":
                still_wrapping.append(header.archive_id)
                break
            if problem:
                problems.append(f"{copy.name} {problem}")
        else:
            if problems:
                unpaired[header.archive_id] = "; ".join(problems)
    return _verdict(
        key_id,
        still_wrapping=still_wrapping,
        dependent=dependent,
        unpaired=unpaired,
    )


def _stored_objects(
    store: ObjectStore | None, lister: Any
) -> Iterator[tuple[ObjectStore, str]]:
    """Yield (store, object key) for ``store``, or for every place holding backups."""
    if store is not None:
        stores = [store]
    else:
        aliases = Backup.objects.values_list("storage", flat=True).distinct()
        stores = backup_stores(sorted(set(aliases)))
    for each in stores:
        for object_key in lister(each):
            yield each, object_key


def _copy_problem(
    copy: SidecarCopy, key_id: str, remaining: KeyRing, header: Any
) -> str:
    """Return what is wrong with one sidecar copy ("" when it is intact)."""
    if copy.data is None:
        return f"is {copy.problem}" if copy.problem == "missing" else copy.problem
    try:
        if parse_sidecar(copy.data).key_id == key_id:
            return "wrapped"
        open_sidecar(
            copy.data,
            keyring=remaining,
            archive_id=header.archive_id,
            header_sha256=header.sha256,
        )
    except BackupError as exc:
        return f"is unusable ({exc})"
    return ""


def _verdict(
    key_id: str,
    *,
    primary: bool = False,
    still_wrapping: list[str] | None = None,
    dependent: list[str] | None = None,
    unpaired: dict[str, str] | None = None,
) -> dict[str, Any]:
    still_wrapping, dependent = still_wrapping or [], dependent or []
    unpaired = unpaired or {}
    return {
        "key_id": key_id,
        "can_retire": not (primary or still_wrapping or unpaired),
        "primary": primary,
        "backups": sorted(still_wrapping),
        "unpaired": dict(sorted(unpaired.items())),
        "depending_on_sidecars": len(dependent),
        "dependent_backups": sorted(dependent),
    }


def write_new_key_file(path: Path, *, key_id: str) -> None:
    """Write a new key spec (``id:base64``) to ``path``, readable by the owner only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(generate_key_spec(key_id) + "\n")
