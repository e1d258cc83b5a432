"""Read-only views of stored backups for people (the admin's detail page)."""

from __future__ import annotations

from typing import Any

from backups.archive import read_manifest_from_sidecar
from backups.exceptions import BackupError
from backups.keyring import load_keyring
from backups.models import Backup
from backups.services.sidecars import read_sidecars
from backups.storage import object_store


def stored_manifest(backup: Backup) -> tuple[dict[str, Any] | None, str]:
    """Return the archive's manifest from its sidecar, or why it cannot be read."""
    if backup.status != Backup.Status.COMPLETED or not backup.object_key:
        return None, f"the backup is {backup.status}; it has no archive to read"
    try:
        sidecars = read_sidecars(object_store(backup.storage), backup.object_key)
        return read_manifest_from_sidecar(sidecars, keyring=load_keyring()), ""
    except BackupError as exc:
        return None, str(exc)
