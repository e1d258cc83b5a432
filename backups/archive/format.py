"""Byte layout of TALOWA backup archives (format version 2).

``docs/archive-format.md`` is the specification; this module is its single
implementation of constants, the header, chunk nonces/AAD and record frames.
Change one only together with the other, and bump ``FORMAT_VERSION`` when old
readers could misread the new bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import struct
from dataclasses import dataclass
from typing import Any

import xxhash

from backups.exceptions import ArchiveCorrupted
from backups.keyring import KEY_ID_PATTERN

MAGIC = b"TALOWABK"
FORMAT_VERSION = 2
PREAMBLE = struct.Struct(">8sHI")  # magic, version, header JSON length
MAX_HEADER_LENGTH = 64 * 1024

CIPHER = "AES-256-GCM"
KEY_WRAP = "AES-256-GCM"
COMPRESSION = "zstd"
TAG_LENGTH = 16
NONCE_LENGTH = 12
DATA_KEY_LENGTH = 32
WRAPPED_KEY_LENGTH = NONCE_LENGTH + DATA_KEY_LENGTH + TAG_LENGTH
DEFAULT_CHUNK_SIZE = 1 << 20
MIN_CHUNK_SIZE = 512
MAX_CHUNK_SIZE = 64 << 20

FINAL_FLAG = 0x01
NOT_FINAL_FLAG = 0x00
MANIFEST_NONCE = bytes(11) + b"\x02"
KEY_WRAP_AAD_PREFIX = b"TALOWABK key-wrap v1\x00"
MANIFEST_AAD_PREFIX = b"TALOWABK manifest v1\x00"
KEY_CHECK_MESSAGE = b"TALOWABK key-check v1"

ARCHIVE_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,128}")

FRAME_HEADER = struct.Struct(">BQ")  # frame type, payload length
SECTION_START = 0x01
DATA = 0x02
SECTION_END = 0x03
MANIFEST = 0x04
FRAME_TYPES = {SECTION_START, DATA, SECTION_END, MANIFEST}
MAX_DATA_FRAME = 1 << 20
MAX_READ_DATA_FRAME = 64 << 20
MAX_JSON_FRAME = 16 << 20
RESERVED_MANIFEST_KEY = "archive"
# Section data digest (SECTION_END and the manifest): every byte is already
# authenticated by AES-GCM, so a fast non-cryptographic hash guards against
# faulty programs at almost no cost, where SHA-256 would cost as much as
# decompressing.
SECTION_DIGEST = "xxh3_128"


def section_digest() -> Any:
    """Return a new running digest of section data."""
    return xxhash.xxh3_128()


@dataclass(frozen=True, slots=True)
class ArchiveHeader:
    """The plaintext header at the start of every archive."""

    archive_id: str
    key_id: str
    key_check: str
    wrapped_key: bytes
    chunk_size: int
    compression: str
    cipher: str
    created_at: str
    fields: dict[str, Any]
    raw: bytes

    @property
    def sha256(self) -> bytes:
        """Return the SHA-256 digest of the header bytes, used as chunk AAD."""
        return hashlib.sha256(self.raw).digest()


def check_archive_id(archive_id: str) -> None:
    """Raise ValueError unless ``archive_id`` is 1-128 of ``A-Za-z0-9_.-``."""
    if not isinstance(archive_id, str) or not ARCHIVE_ID_PATTERN.fullmatch(archive_id):
        raise ValueError(
            "archive id must be 1 to 128 characters from A-Z a-z 0-9 _ . -"
        )


def check_key_id(key_id: str) -> None:
    """Raise ValueError unless ``key_id`` is 1-64 of ``A-Za-z0-9_.-``."""
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
        raise ValueError("key id must be 1 to 64 characters from A-Z a-z 0-9 _ . -")


def check_chunk_size(chunk_size: int) -> None:
    """Raise ValueError unless ``chunk_size`` is within the supported range."""
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(
            f"chunk size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE}"
        )


def dump_json(value: Any) -> bytes:
    """Serialize ``value`` as compact UTF-8 JSON, the form used everywhere."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def encode_header(
    *,
    archive_id: str,
    key_id: str,
    key_check: str,
    wrapped_key: bytes,
    chunk_size: int,
    created_at: str,
    compression_level: int,
) -> bytes:
    """Return the complete header bytes: magic, version, length and JSON."""
    fields = {
        "format": "talowa-backup",
        "archive_id": archive_id,
        "created_at": created_at,
        "key_id": key_id,
        "key_check": key_check,
        "key_wrap": KEY_WRAP,
        "wrapped_key": base64.b64encode(wrapped_key).decode("ascii"),
        "cipher": CIPHER,
        "chunk_size": chunk_size,
        "compression": COMPRESSION,
        "compression_level": compression_level,
    }
    body = dump_json(fields)
    if len(body) > MAX_HEADER_LENGTH:
        raise ValueError("archive header is too large")
    return PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(body)) + body


