"""Independent decoder of TALOWA backup archives, written from docs/archive-format.md.

It deliberately imports nothing from ``backups`` (nor from the rest of the
project): it is the proof that the format page is complete. Each function
names the section of the page it follows. It favours plainness over speed
and memory (it decodes a whole archive held in memory).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import math
import re
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import xxhash
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class DecodeError(Exception):
    """The archive or sidecar does not follow the format."""


@dataclass
class DecodedSection:
    """One section as the format page describes it."""

    name: str
    meta: dict[str, Any]
    data: bytes
    end: dict[str, Any]


@dataclass
class DecodedArchive:
    """Everything a decoder recovers from an archive."""

    header: dict[str, Any]
    header_sha256: bytes
    sections: list[DecodedSection]
    manifest: dict[str, Any]
    chunks: int


def _require(condition: bool, message: str) -> None:
    """Raise DecodeError with ``message`` unless ``condition`` holds."""
    if not condition:
        raise DecodeError(message)


def _unwrap(
    *, fields: dict[str, Any], archive_id: str, keys: dict[str, bytes]
) -> bytes:
    """Unwrap the data key from header or sidecar fields (section 4)."""
    key_id = fields["key_id"]
    _require(key_id in keys, f"key {key_id} not configured")
    kek = keys[key_id]
    check = hmac.new(kek, b"TALOWABK key-check v1", hashlib.sha256).digest()[:8]
    _require(check.hex() == fields["key_check"], f"wrong key for {key_id}")
    wrapped = base64.b64decode(fields["wrapped_key"], validate=True)
    _require(len(wrapped) == 60, "wrapped key length")
    aid, kid = archive_id.encode("ascii"), key_id.encode("ascii")
    aad = (
        b"TALOWABK key-wrap v1\x00" + bytes([len(aid)]) + aid + bytes([len(kid)]) + kid
    )
    return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], aad)


def _parse_header(blob: bytes) -> tuple[dict[str, Any], bytes, int]:
    """Return the header JSON, H and the offset of chunk 0 (section 3)."""
    _require(len(blob) >= 14, "too short")
    _require(blob[:8] == b"TALOWABK", "magic")
    (version,) = struct.unpack(">H", blob[8:10])
    _require(version == 2, "version")
    (length,) = struct.unpack(">I", blob[10:14])
    _require(1 <= length <= 65536 and len(blob) >= 14 + length, "header length")
    header = json.loads(blob[14 : 14 + length].decode("utf-8"))
    _require(header["format"] == "talowa-backup", "format")
    _require(header["cipher"] == "AES-256-GCM", "cipher")
    _require(header["key_wrap"] == "AES-256-GCM", "key_wrap")
    _require(header["compression"] == "zstd", "compression")
    _require(512 <= header["chunk_size"] <= 67108864, "chunk_size")
    return header, hashlib.sha256(blob[: 14 + length]).digest(), 14 + length


def _open_chunks(
    blob: bytes, *, offset: int, size: int, key: bytes, h: bytes
) -> tuple[bytes, int]:
    """Return the compressed stream Z and the chunk count (section 5)."""
    aead = AESGCM(key)
    pieces = []
    index = 0
    while True:
        sealed = blob[offset : offset + size + 16]
        offset += len(sealed)
        if len(sealed) == size + 16:
            final = b"\x00"
        elif len(sealed) >= 16:
            final = b"\x01"
        else:
            raise DecodeError("truncated")
        nonce = index.to_bytes(11, "big") + final
        aad = h + index.to_bytes(8, "big") + final
        pieces.append(aead.decrypt(nonce, sealed, aad))
        index += 1
        if final == b"\x01":
            _require(offset == len(blob), "data after final chunk")
            return b"".join(pieces), index


def _decompress(compressed: bytes) -> bytes:
    """Decompress all zstd frames of Z (section 6)."""
    reader = zstandard.ZstdDecompressor().stream_reader(
        io.BytesIO(compressed), read_across_frames=True
    )
    return reader.read()


def _read_records(
    records: bytes, archive_id: str
) -> tuple[list[DecodedSection], dict[str, Any], bytes]:
    """Parse frames into sections and the manifest (section 7)."""
    sections: list[DecodedSection] = []
    current: dict[str, Any] | None = None
    position = 0
    while position < len(records):
        kind = records[position]
        (length,) = struct.unpack(">Q", records[position + 1 : position + 9])
        payload = records[position + 9 : position + 9 + length]
        _require(len(payload) == length, "frame cut short")
        position += 9 + length
        if kind == 0x01 and current is None:
            start = json.loads(payload)
            current = {"name": start["name"], "meta": start["meta"], "data": []}
        elif kind == 0x02 and current is not None:
            current["data"].append(payload)
        elif kind == 0x03 and current is not None:
            data = b"".join(current["data"])
            end = json.loads(payload)
            _require(end["bytes"] == len(data), "section size")
            _require(end["xxh3_128"] == xxhash.xxh3_128(data).hexdigest(), "digest")
            sections.append(DecodedSection(current["name"], current["meta"], data, end))
            current = None
        elif kind == 0x04 and current is None:
            manifest = json.loads(payload)
            _require(position == len(records), "data after manifest")
            expected = [
                {
                    "name": s.name,
                    "bytes": s.end["bytes"],
                    "xxh3_128": s.end["xxh3_128"],
                    "rows": s.end["rows"],
                }
                for s in sections
            ]
            archive = {"archive_id": archive_id, "sections": expected}
            _require(manifest["archive"] == archive, "manifest sections")
            return sections, manifest, payload
        else:
            raise DecodeError("malformed record stream")
    raise DecodeError("no manifest")


def _open_sidecar_manifest(sidecar: dict[str, Any], key: bytes) -> dict[str, Any]:
    """Decrypt the manifest copy held by a sidecar (section 8)."""
    aad = b"TALOWABK manifest v1\x00" + bytes.fromhex(sidecar["header_sha256"])
    nonce = bytes(11) + b"\x02"
    sealed = base64.b64decode(sidecar["manifest"], validate=True)
    return json.loads(AESGCM(key).decrypt(nonce, sealed, aad))


def _load_sidecar(sidecar_bytes: bytes) -> dict[str, Any]:
    """Parse and check the sidecar document's format marker."""
    sidecar = json.loads(sidecar_bytes.decode("utf-8"))
    _require(sidecar["format"] == "talowa-backup-sidecar", "sidecar format")
    _require(sidecar["version"] == 1, "sidecar version")
    return sidecar


