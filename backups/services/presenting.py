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


def manifest_summary(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the manifest's plain fields as (name, text) rows for a table.

    Nested objects other than ``counts`` and ``tables`` (shown as tables of
    their own) are flattened to ``outer.inner`` names; lists of values are
    joined, lists of records counted.
    """
    rows: list[tuple[str, str]] = []
    for name, value in manifest.items():
        if name in {"counts", "tables"}:
            continue
        rows.extend(_flattened(name, value))
    return rows


def manifest_tables(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one row per table the archive holds: name, rows, bytes, checksum."""
    tables = manifest.get("tables") or {}
    return [
        {
            "name": name,
            "table": info.get("table", ""),
            "rows": info.get("rows", 0),
            "bytes": info.get("bytes", 0),
            "checksum": info.get("xxh3_128", ""),
            "columns": len(info.get("columns") or ()),
        }
        for name, info in tables.items()
        if isinstance(info, dict)
    ]


def _flattened(name: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        if not value:
            return [(name, "–")]
        rows: list[tuple[str, str]] = []
        for inner, inner_value in value.items():
            rows.extend(_flattened(f"{name}.{inner}", inner_value))
        return rows
    if isinstance(value, list):
        if any(isinstance(item, (dict, list)) for item in value):
            # Per-section records: too long to read here; the download has them.
            return [(name, f"{len(value)} entries (in the downloaded manifest)")]
        return [(name, ", ".join(map(str, value)) if value else "–")]
    return [(name, "–" if value is None else str(value))]
