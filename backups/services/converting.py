"""Rewrite backup archives (``convert_backups``): level, format, fresh data keys.

Invariants:
- The original archive is replaced only after its converted copy, written
  under ``converting/`` in the same storage, was read back and decoded with
  every section equal to the original's (name, meta, bytes, row count and
  XXH3-128 digest) and the same manifest. A conversion that fails leaves the
  original and its catalog entry as they were.
- Ids, manifests and therefore chains stay as they were: only the bytes of
  the archive and its sidecars change, never what they decode to.
- Every converted archive has a new, random data key wrapped by the primary
  key: after ``--reencrypt`` the old data key (and any copy of the old
  sidecar) opens nothing of it.
- A crash after the archive was replaced but before its sidecars were is
  finished by the next run: the converted sidecar waits under
  ``converting/`` until both copies and the catalog are written.

Steps for each backup: 1. decode the original and write the converted copy
to ``converting/``; 2. decode the copy and compare; 3. copy it over the
original (an atomic replace), write both sidecar copies, update the catalog;
4. remove the staged objects.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backups.archive import (
    FORMAT_VERSION,
    ArchiveReader,
    ArchiveWriter,
    parse_sidecar,
    read_archive_header,
)
from backups.archive import format as fmt
from backups.exceptions import ArchiveCorrupted, BackupError
from backups.keyring import KeyRing, load_keyring
from backups.models import Backup
from backups.services.migrating import COPY_CHUNK, MIGRATION_LOCK, sha256_of
from backups.services.sidecars import read_sidecars, write_sidecars
from backups.services.verifying import open_archive
from backups.storage import ObjectStore, object_store
from talowa_admin import locks
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)

STAGING_PREFIX = "converting/"
COMPRESSION_THREADS = 2


def convert_backups(
    *,
    ids: list[str] | None = None,
    compression_level: int | None = None,
    reencrypt: bool = False,
    format_version: int | None = None,
    dry_run: bool = False,
    actor: Any = None,
) -> dict[str, Any]:
    """Rewrite the archives of backups ``ids`` (None: every completed backup)."""
    if format_version is not None and format_version != FORMAT_VERSION:
        raise BackupError(
            f"--format-version {format_version}: archives are written in format "
            f"version {FORMAT_VERSION} only (the newest)"
        )
    level = (
        settings.TALOWA_BACKUP_COMPRESSION_LEVEL
        if compression_level is None
        else compression_level
    )
    backups = _selected(ids)
    if dry_run:
        return {"dry_run": True, "backups": [b.id for b in backups], "level": level}
    keyring = load_keyring()
    started = time.monotonic()
    converted, unchanged, failed = [], [], {}
    try:
        with locks.hold(MIGRATION_LOCK, purpose="convert_backups"):
            for backup in backups:
                try:
                    done = convert_backup(
                        backup,
                        level=level,
                        reencrypt=reencrypt,
                        keyring=keyring,
                        actor=actor,
                    )
                except BackupError as exc:
                    logger.warning("conversion of %s failed: %s", backup.id, exc)
                    failed[backup.id] = str(exc)
                    continue
                (converted if done else unchanged).append(backup.id)
    except locks.LockHeld as exc:
        raise BackupError(f"{exc}; wait for it to finish") from exc
    result = {
        "dry_run": False,
        "level": level,
        "reencrypt": reencrypt,
        "format_version": FORMAT_VERSION,
        "converted": converted,
        "unchanged": unchanged,
        "failed": failed,
        "seconds": round(time.monotonic() - started, 3),
    }
    record_audit_event(actor=actor, action="backup.convert", details=result)
    return result


def _selected(ids: list[str] | None) -> list[Backup]:
    completed = Backup.objects.filter(status=Backup.Status.COMPLETED).exclude(
        object_key=""
    )
    if ids is None:
        return list(completed.order_by("created_at", "id"))
    found = {b.id: b for b in completed.filter(pk__in=ids)}
    missing = [backup_id for backup_id in ids if backup_id not in found]
    if missing:
        raise BackupError(
            f"no completed backup {', '.join(missing[:3])}"
            f"{'…' if len(missing) > 3 else ''}; list_backups shows the ids"
        )
    return [found[backup_id] for backup_id in ids]


def convert_backup(
    backup: Backup,
    *,
    level: int,
    reencrypt: bool,
    keyring: KeyRing,
    actor: Any = None,
) -> bool:
    """Convert one backup's archive; return False when it needed nothing."""
    store = object_store(backup.storage)
    staged = STAGING_PREFIX + backup.object_key
    if _finish_interrupted(backup, store, staged):
        return True
    if not reencrypt and _current_level(store, backup) == level:
        return False
    started = time.monotonic()
    store.remove_partials(STAGING_PREFIX.rstrip("/"))
    original, result = _write_converted(backup, store, staged, level, keyring)
    try:
        _compare(original, _decode(store, staged, result.sidecar, keyring), backup)
    except BackupError:
        _discard(store, staged)
        raise
    # From here the staged sidecar stays until the end: a run that stops
    # midway is finished by the next one (_finish_interrupted).
    _replace(backup, store, staged, result.sidecar, result.sha256)
    _record(backup, result, level=level, reencrypt=reencrypt, actor=actor)
    _discard(store, staged)
    logger.info(
        "backup %s converted (level %s) in %.1f s",
        backup.id,
        level,
        time.monotonic() - started,
    )
    return True


