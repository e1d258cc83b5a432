"""Streaming writer of encrypted, compressed backup archives.

Invariants: memory stays bounded whatever the data size (small writes are
coalesced into DATA frames of at most ``COALESCE_LIMIT`` bytes, large ones are
cut into frames of at most ``MAX_DATA_FRAME`` bytes, and compressed output is
sealed as soon as a full chunk is available); every byte written to ``out``
is counted and hashed, so the result describes exactly the stored object; the
result (and its sidecar) only exists after the final chunk was written, so an
archive without a result must be treated as incomplete.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

import zstandard

from backups.archive import crypto, sidecar
from backups.archive import format as fmt

COALESCE_LIMIT = 128 * 1024


@dataclass(frozen=True, slots=True)
class SectionSummary:
    """What the writer recorded about one finished section."""

    name: str
    bytes: int
    digest: str  # hex XXH3-128 of the section data
    rows: int | None

    def as_json(self) -> dict[str, Any]:
        """Return the summary as stored in the manifest."""
        return {
            "name": self.name,
            "bytes": self.bytes,
            fmt.SECTION_DIGEST: self.digest,
            "rows": self.rows,
        }


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    """Sizes, checksums and sidecar of a finished archive."""

    archive_id: str
    key_id: str
    data_bytes: int
    raw_bytes: int
    compressed_bytes: int
    stored_bytes: int
    sha256: str
    chunks: int
    header_sha256: str
    sections: tuple[SectionSummary, ...]
    manifest: dict[str, Any] = field(repr=False)
    sidecar: bytes = field(repr=False)


@dataclass(slots=True)
class _OpenSection:
    """Running totals of the section being written."""

    name: str
    hasher: Any
    size: int = 0


class ArchiveWriter:
    """Write one archive to a binary file-like object, section by section.

    The header is written immediately; call ``begin_section``, ``write`` and
    ``end_section`` for each section, then ``finish`` exactly once.
    """

    def __init__(
        self,
        out: BinaryIO,
        *,
        archive_id: str,
        key_id: str,
        kek: bytes,
        compression_level: int = 3,
        compression_threads: int = 0,
        chunk_size: int = fmt.DEFAULT_CHUNK_SIZE,
        created_at: datetime | None = None,
    ) -> None:
        fmt.check_archive_id(archive_id)
        fmt.check_key_id(key_id)
        fmt.check_chunk_size(chunk_size)
        self._out = out
        self._archive_id = archive_id
        self._key_id = key_id
        self._chunk_size = chunk_size
        self._stored_hash = hashlib.sha256()
        self._stored_bytes = self._raw_bytes = self._compressed_bytes = 0
        self._data_bytes = self._chunk_index = 0
        self._pending = bytearray()
        self._buffer = bytearray()
        self._section: _OpenSection | None = None
        self._summaries: list[SectionSummary] = []
        self._finished = False
        self._compressor = zstandard.ZstdCompressor(
            level=compression_level, threads=compression_threads
        ).compressobj()
        self._start(kek=kek, created_at=created_at, level=compression_level)

    def _start(self, *, kek: bytes, created_at: datetime | None, level: int) -> None:
        """Create the data key, write the header and prepare the chunk cipher."""
        self._data_key = crypto.new_data_key()
        self._key_check = crypto.key_check(kek)
        self._wrapped_key = crypto.wrap_data_key(
            data_key=self._data_key,
            kek=kek,
            archive_id=self._archive_id,
            key_id=self._key_id,
        )
        moment = (created_at or datetime.now(UTC)).astimezone(UTC)
        header = fmt.encode_header(
            archive_id=self._archive_id,
            key_id=self._key_id,
            key_check=self._key_check,
            wrapped_key=self._wrapped_key,
            chunk_size=self._chunk_size,
            created_at=moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            compression_level=level,
        )
        self._header_sha256 = hashlib.sha256(header).digest()
        self._cipher = crypto.ChunkCipher(
            data_key=self._data_key,
            header_sha256=self._header_sha256,
            archive_id=self._archive_id,
        )
        self._store(header)

    def begin_section(self, name: str, meta: dict[str, Any] | None = None) -> None:
        """Start a named section described by JSON-serializable ``meta``."""
        self._check_open(in_section=False)
        if not isinstance(name, str) or not name:
            raise ValueError("a section needs a non-empty name")
        if any(summary.name == name for summary in self._summaries):
            raise ValueError(f"section {name!r} was already written")
        payload = fmt.dump_json({"name": name, "meta": meta or {}})
        self._emit_frame(fmt.SECTION_START, payload)
        self._section = _OpenSection(name=name, hasher=fmt.section_digest())

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` (any size) to the current section."""
        section = self._check_open(in_section=True)
        size = len(data)
        if not size:
            return
        section.hasher.update(data)
        section.size += size
        if size >= COALESCE_LIMIT:
            self._flush_buffer()
            self._emit_data(memoryview(data).cast("B"))
            return
        self._buffer += data
        if len(self._buffer) >= COALESCE_LIMIT:
            self._flush_buffer()

    def end_section(self, rows: int | None = None) -> SectionSummary:
        """Close the current section, recording its size, digest and row count."""
        section = self._check_open(in_section=True)
        self._flush_buffer()
        summary = SectionSummary(
            name=section.name,
            bytes=section.size,
            digest=section.hasher.hexdigest(),
            rows=rows,
        )
        end = {"bytes": summary.bytes, fmt.SECTION_DIGEST: summary.digest, "rows": rows}
        self._emit_frame(fmt.SECTION_END, fmt.dump_json(end))
        self._summaries.append(summary)
        self._data_bytes += summary.bytes
        self._section = None
        return summary

    def finish(self, manifest: dict[str, Any]) -> ArchiveResult:
        """Write the manifest and the final chunk and return the result."""
        self._check_open(in_section=False)
        if fmt.RESERVED_MANIFEST_KEY in manifest:
            raise ValueError(
                f"manifest key {fmt.RESERVED_MANIFEST_KEY!r} is written by the archive"
            )
        full_manifest = {**manifest, fmt.RESERVED_MANIFEST_KEY: self._archive_info()}
        manifest_json = fmt.dump_json(full_manifest)
        self._emit_frame(fmt.MANIFEST, manifest_json)
        self._take_compressed(self._compressor.flush())
        self._seal_full_chunks()
        self._store(
            self._cipher.seal(bytes(self._pending), index=self._chunk_index, final=True)
        )
        self._chunk_index += 1
        self._pending.clear()
        self._finished = True
        return self._result(full_manifest, manifest_json)

    def _archive_info(self) -> dict[str, Any]:
        """Return the manifest entry the archive itself maintains."""
        return {
            "archive_id": self._archive_id,
            "sections": [summary.as_json() for summary in self._summaries],
        }

    def _result(self, manifest: dict[str, Any], manifest_json: bytes) -> ArchiveResult:
        """Build the ArchiveResult and the sidecar of the finished archive."""
        digest = self._stored_hash.hexdigest()
        document = sidecar.build_sidecar(
            sidecar.Sidecar(
                archive_id=self._archive_id,
                header_sha256=self._header_sha256,
                key_id=self._key_id,
                key_check=self._key_check,
                wrapped_key=self._wrapped_key,
                sealed_manifest=self._cipher.seal_manifest(manifest_json),
                archive_bytes=self._stored_bytes,
                archive_sha256=digest,
            )
        )
        return ArchiveResult(
            archive_id=self._archive_id,
            key_id=self._key_id,
            data_bytes=self._data_bytes,
            raw_bytes=self._raw_bytes,
            compressed_bytes=self._compressed_bytes,
            stored_bytes=self._stored_bytes,
            sha256=digest,
            chunks=self._chunk_index,
            header_sha256=self._header_sha256.hex(),
            sections=tuple(self._summaries),
            manifest=manifest,
            sidecar=document,
        )

    def _check_open(self, *, in_section: bool) -> _OpenSection | None:
        """Raise RuntimeError when the call does not fit the writer's state."""
        if self._finished:
            raise RuntimeError("the archive is already finished")
        if in_section and self._section is None:
            raise RuntimeError("no section is open; call begin_section() first")
        if not in_section and self._section is not None:
            raise RuntimeError(
                f"section {self._section.name!r} is still open; call end_section()"
            )
        return self._section

    def _flush_buffer(self) -> None:
        """Emit the coalesced small writes as one DATA frame."""
        if self._buffer:
            self._emit_frame(fmt.DATA, self._buffer)
            self._buffer = bytearray()

    def _emit_data(self, view: memoryview) -> None:
        """Emit a large write as DATA frames of at most MAX_DATA_FRAME bytes."""
        for start in range(0, len(view), fmt.MAX_DATA_FRAME):
            self._emit_frame(fmt.DATA, view[start : start + fmt.MAX_DATA_FRAME])

    def _emit_frame(
        self, frame_type: int, payload: bytes | bytearray | memoryview
    ) -> None:
        """Compress one record frame: type, payload length, payload."""
        self._compress(fmt.FRAME_HEADER.pack(frame_type, len(payload)))
        self._compress(payload)

    def _compress(self, data: bytes | bytearray | memoryview) -> None:
        """Feed plaintext to the compressor and chunk whatever comes out."""
        self._raw_bytes += len(data)
        self._take_compressed(self._compressor.compress(data))

    def _take_compressed(self, data: bytes) -> None:
        """Queue compressed bytes and seal every full chunk."""
        if data:
            self._compressed_bytes += len(data)
            self._pending += data
            if len(self._pending) >= self._chunk_size:
                self._seal_full_chunks()

    def _seal_full_chunks(self) -> None:
        """Encrypt and store every full chunk waiting in the pending buffer."""
        size = self._chunk_size
        offset = 0
        with memoryview(self._pending) as view:
            while len(view) - offset >= size:
                sealed = self._cipher.seal(
                    view[offset : offset + size], index=self._chunk_index, final=False
                )
                self._store(sealed)
                self._chunk_index += 1
                offset += size
        del self._pending[:offset]

    def _store(self, data: bytes) -> None:
        """Write bytes to the output, counting and hashing them."""
        self._stored_hash.update(data)
        self._stored_bytes += len(data)
        written = self._out.write(data)
        if written is None or written >= len(data):
            return
        view = memoryview(data)[written:]
        while view:  # a raw stream may accept only part of a write
            view = view[self._out.write(view) :]
