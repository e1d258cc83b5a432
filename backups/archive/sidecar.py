"""The sidecar: a small JSON document stored beside each archive.

Invariants: the sidecar holds the data key wrapped by the current KEK and an
encrypted copy of the manifest; rotation rewrites only the sidecar (the data
key and the archive bytes never change). A sidecar is bound to its archive by
the archive id (in the key-wrap AAD) and by the header's SHA-256 (in the
manifest AAD, and checked by the reader), so it cannot be moved to another
archive.

Each sidecar is stored twice (see ``backups/services/sidecars.py``): readers
pass every copy they found, and ``usable_sidecar`` picks the first one that
parses, belongs to the archive, unwraps with a configured key and opens its
manifest. A missing or damaged copy is therefore harmless while the other one
is intact.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from backups.archive import crypto
from backups.archive import format as fmt
from backups.exceptions import ArchiveCorrupted, BackupError, KeyUnavailable
from backups.keyring import KEY_ID_PATTERN, KeyRing

SIDECAR_FORMAT = "talowa-backup-sidecar"
SIDECAR_VERSION = 1


@dataclass(frozen=True, slots=True)
class Sidecar:
    """The decoded fields of a sidecar document."""

    archive_id: str
    header_sha256: bytes
    key_id: str
    key_check: str
    wrapped_key: bytes
    sealed_manifest: bytes
    archive_bytes: int
    archive_sha256: str


def build_sidecar(sidecar: Sidecar) -> bytes:
    """Serialize a sidecar to its JSON bytes."""
    return fmt.dump_json(
        {
            "format": SIDECAR_FORMAT,
            "version": SIDECAR_VERSION,
            "archive_id": sidecar.archive_id,
            "header_sha256": sidecar.header_sha256.hex(),
            "key_id": sidecar.key_id,
            "key_check": sidecar.key_check,
            "key_wrap": fmt.KEY_WRAP,
            "wrapped_key": _b64(sidecar.wrapped_key),
            "manifest": _b64(sidecar.sealed_manifest),
            "archive_bytes": sidecar.archive_bytes,
            "archive_sha256": sidecar.archive_sha256,
        }
    )


def parse_sidecar(data: bytes) -> Sidecar:
    """Decode and validate sidecar JSON bytes or raise ArchiveCorrupted."""
    fields = _load(data)
    try:
        sidecar = Sidecar(
            archive_id=_text(fields, "archive_id"),
            header_sha256=bytes.fromhex(_text(fields, "header_sha256")),
            key_id=_text(fields, "key_id"),
            key_check=_text(fields, "key_check"),
            wrapped_key=fmt.decode_wrapped_key(_text(fields, "wrapped_key")),
            sealed_manifest=base64.b64decode(_text(fields, "manifest"), validate=True),
            archive_bytes=int(fields["archive_bytes"]),
            archive_sha256=_text(fields, "archive_sha256"),
        )
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise _corrupted("a field is missing or malformed") from None
    if len(sidecar.header_sha256) != 32:
        raise _corrupted("header_sha256 is not a SHA-256 digest")
    if not fmt.ARCHIVE_ID_PATTERN.fullmatch(sidecar.archive_id):
        raise _corrupted("archive_id is not a valid archive id")
    if not KEY_ID_PATTERN.fullmatch(sidecar.key_id):
        raise _corrupted("key_id is not a valid key id")
    return sidecar


def _load(data: bytes) -> dict[str, Any]:
    """Parse the sidecar JSON object and check its format marker."""
    try:
        fields = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        fields = None
    if not isinstance(fields, dict):
        raise _corrupted("it is not a JSON object")
    if fields.get("format") != SIDECAR_FORMAT:
        raise _corrupted("its format marker is wrong")
    if fields.get("version") != SIDECAR_VERSION:
        raise _corrupted(f"version {fields.get('version')!r} is not supported")
    if fields.get("key_wrap") != fmt.KEY_WRAP:
        raise _corrupted("its key_wrap algorithm is not supported")
    return fields


def _text(fields: dict[str, Any], name: str) -> str:
    """Return a string field or raise TypeError."""
    value = fields[name]
    if not isinstance(value, str):
        raise TypeError(name)
    return value


def _b64(data: bytes) -> str:
    """Return standard base64 text of ``data``."""
    return base64.b64encode(data).decode("ascii")


def _corrupted(reason: str) -> ArchiveCorrupted:
    """Return the error for a sidecar that cannot be used."""
    return ArchiveCorrupted(
        f"the backup sidecar is unusable ({reason}); restore it from another "
        "copy, or read the archive without it using the key named in its header"
    )


def unwrap_with_keyring(
    *,
    keyring: KeyRing,
    archive_id: str,
    key_id: str,
    key_check: str,
    wrapped_key: bytes,
) -> bytes:
    """Return the data key, unwrapped with the ring's key ``key_id``."""
    return crypto.unwrap_data_key(
        wrapped_key=wrapped_key,
        kek=keyring.get(key_id),
        archive_id=archive_id,
        key_id=key_id,
        expected_check=key_check,
    )