def _current_level(store: ObjectStore, backup: Backup) -> int | None:
    with store.open_read(backup.object_key) as stream:
        return read_archive_header(stream).fields.get("compression_level")


def _write_converted(
    backup: Backup, store: ObjectStore, staged: str, level: int, keyring: KeyRing
):
    """Decode the original into a new archive at ``staged``; return both views."""
    with (
        open_archive(store, backup.object_key, keyring=keyring) as (reader, counted),
        store.open_write(staged) as out,
    ):
        writer = ArchiveWriter(
            out,
            archive_id=backup.id,
            key_id=keyring.primary_id,
            kek=keyring.get(keyring.primary_id),
            compression_level=level,
            compression_threads=COMPRESSION_THREADS,
            created_at=_header_time(reader),
        )
        metas = []
        for section in reader.sections():
            writer.begin_section(section.name, section.meta)
            for piece in section.iter_data():
                writer.write(piece)
            writer.end_section(rows=section.summary.rows)
            metas.append((section.name, section.meta))
        manifest = _user_manifest(reader.manifest)
        if backup.sha256:
            while counted.read(COPY_CHUNK):
                pass
            if counted.digest.hexdigest() != backup.sha256:
                raise ArchiveCorrupted(
                    f"backup {backup.id}: the archive does not match the catalog's "
                    "SHA-256; not converted (verify_backup says more)",
                    archive_id=backup.id,
                )
        result = writer.finish(manifest)
    original = {
        "sections": [s.as_json() for s in reader.summaries],
        "metas": metas,
        "manifest": manifest,
    }
    store.put(staged + ".key", result.sidecar)
    return original, result


def _header_time(reader: ArchiveReader) -> datetime | None:
    try:
        return datetime.strptime(
            reader.header.created_at, "%Y-%m-%dT%H:%M:%SZ"
        ).replace(tzinfo=UTC)
    except ValueError:
        return None


def _user_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return the manifest without the entry the archive writes itself."""
    return {k: v for k, v in manifest.items() if k != fmt.RESERVED_MANIFEST_KEY}


def _decode(
    store: ObjectStore, staged: str, sidecar: bytes, keyring: KeyRing
) -> dict[str, Any]:
    """Read the converted archive back completely; return what it decodes to."""
    metas = []
    with (
        store.open_read(staged) as stream,
        ArchiveReader(stream, keyring=keyring, sidecar=sidecar) as reader,
    ):
        for section in reader.sections():
            for _piece in section.iter_data():
                pass
            metas.append((section.name, section.meta))
        return {
            "sections": [s.as_json() for s in reader.summaries],
            "metas": metas,
            "manifest": _user_manifest(reader.manifest),
        }


def _compare(original: dict, converted: dict, backup: Backup) -> None:
    for part in ("sections", "metas", "manifest"):
        if original[part] != converted[part]:
            raise ArchiveCorrupted(
                f"backup {backup.id}: the converted archive's {part} differ from "
                "the original's; the original is kept",
                archive_id=backup.id,
            )


def _replace(
    backup: Backup, store: ObjectStore, staged: str, sidecar: bytes, sha256: str
) -> None:
    """Put the staged archive in the original's place, then its sidecars."""
    with store.open_read(staged) as reader, store.open_write(backup.object_key) as out:
        while data := reader.read(COPY_CHUNK):
            out.write(data)
    if sha256_of(store, backup.object_key) != sha256:
        raise BackupError(
            f"backup {backup.id}: the replaced archive does not read back as "
            "written; run convert_backups again to finish it"
        )
    write_sidecars(store, backup.object_key, sidecar)


def _record(backup: Backup, result, *, level: int, reencrypt: bool, actor: Any) -> None:
    with transaction.atomic():
        backup.sha256 = result.sha256
        backup.stored_bytes = result.stored_bytes
        backup.compressed_bytes = result.compressed_bytes
        backup.key_id = result.key_id
        backup.metadata = {
            **backup.metadata,
            "converted": {
                "at": timezone.now().isoformat(timespec="seconds"),
                "compression_level": level,
                "format_version": FORMAT_VERSION,
                "reencrypted": reencrypt,
            },
        }
        backup.save(
            update_fields=[
                "sha256",
                "stored_bytes",
                "compressed_bytes",
                "key_id",
                "metadata",
            ]
        )
    record_audit_event(
        actor=actor,
        action="backup.convert_one",
        target=backup,
        details={"level": level, "reencrypt": reencrypt, "sha256": result.sha256},
    )


def _finish_interrupted(backup: Backup, store: ObjectStore, staged: str) -> bool:
    """Finish a conversion whose archive was replaced before its sidecars."""
    if not store.exists(staged + ".key"):
        return False
    sidecar = store.get(staged + ".key")
    parsed = parse_sidecar(sidecar)
    if sha256_of(store, backup.object_key) != parsed.archive_sha256:
        _discard(store, staged)  # the original is still in place: start over
        return False
    if read_sidecars(store, backup.object_key)[:1] != [sidecar]:
        write_sidecars(store, backup.object_key, sidecar)
    Backup.objects.filter(pk=backup.pk).update(
        sha256=parsed.archive_sha256,
        stored_bytes=parsed.archive_bytes,
        key_id=parsed.key_id,
    )
    _discard(store, staged)
    logger.info("backup %s: an interrupted conversion was finished", backup.id)
    return True


def _discard(store: ObjectStore, staged: str) -> None:
    for name in (staged, staged + ".key"):
        store.delete(name)
