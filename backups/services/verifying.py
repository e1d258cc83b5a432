"""Verify a backup end to end, and open archives for reading.

Verification reads the whole object, checks its SHA-256 and size against the
catalog, authenticates and decrypts every chunk, decompresses every frame,
checks each section's size and digest, counts rows, parses the row each
block starts in and the last row, checks every media blob against its
SHA-256, and compares the manifest with the catalog record. The outcome is
stored on the backup.

Only what the archive holds decides that outcome. When the backup cannot be
read for another reason (its key is missing or wrong, the storage refuses
access or cannot be reached) nothing is known about its content: the result
says "cannot verify", and the backup's recorded verification is left as it
was, so that a key problem never marks every intact backup failed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.utils import timezone

from backups.archive import ArchiveReader
from backups.archive.rows import count_rows, decode_fields
from backups.exceptions import (
    ArchiveCorrupted,
    BackupError,
    KeyUnavailable,
    ObjectMissing,
    StorageUnavailable,
)
from backups.keyring import KeyRing, load_keyring
from backups.models import Backup
from backups.services.sidecars import read_sidecars
from backups.storage import ObjectStore, object_store
from talowa_admin import progress
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)


class HashingReader:
    """Wrap a stream, hashing and counting every byte read."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.digest.update(data)
        self.size += len(data)
        progress.advance(bytes=len(data))
        return data


@contextlib.contextmanager
def open_archive(
    store: ObjectStore, object_key: str, *, keyring: KeyRing
) -> Iterator[tuple[ArchiveReader, HashingReader]]:
    """Open an archive with its sidecar for streaming reads.

    Both sidecar copies are offered, the one beside the archive first; the
    first usable one is used. With no copy left the header's key is used.
    """
    sidecars = read_sidecars(store, object_key) or None
    with store.open_read(object_key) as stream:
        counted = HashingReader(stream)
        with ArchiveReader(counted, keyring=keyring, sidecar=sidecars) as reader:
            for problem in reader.sidecar_problems:
                logger.warning(
                    "%s: a sidecar copy was skipped: %s", object_key, problem
                )
            yield reader, counted


CANNOT_VERIFY = "cannot verify"


@dataclass
class VerifyResult:
    """The outcome of one verification.

    ``checked`` is false when the archive could not be read for a reason
    outside it (``error`` then starts with "cannot verify: "); ``ok`` is
    false then too, as nothing was proven.
    """

    backup_id: str
    ok: bool
    error: str = ""
    counts: dict[str, int] | None = None
    stored_bytes: int = 0
    seconds: float = 0.0
    checked: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.backup_id,
            "ok": self.ok,
            "checked": self.checked,
            "error": self.error,
            "counts": self.counts,
            "stored_bytes": self.stored_bytes,
            "seconds": round(self.seconds, 3),
        }


def verify_backup(
    backup: Backup, *, actor: Any = None, keyring: KeyRing | None = None
) -> VerifyResult:
    """Read and check ``backup`` completely; record and audit the outcome.

    A backup that cannot be read for a reason outside its archive (see the
    module's docstring) keeps its recorded verification; the result says
    why it could not be verified.
    """
    started = time.perf_counter()
    try:
        if backup.status != Backup.Status.COMPLETED:
            raise BackupError(f"backup {backup.id} is {backup.status}, not completed")
        progress.expect(bytes=backup.stored_bytes)
        manifest, size = _read_and_check(backup, keyring or load_keyring())
        result = VerifyResult(
            backup.id, True, counts=manifest["counts"], stored_bytes=size
        )
    except ObjectMissing as exc:  # the storage answered: the archive is gone
        result = VerifyResult(backup.id, False, error=str(exc))
    except (KeyUnavailable, StorageUnavailable) as exc:
        return VerifyResult(
            backup.id,
            False,
            error=f"{CANNOT_VERIFY}: {exc}",
            seconds=time.perf_counter() - started,
            checked=False,
        )
    except BackupError as exc:
        result = VerifyResult(backup.id, False, error=str(exc))
    result.seconds = time.perf_counter() - started
    backup.verified_at = timezone.now()
    backup.verify_ok = result.ok
    backup.verify_error = result.error
    backup.save(update_fields=["verified_at", "verify_ok", "verify_error"])
    record_audit_event(
        actor=actor,
        action="backup.verify",
        target=backup,
        details={"ok": result.ok, "error": result.error},
    )
    return result


