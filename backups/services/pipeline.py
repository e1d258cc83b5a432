"""Write one backup archive from an open database snapshot.

Rows stream from the snapshot (COPY on PostgreSQL) through the archive writer
(zstd, AES-256-GCM chunks) straight into the object store: nothing holds a
table in memory. Section layout and manifest fields are specified in
docs/archive-format.md (section 13, "Sections and manifest of TALOWA
backups").
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.files.storage import storages
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from backups.archive import ArchiveResult, ArchiveWriter
from backups.archive.rows import count_rows
from backups.engines import Snapshot
from backups.keyring import KeyRing
from backups.models import Backup
from backups.registry import ACCOUNTS, TOMBSTONES, TableSpec, tables_for
from backups.services.catalog import heartbeat
from backups.services.sidecars import write_sidecars
from backups.storage import object_store
from talowa_admin import progress
from talowa_admin.audit import chain_head

logger = logging.getLogger(__name__)

# zstd compresses in worker threads of its own (outside the GIL) while this
# thread reads rows from the database: on two cores the backup overlaps
# reading and compressing instead of taking turns.
COMPRESSION_THREADS = 2
BLOB_READ_SIZE = 1024 * 1024
# Version of the manifest's keys (docs/archive-format.md section 13), apart
# from the archive format's version in the header. Archives written before
# this key existed carry ``"format": "talowa-backup/1"`` instead, which means
# manifest version 1 too.
MANIFEST_VERSION = 1


@dataclass
class ArchivePlan:
    """What one archive holds: scope, data types and the change window."""

    backup: Backup
    data_types: list[str]
    since: datetime | None = None  # incrementals: the parent's watermark
    chain: list[str] = field(default_factory=list)  # full .. parent ids

    @property
    def owner_id(self) -> int | None:
        return self.backup.owner_id


def write_archive(
    plan: ArchivePlan, *, snapshot: Snapshot, keyring: KeyRing
) -> ArchiveResult:
    """Stream the plan's rows and media into the backup storage; return sizes."""
    backup = plan.backup
    backup.object_key = f"archives/{backup.id}.tbk"
    store = object_store(backup.storage)
    with store.open_write(backup.object_key) as out:
        writer = ArchiveWriter(
            out,
            archive_id=backup.id,
            key_id=keyring.primary_id,
            kek=keyring.get(keyring.primary_id),
            compression_level=settings.TALOWA_BACKUP_COMPRESSION_LEVEL,
            compression_threads=COMPRESSION_THREADS,
        )
        tables = {
            spec.label: _write_table(writer, plan, snapshot, spec)
            for spec in _specs(plan)
        }
        blobs = _write_blobs(writer, plan, snapshot)
        result = writer.finish(_manifest(plan, snapshot, tables, blobs))
    write_sidecars(store, backup.object_key, result.sidecar)
    return result


def _specs(plan: ArchivePlan) -> list[TableSpec]:
    specs = tables_for(plan.data_types)
    if plan.owner_id is None:
        specs.insert(0, ACCOUNTS)
    if plan.since is not None:
        specs.append(TOMBSTONES)
    return specs


def _condition(plan: ArchivePlan, snapshot: Snapshot, spec: TableSpec) -> str:
    parts = []
    if plan.owner_id is not None:
        parts.append(spec.user_filter % {"user": int(plan.owner_id)})
    if spec is TOMBSTONES:
        labels = ", ".join(f"'{s.label}'" for s in _specs(plan) if s is not spec)
        parts.append(f"model IN ({labels})")
        parts.append(snapshot.changed_since("deleted_at", plan.since))
    elif plan.since is not None:
        since = snapshot.changed_since("updated_at", plan.since)
        parts.append(spec.changed_filter % {"since": since})
    return " AND ".join(parts)


def _write_table(
    writer: ArchiveWriter, plan: ArchivePlan, snapshot: Snapshot, spec: TableSpec
) -> dict[str, Any]:
    started = timezone.now()
    writer.begin_section(
        f"table:{spec.label}",
        {
            "table": spec.table,
            "columns": list(spec.columns),
            "kinds": list(spec.kinds),
            "encoding": "copy-text",
        },
    )
    rows = 0
    for block in snapshot.dump(spec, _condition(plan, snapshot, spec)):
        block_rows = count_rows(block)
        rows += block_rows
        writer.write(block)
        progress.advance(rows=block_rows, bytes=len(block))
        _beat(plan, snapshot)
    summary = writer.end_section(rows=rows)
    logger.debug(
        "backup %s: %s rows of %s in %.1f s",
        plan.backup.id,
        rows,
        spec.label,
        (timezone.now() - started).total_seconds(),
    )
    return {
        "table": spec.table,
        "rows": rows,
        "bytes": summary.bytes,
        "xxh3_128": summary.digest,
        "columns": list(spec.columns),
        "kinds": list(spec.kinds),
    }