def _choose_sidecar(
    copies: Sequence[bytes], *, header: dict[str, Any], h: bytes, keys: dict[str, bytes]
) -> tuple[dict[str, Any], bytes, dict[str, Any]]:
    """Return the first usable sidecar copy, its data key and manifest (8.1, 10)."""
    reasons = []
    for copy in copies:
        try:
            side = _load_sidecar(copy)
            _require(side["archive_id"] == header["archive_id"], "sidecar archive id")
            _require(bytes.fromhex(side["header_sha256"]) == h, "sidecar header hash")
            data_key = _unwrap(fields=side, archive_id=header["archive_id"], keys=keys)
            return side, data_key, _open_sidecar_manifest(side, data_key)
        except (DecodeError, ValueError, KeyError, TypeError) as exc:
            reasons.append(f"{type(exc).__name__}: {exc}")
        except InvalidTag:
            reasons.append("authentication failed")
    missing_key = [r for r in reasons if "not configured" in r]
    raise DecodeError((missing_key or reasons)[0])


def decode_archive(
    blob: bytes,
    *,
    keys: dict[str, bytes],
    sidecar: bytes | Sequence[bytes] | None = None,
) -> DecodedArchive:
    """Decode a whole archive following section 10 of the format page.

    ``sidecar`` is one sidecar copy or the list of copies found (first copy
    first); without one the header's key fields are used.
    """
    header, h, offset = _parse_header(blob)
    copies = [sidecar] if isinstance(sidecar, bytes) else list(sidecar or [])
    side_manifest = None
    if copies:
        _side, data_key, side_manifest = _choose_sidecar(
            copies, header=header, h=h, keys=keys
        )
    else:
        data_key = _unwrap(fields=header, archive_id=header["archive_id"], keys=keys)
    compressed, chunks = _open_chunks(
        blob, offset=offset, size=header["chunk_size"], key=data_key, h=h
    )
    sections, manifest, _ = _read_records(_decompress(compressed), header["archive_id"])
    if side_manifest is not None:
        _require(side_manifest == manifest, "sidecar manifest")
    return DecodedArchive(header, h, sections, manifest, chunks)


def manifest_from_sidecar(sidecar: bytes, *, keys: dict[str, bytes]) -> dict[str, Any]:
    """Read the manifest from a sidecar alone (section 8)."""
    side = _load_sidecar(sidecar)
    data_key = _unwrap(fields=side, archive_id=side["archive_id"], keys=keys)
    return _open_sidecar_manifest(side, data_key)


_SIMPLE = {"b": 0x08, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}


def _unescape(field: bytes) -> bytes:
    """Undo COPY text escapes in one field (section 9)."""
    out = bytearray()
    i = 0
    while i < len(field):
        byte = field[i]
        if byte != 0x5C:
            out.append(byte)
            i += 1
            continue
        _require(i + 1 < len(field), "lone backslash")
        nxt = chr(field[i + 1])
        if nxt in "01234567":
            j = i + 1
            while j < len(field) and j < i + 4 and chr(field[j]) in "01234567":
                j += 1
            out.append(int(field[i + 1 : j], 8) & 0xFF)
            i = j
        elif nxt == "x" and i + 2 < len(field) and chr(field[i + 2]) in _HEX:
            j = i + 2
            while j < len(field) and j < i + 4 and chr(field[j]) in _HEX:
                j += 1
            out.append(int(field[i + 2 : j], 16))
            i = j
        else:
            out.append(_SIMPLE.get(nxt, field[i + 1]))
            i += 2
    return bytes(out)


_HEX = "0123456789abcdefABCDEF"