def _read_and_check(backup: Backup, keyring: KeyRing) -> tuple[dict, int]:
    store = object_store(backup.storage)
    with open_archive(store, backup.object_key, keyring=keyring) as (reader, counted):
        check_all_sections(reader)
        manifest = reader.manifest
        while counted.read(1 << 20):
            pass  # anything after the manifest is caught by the reader; count it
    problems = _compare(backup, manifest, counted)
    if problems:
        raise ArchiveCorrupted(f"backup {backup.id}: " + "; ".join(problems))
    return manifest, counted.size


def check_all_sections(reader: ArchiveReader) -> None:
    """Read every section, checking rows and blobs as well as the frames."""
    for section in reader.sections():
        if section.name.startswith("table:"):
            _check_rows(section)
        elif section.name.startswith("blob:"):
            digest = hashlib.sha256()
            for piece in section.iter_data():
                digest.update(piece)
            if digest.hexdigest() != section.meta.get("sha256"):
                raise ArchiveCorrupted(
                    f"media blob {section.name[5:]} does not match its SHA-256"
                )
        else:
            section.skip()
    reader.manifest  # noqa: B018 (raises unless the manifest was verified)


def _check_rows(section) -> None:
    """Count rows; parse the row each piece starts in, and the last row.

    The row a piece starts in is the one cut by the piece boundary, where a
    fault of the writer or the reader would show first.
    """
    width = len(section.meta["columns"])
    label = section.name[6:]

    def parse(line: bytes) -> None:
        if len(decode_fields(line)) != width:
            raise ArchiveCorrupted(f"a row of {label} has the wrong number of fields")

    rows, tail = 0, b""
    last_piece, last_break = b"", -1  # where the last whole row ends
    for piece in section.iter_data():
        piece_rows = count_rows(piece)
        rows += piece_rows
        progress.advance(rows=piece_rows)
        first_break = piece.find(b"\n")
        if first_break < 0:
            tail += piece
            continue
        parse(tail + piece[:first_break])
        last_piece, last_break = piece, piece.rfind(b"\n")
        tail = piece[last_break + 1 :]
    if tail:
        raise ArchiveCorrupted(f"the rows of {label} end mid-line")
    start = last_piece.rfind(b"\n", 0, last_break) if last_break > 0 else -1
    if start >= 0:  # otherwise the last row is the one its piece started in
        parse(last_piece[start + 1 : last_break])
    if section.summary.rows is not None and section.summary.rows != rows:
        raise ArchiveCorrupted(
            f"{label} holds {rows} rows, its end record says {section.summary.rows}"
        )


def _compare(backup: Backup, manifest: dict, counted: HashingReader) -> list[str]:
    problems = []
    if manifest.get("backup_id") != backup.id:
        problems.append(
            f"the archive is {manifest.get('backup_id')!r}, not this backup"
        )
    if backup.sha256 and counted.digest.hexdigest() != backup.sha256:
        problems.append("the stored object's SHA-256 differs from the catalog's")
    if backup.stored_bytes and counted.size != backup.stored_bytes:
        problems.append(
            f"the stored object is {counted.size} bytes, the catalog says "
            f"{backup.stored_bytes}"
        )
    for name, count in (backup.counts or {}).items():
        if manifest.get("counts", {}).get(name) != count:
            problems.append(
                f"{name}: the manifest counts "
                f"{manifest.get('counts', {}).get(name)}, the catalog {count}"
            )
    return problems
