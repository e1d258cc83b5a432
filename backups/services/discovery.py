"""Find backups in the storage when the catalog does not know them.

After a disaster the database, and the catalog in it, may be gone; the
storage and the keys are enough. Each archive's sidecar carries its
encrypted manifest, so listing the storage costs one small read per backup,
and a catalog record can be rebuilt from it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from backups.archive import usable_sidecar
from backups.exceptions import BackupError
from backups.keyring import KeyRing, load_keyring
from backups.models import Backup
from backups.services.sidecars import (
    backup_id_of,
    read_sidecars,
    stored_object_keys,
)
from backups.storage import ObjectStore, object_store
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)


def stored_manifests(
    *, store: ObjectStore | None = None, keyring: KeyRing | None = None
) -> list[dict[str, Any]]:
    """Return the manifest of every archive in the storage, oldest first.

    Each manifest gains ``_stored`` with the object's key, size and SHA-256,
    and ``_key_id``. Both sidecar copies are listed and the first usable one
    is read, so an archive is found while either copy is intact. Archives
    whose sidecar copies are all unusable are reported with ``_error``
    instead of a manifest.
    """
    store = store or object_store()
    keyring = keyring or load_keyring()
    found = []
    for object_key in stored_object_keys(store):
        try:
            chosen = usable_sidecar(read_sidecars(store, object_key), keyring=keyring)
        except BackupError as exc:
            found.append({"backup_id": backup_id_of(object_key), "_error": str(exc)})
            continue
        manifest = json.loads(chosen.manifest_json)
        manifest["_stored"] = {
            "object_key": object_key,
            "bytes": chosen.sidecar.archive_bytes,
            "sha256": chosen.sidecar.archive_sha256,
        }
        manifest["_key_id"] = chosen.sidecar.key_id
        found.append(manifest)
    return sorted(found, key=lambda m: m.get("created_at", ""))


def find_backup(backup_id: str) -> Backup:
    """Return the catalog's backup, importing it (and its chain) from storage."""
    backup = Backup.objects.filter(pk=backup_id).first()
    if backup is not None:
        return backup
    manifests = {m["backup_id"]: m for m in stored_manifests() if "_error" not in m}
    if backup_id not in manifests:
        raise BackupError(
            f"backup {backup_id!r} is neither in the catalog nor in the backup "
            "storage (list_backups --from-storage shows what the storage holds)"
        )
    for ancestor in manifests[backup_id].get("chain", []):
        if not Backup.objects.filter(pk=ancestor).exists():
            if ancestor not in manifests:
                raise BackupError(
                    f"backup {backup_id} needs {ancestor}, which is missing from "
                    "the backup storage: the chain cannot be restored"
                )
            import_manifest(manifests[ancestor])
    return import_manifest(manifests[backup_id])


def rebuild_catalog(*, actor: Any = None) -> dict[str, Any]:
    """Add every stored backup missing from the catalog; return what was done."""
    added, failed = [], {}
    for manifest in stored_manifests():
        if "_error" in manifest:
            failed[manifest["backup_id"]] = manifest["_error"]
        elif not Backup.objects.filter(pk=manifest["backup_id"]).exists():
            import_manifest(manifest)
            added.append(manifest["backup_id"])
    record_audit_event(
        actor=actor,
        action="backup.catalog_rebuild",
        details={"added": added, "failed": sorted(failed)},
    )
    return {"added": added, "failed": failed}


def import_manifest(manifest: dict[str, Any]) -> Backup:
    """Create a completed catalog record from a stored archive's manifest."""
    stored = manifest["_stored"]
    with transaction.atomic():
        backup = Backup.objects.create(
            id=manifest["backup_id"],
            kind=manifest["kind"],
            scope=manifest["scope"],
            owner=_owner(manifest.get("owner")),
            parent_id=manifest.get("parent"),
            status=Backup.Status.COMPLETED,
            data_types=manifest["data_types"],
            watermark=datetime.fromisoformat(manifest["watermark"]),
            counts=manifest["counts"],
            stored_bytes=stored["bytes"],
            sha256=stored["sha256"],
            object_key=stored["object_key"],
            key_id=manifest["_key_id"],
            created_at=datetime.fromisoformat(manifest["created_at"]),
            note=manifest.get("note", ""),
            metadata={**manifest.get("metadata", {}), "imported_from_storage": True},
            audit_head=manifest.get("audit_head"),
        )
    logger.info("backup %s imported into the catalog from the storage", backup.id)
    return backup


def _owner(owner: dict | None):
    """Match a manifest's owner to an account: same id and name, else same name."""
    if not owner:
        return None
    users = get_user_model().objects
    return (
        users.filter(pk=owner["id"], username=owner["username"]).first()
        or users.filter(username=owner["username"]).first()
    )