def parse_preamble(preamble: bytes) -> int:
    """Check magic and version and return the header JSON length."""
    if len(preamble) < PREAMBLE.size:
        raise ArchiveCorrupted(
            "the object is too short to be a TALOWA backup archive; "
            "check that the whole object was copied from storage"
        )
    magic, version, length = PREAMBLE.unpack(preamble)
    if magic != MAGIC:
        raise ArchiveCorrupted(
            "the object is not a TALOWA backup archive (bad magic bytes); "
            "check that the right object was selected"
        )
    if version != FORMAT_VERSION:
        raise ArchiveCorrupted(
            f"archive format version {version} is not supported (this TALOWA "
            f"reads version {FORMAT_VERSION}); the header is damaged or the "
            "archive needs a newer TALOWA Admin"
        )
    if not 0 < length <= MAX_HEADER_LENGTH:
        raise ArchiveCorrupted(
            f"archive header length {length} is out of range; the archive is corrupted"
        )
    return length


def parse_header(raw: bytes) -> ArchiveHeader:
    """Decode and validate complete header bytes."""
    length = parse_preamble(raw[: PREAMBLE.size])
    body = raw[PREAMBLE.size :]
    if len(body) != length:
        raise ArchiveCorrupted(
            "the archive ends inside its header; "
            "check that the whole object was copied from storage"
        )
    fields = _load_header_json(body)
    header = ArchiveHeader(
        archive_id=_field(fields, "archive_id", str),
        key_id=_field(fields, "key_id", str),
        key_check=_field(fields, "key_check", str),
        wrapped_key=decode_wrapped_key(_field(fields, "wrapped_key", str)),
        chunk_size=_field(fields, "chunk_size", int),
        compression=_field(fields, "compression", str),
        cipher=_field(fields, "cipher", str),
        created_at=_field(fields, "created_at", str),
        fields=fields,
        raw=bytes(raw),
    )
    _check_header_values(header)
    return header


def _load_header_json(body: bytes) -> dict[str, Any]:
    """Parse the header JSON object or raise ArchiveCorrupted."""
    try:
        fields = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        fields = None
    if not isinstance(fields, dict):
        raise ArchiveCorrupted(
            "the archive header is not a valid JSON object; the archive is corrupted"
        )
    return fields


def _field(fields: dict[str, Any], name: str, kind: type) -> Any:
    """Return a typed header field or raise ArchiveCorrupted."""
    value = fields.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ArchiveCorrupted(
            f"the archive header field {name!r} is missing or has the wrong type; "
            "the archive is corrupted"
        )
    return value


def _check_header_values(header: ArchiveHeader) -> None:
    """Raise ArchiveCorrupted when header values are outside format version 1."""
    problems = []
    if header.fields.get("format") != "talowa-backup":
        problems.append("format")
    if header.fields.get("key_wrap") != KEY_WRAP:
        problems.append("key_wrap")
    if header.cipher != CIPHER:
        problems.append("cipher")
    if header.compression != COMPRESSION:
        problems.append("compression")
    if not MIN_CHUNK_SIZE <= header.chunk_size <= MAX_CHUNK_SIZE:
        problems.append("chunk_size")
    if not ARCHIVE_ID_PATTERN.fullmatch(header.archive_id):
        problems.append("archive_id")
    if not KEY_ID_PATTERN.fullmatch(header.key_id):
        problems.append("key_id")
    if problems:
        raise ArchiveCorrupted(
            f"the archive header has unsupported values for {', '.join(problems)}; "
            "the archive is corrupted or needs a newer TALOWA Admin"
        )


def decode_wrapped_key(text: str) -> bytes:
    """Decode a base64 wrapped data key and check its length."""
    try:
        wrapped = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        wrapped = b""
    if len(wrapped) != WRAPPED_KEY_LENGTH:
        raise ArchiveCorrupted(
            "the wrapped data key is malformed; the archive or sidecar is corrupted"
        )
    return wrapped


def key_wrap_aad(*, archive_id: str, key_id: str) -> bytes:
    """Return the AAD that binds a wrapped data key to its archive and KEK id."""
    archive = archive_id.encode("ascii")
    key = key_id.encode("ascii")
    return (
        KEY_WRAP_AAD_PREFIX + bytes([len(archive)]) + archive + bytes([len(key)]) + key
    )


def manifest_aad(header_sha256: bytes) -> bytes:
    """Return the AAD of the manifest copy stored in the sidecar."""
    return MANIFEST_AAD_PREFIX + header_sha256


def chunk_nonce(index: int, *, final: bool) -> bytes:
    """Return the 12-byte nonce of chunk ``index``."""
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def chunk_aad(header_sha256: bytes, index: int, *, final: bool) -> bytes:
    """Return the AAD of chunk ``index``: header hash, index and final flag."""
    return header_sha256 + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")