def decode_copy_text(data: bytes) -> list[list[str | None]]:
    """Split COPY text section data into rows of fields (section 9)."""
    _require(not data or data.endswith(b"\n"), "last line must end with a newline")
    rows = []
    for line in data.split(b"\n")[:-1]:
        row: list[str | None] = []
        for raw in line.split(b"\t"):
            row.append(None if raw == b"\\N" else _unescape(raw).decode("utf-8"))
        rows.append(row)
    return rows


# --- Values (section 9) -------------------------------------------------------

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?"
    r"(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?"
)


def parse_timestamp(text: str) -> datetime:
    """Return an aware UTC datetime from a timestamp field (section 9)."""
    match = _TIMESTAMP.fullmatch(text)
    _require(match is not None, f"timestamp {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0").ljust(6, "0"))
    zone = UTC
    if offset and offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        parts = [int(digits[i : i + 2]) for i in range(0, len(digits), 2)]
        hours, minutes, seconds = (parts + [0, 0])[:3]
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes, seconds=seconds))
    moment = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        micro,
        zone,
    )
    return moment.astimezone(UTC)


def _parse_float(text: str) -> float:
    special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    return special[text] if text in special else float(text)


def _parse_bytes(text: str) -> bytes:
    _require(text.startswith("\\x"), "bytea value")
    return bytes.fromhex(text[2:])


_BOOLEANS = {"t": True, "true": True, "f": False, "false": False}

VALUE_PARSERS = {
    "int": int,
    "text": str,
    "bool": lambda text: _BOOLEANS[text],
    "timestamp": parse_timestamp,
    "json": json.loads,
    "float": _parse_float,
    "decimal": Decimal,
    "date": date.fromisoformat,
    "uuid": uuid.UUID,
    "bytes": _parse_bytes,
}


def parse_value(text: str | None, kind: str) -> Any:
    """Return the value of one field of the given kind (section 9)."""
    if text is None:
        return None
    _require(kind in VALUE_PARSERS, f"unknown kind {kind!r}")
    return VALUE_PARSERS[kind](text)


def table_rows(section: DecodedSection) -> list[dict[str, Any]]:
    """Return a table section's rows as dicts of typed values (sections 9, 13.1)."""
    _require(section.name.startswith("table:"), f"{section.name} is not a table")
    _require(section.meta["encoding"] == "copy-text", "encoding")
    columns, kinds = section.meta["columns"], section.meta["kinds"]
    rows = []
    for fields in decode_copy_text(section.data):
        _require(len(fields) == len(columns), f"row width in {section.name}")
        rows.append(
            {
                column: parse_value(text, kind)
                for column, kind, text in zip(columns, kinds, fields, strict=True)
            }
        )
    _require(len(rows) == section.end["rows"], f"row count of {section.name}")
    return rows


# --- Storage layout and chains (sections 8.1, 13) -------------------------------


def sidecar_copy_names(archive_name: str) -> list[str]:
    """Return the names of an archive's sidecar copies, first copy first (8.1)."""
    return [archive_name + ".key", "sidecar-copies/" + archive_name + ".key"]


def read_from_storage(
    root: Path, archive_id: str, *, keys: dict[str, bytes]
) -> DecodedArchive:
    """Decode ``archives/<id>.tbk`` of a file storage with its sidecar copies."""
    name = f"archives/{archive_id}.tbk"
    copies = [
        (root / copy).read_bytes()
        for copy in sidecar_copy_names(name)
        if (root / copy).is_file()
    ]
    return decode_archive((root / name).read_bytes(), keys=keys, sidecar=copies)


@dataclass
class Reconstructed:
    """The data of a backup: rows per table label and id, media bytes by SHA-256."""

    tables: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)


def reconstruct(archives: Sequence[DecodedArchive]) -> Reconstructed:
    """Apply a chain, full archive first, as section 13.3 describes."""
    state = Reconstructed()
    for position, archive in enumerate(archives):
        manifest = archive.manifest
        _require((manifest["kind"] == "full") == (position == 0), "chain order")
        if position:
            expected = [a.manifest["backup_id"] for a in archives[:position]]
            _require(manifest["chain"] == expected, "chain ids")
        carried: dict[str, set[int]] = {}
        tombstones: list[dict[str, Any]] = []
        for section in archive.sections:
            if section.name == "table:messaging.tombstone":
                tombstones = table_rows(section)
            elif section.name.startswith("table:"):
                label = section.name[len("table:") :]
                rows = state.tables.setdefault(label, {})
                for row in table_rows(section):
                    rows[row["id"]] = row
                    carried.setdefault(label, set()).add(row["id"])
            elif section.name.startswith("blob:"):
                sha256 = section.name[len("blob:") :]
                _require(section.meta["sha256"] == sha256, "blob meta")
                if hashlib.sha256(section.data).hexdigest() == sha256:
                    state.blobs[sha256] = section.data
        for tombstone in tombstones:
            label, row_id = tombstone["model"], tombstone["object_id"]
            if row_id not in carried.get(label, set()):
                state.tables.get(label, {}).pop(row_id, None)
    return state
