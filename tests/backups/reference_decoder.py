"""Independent decoder of TALOWA backup archives, written from docs/archive-format.md.

It deliberately imports nothing from ``backups``: it is the proof that the
format page is complete. It favours plainness over speed and memory (it
decodes a whole archive held in memory).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import struct
from dataclasses import dataclass
from typing import Any

import xxhash
import zstandard
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


def decode_archive(
    blob: bytes, *, keys: dict[str, bytes], sidecar: bytes | None = None
) -> DecodedArchive:
    """Decode a whole archive following section 10 of the format page."""
    header, h, offset = _parse_header(blob)
    fields = header
    side = None
    if sidecar is not None:
        side = _load_sidecar(sidecar)
        _require(side["archive_id"] == header["archive_id"], "sidecar archive id")
        _require(bytes.fromhex(side["header_sha256"]) == h, "sidecar header hash")
        fields = side
    data_key = _unwrap(fields=fields, archive_id=header["archive_id"], keys=keys)
    compressed, chunks = _open_chunks(
        blob, offset=offset, size=header["chunk_size"], key=data_key, h=h
    )
    sections, manifest, _ = _read_records(_decompress(compressed), header["archive_id"])
    if side is not None:
        _require(_open_sidecar_manifest(side, data_key) == manifest, "sidecar manifest")
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
        for field in line.split(b"\t"):
            row.append(None if field == b"\\N" else _unescape(field).decode("utf-8"))
        rows.append(row)
    return rows