def _beat(plan: ArchivePlan, snapshot: Snapshot) -> None:
    if not snapshot.shares_connection:
        heartbeat(plan.backup)


def _blob_query(plan: ArchivePlan, snapshot: Snapshot) -> str:
    scope = f"owner_id = {int(plan.owner_id)}" if plan.owner_id is not None else "1 = 1"
    query = (
        f"SELECT sha256, min(file), min(size) FROM messaging_mediafile WHERE {scope}"
    )
    if plan.since is not None:
        # Only bytes the chain does not hold yet: rows unchanged since the
        # parent prove their bytes are in it.
        changed = snapshot.changed_since("updated_at", plan.since)
        query += (
            f" AND {changed} AND sha256 NOT IN (SELECT sha256 FROM "
            f"messaging_mediafile WHERE {scope} AND NOT ({changed}))"
        )
    return query + " GROUP BY sha256 ORDER BY sha256"


def _write_blobs(
    writer: ArchiveWriter, plan: ArchivePlan, snapshot: Snapshot
) -> dict[str, Any]:
    if "media_files" not in plan.data_types:
        return {"count": 0, "bytes": 0, "missing": [], "mismatched": []}
    media = storages["media"]
    written, total, missing, mismatched = 0, 0, [], []
    for sha256, name, _size in snapshot.fetch(_blob_query(plan, snapshot)):
        try:
            handle = media.open(name, "rb")
        except (FileNotFoundError, OSError):
            missing.append(sha256)
            continue
        writer.begin_section(f"blob:{sha256}", {"sha256": sha256, "name": name})
        digest = hashlib.sha256()
        with handle:
            while data := handle.read(BLOB_READ_SIZE):
                digest.update(data)
                writer.write(data)
                progress.advance(bytes=len(data))
        summary = writer.end_section()
        if digest.hexdigest() != sha256:
            mismatched.append(sha256)
        written += 1
        total += summary.bytes
        _beat(plan, snapshot)
    if missing or mismatched:
        logger.warning(
            "backup %s: %d media files missing, %d not matching their sha256",
            plan.backup.id,
            len(missing),
            len(mismatched),
        )
    return {
        "count": written,
        "bytes": total,
        "missing": missing,
        "mismatched": mismatched,
    }


def _manifest(
    plan: ArchivePlan, snapshot: Snapshot, tables: dict[str, Any], blobs: dict[str, Any]
) -> dict[str, Any]:
    backup = plan.backup
    return {
        "manifest_version": MANIFEST_VERSION,
        "backup_id": backup.id,
        "kind": backup.kind,
        "scope": backup.scope,
        "owner": (
            {"id": backup.owner_id, "username": backup.owner.get_username()}
            if backup.owner_id
            else None
        ),
        "parent": backup.parent_id,
        "chain": plan.chain,
        "data_types": plan.data_types,
        "since": _timestamp(plan.since) if plan.since else None,
        "watermark": _timestamp(snapshot.watermark),
        "source_engine": snapshot.engine,
        "schema": _schema_version(),
        "created_at": _timestamp(backup.created_at),
        "counts": counts_from_tables(tables, blobs),
        "tables": tables,
        "blobs": blobs,
        "note": backup.note,
        "metadata": backup.metadata,
        "requested_by": (
            backup.requested_by.get_username() if backup.requested_by_id else None
        ),
        # Anchors the audit trail outside its own table (talowa_admin.audit).
        "audit_head": chain_head(),
    }


def _timestamp(moment: datetime) -> str:
    """Return ``moment`` as the manifest writes times: UTC, microseconds always."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def counts_from_tables(tables: dict[str, Any], blobs: dict[str, Any]) -> dict[str, int]:
    """Return the DESIGN ``counts`` object: rows per data type, then extras."""
    rows = {label: info["rows"] for label, info in tables.items()}
    return {
        "messages": rows.get("messaging.message", 0),
        "conversations": rows.get("messaging.conversation", 0),
        "call_history": rows.get("messaging.callrecord", 0),
        "media_files": rows.get("messaging.mediafile", 0),
        "participants": rows.get("messaging.participant", 0),
        "accounts": rows.get("auth.user", 0),
        "tombstones": rows.get("messaging.tombstone", 0),
        "media_blobs": blobs["count"],
    }


def _schema_version() -> str:
    # A squashed migration is recorded after the ones it replaces and names the
    # same schema: the newest of those keeps the value a database migrated
    # through the originals gives. (Should the originals ever be deleted, a new
    # database records the squashed migration alone: revisit this then.)
    latest = (
        MigrationRecorder.Migration.objects.filter(app="messaging")
        .exclude(name__contains="_squashed_")
        .order_by("-id")
        .values_list("name", flat=True)
        .first()
    )
    return f"messaging.{latest}"
