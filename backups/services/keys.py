"""Key rotation: re-wrap every backup's data key with the primary key.

Rotation never re-encrypts data: each archive's data key is unwrapped with
the key that wrapped it and wrapped again with the primary key, and only the
small sidecar object beside the archive is rewritten (atomically). The
storage is the source of truth, so archives missing from the catalog are
rotated too. A key may be retired from ``TALOWA_BACKUP_KEYS`` once
``keys_in_use`` no longer names it.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from backups.archive import parse_sidecar, rewrap_data_key
from backups.exceptions import BackupError
from backups.keyring import KeyRing, generate_key_spec, load_keyring
from backups.models import Backup
from backups.storage import ObjectStore, object_store
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".tbk.key"


def _sidecars(store: ObjectStore) -> list[str]:
    return [n for n in store.list("archives") if n.endswith(SIDECAR_SUFFIX)]


def keys_in_use(*, store: ObjectStore | None = None) -> dict[str, list[str]]:
    """Return, per key id, the backups whose data key it wraps."""
    store = store or object_store()
    found: dict[str, list[str]] = defaultdict(list)
    for name in _sidecars(store):
        sidecar = parse_sidecar(store.get(name))
        found[sidecar.key_id].append(sidecar.archive_id)
    return {key_id: sorted(ids) for key_id, ids in found.items()}


def rotate_keys(
    *, actor: Any = None, dry_run: bool = False, keyring: KeyRing | None = None
) -> dict[str, Any]:
    """Re-wrap every data key not yet wrapped by the primary key."""
    keyring = keyring or load_keyring()
    store = object_store()
    primary = keyring.primary_id
    rewrapped, unchanged, failed = [], [], {}
    for name in _sidecars(store):
        current = store.get(name)
        sidecar = parse_sidecar(current)
        if sidecar.key_id == primary:
            unchanged.append(sidecar.archive_id)
            continue
        try:
            updated = rewrap_data_key(current, keyring=keyring, new_key_id=primary)
        except BackupError as exc:
            failed[sidecar.archive_id] = str(exc)
            continue
        if not dry_run:
            store.put(name, updated)
            Backup.objects.filter(pk=sidecar.archive_id).update(key_id=primary)
        rewrapped.append(sidecar.archive_id)
    result = {
        "primary": primary,
        "dry_run": dry_run,
        "rewrapped": rewrapped,
        "unchanged": len(unchanged),
        "failed": failed,
        "in_use": keys_in_use(store=store) if not dry_run else None,
    }
    if not dry_run:
        record_audit_event(
            actor=actor,
            action="keys.rotate",
            details={
                "primary": primary,
                "rewrapped": len(rewrapped),
                "failed": sorted(failed),
            },
        )
    return result


def write_new_key_file(path: Path, *, key_id: str) -> None:
    """Write a new key spec (``id:base64``) to ``path``, readable by the owner only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(generate_key_spec(key_id) + "\n")