def _data_key(sidecar: Sidecar, keyring: KeyRing) -> bytes:
    """Return the data key the sidecar wraps, unwrapped with its key."""
    return unwrap_with_keyring(
        keyring=keyring,
        archive_id=sidecar.archive_id,
        key_id=sidecar.key_id,
        key_check=sidecar.key_check,
        wrapped_key=sidecar.wrapped_key,
    )


def rewrap_data_key(
    sidecar: bytes, *, keyring: KeyRing, new_key_id: str | None = None
) -> bytes:
    """Return the sidecar with its data key re-wrapped by ``new_key_id``.

    The key defaults to the ring's primary key; the archive is not touched.
    """
    current = parse_sidecar(sidecar)
    target_id = new_key_id or keyring.primary_id
    new_kek = keyring.get(target_id)
    data_key = _data_key(current, keyring)
    wrapped = crypto.wrap_data_key(
        data_key=data_key, kek=new_kek, archive_id=current.archive_id, key_id=target_id
    )
    return build_sidecar(
        replace(
            current,
            key_id=target_id,
            key_check=crypto.key_check(new_kek),
            wrapped_key=wrapped,
        )
    )


@dataclass(frozen=True, slots=True)
class UsableSidecar:
    """A sidecar copy that was checked end to end, with what it unlocks."""

    sidecar: Sidecar
    raw: bytes
    data_key: bytes = field(repr=False)
    manifest_json: bytes = field(repr=False)
    problems: tuple[str, ...]  # why the copies before it were skipped


def open_sidecar(
    raw: bytes,
    *,
    keyring: KeyRing,
    archive_id: str | None = None,
    header_sha256: bytes | None = None,
) -> tuple[Sidecar, bytes, bytes]:
    """Check one sidecar copy completely; return it, its data key and manifest.

    With ``archive_id`` and ``header_sha256`` (the archive's), the copy must
    belong to exactly that archive.
    """
    parsed = parse_sidecar(raw)
    if archive_id is not None and (
        parsed.archive_id != archive_id or parsed.header_sha256 != header_sha256
    ):
        raise ArchiveCorrupted(
            f"the sidecar belongs to archive {parsed.archive_id}, not to this "
            f"archive ({archive_id}) or to this exact header; pick the "
            "sidecar stored beside the archive",
            archive_id=archive_id,
        )
    data_key = _data_key(parsed, keyring)
    manifest_json = crypto.open_manifest(
        data_key=data_key,
        sealed=parsed.sealed_manifest,
        header_sha256=parsed.header_sha256,
        archive_id=parsed.archive_id,
    )
    return parsed, data_key, manifest_json


def usable_sidecar(
    candidates: Sequence[bytes],
    *,
    keyring: KeyRing,
    archive_id: str | None = None,
    header_sha256: bytes | None = None,
) -> UsableSidecar:
    """Return the first candidate copy that ``open_sidecar`` accepts.

    When none does, raise the most useful error: a key problem (fixed by
    configuring a key) before damage (fixed by another copy or backup).
    """
    errors: list[BackupError] = []
    for raw in candidates:
        try:
            parsed, data_key, manifest_json = open_sidecar(
                raw,
                keyring=keyring,
                archive_id=archive_id,
                header_sha256=header_sha256,
            )
        except BackupError as exc:
            errors.append(exc)
            continue
        return UsableSidecar(
            sidecar=parsed,
            raw=bytes(raw),
            data_key=data_key,
            manifest_json=manifest_json,
            problems=tuple(str(error) for error in errors),
        )
    if not errors:
        raise ArchiveCorrupted(
            "no copy of the sidecar is available; the archive can be read only "
            "with the key named in its header",
            archive_id=archive_id,
        )
    key_errors = [e for e in errors if isinstance(e, KeyUnavailable)]
    raise (key_errors or errors)[0]


def read_manifest_from_sidecar(
    sidecar: bytes | Sequence[bytes], *, keyring: KeyRing
) -> dict[str, Any]:
    """Return the archive manifest decrypted from a sidecar alone.

    ``sidecar`` is one copy, or every copy found (the first usable one wins).
    """
    candidates = [sidecar] if isinstance(sidecar, bytes | bytearray) else sidecar
    return json.loads(usable_sidecar(candidates, keyring=keyring).manifest_json)
