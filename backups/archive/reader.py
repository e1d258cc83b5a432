"""Streaming reader of encrypted, compressed backup archives.

Invariants: every chunk is authenticated before any of its bytes are used;
the reader reads the input strictly forward with ``read(n)`` and holds at most
one chunk and one data piece in memory. Section data is handed out as it is
decrypted, so a consumer must treat it as provisional until the section's end
record and the manifest were verified (a restore commits only after
``sections()`` finished without raising).
"""

from __future__ import annotations

import collections
import json
import queue
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import zstandard

from backups.archive import crypto
from backups.archive import format as fmt
from backups.archive.sidecar import Sidecar, unwrap_with_keyring, usable_sidecar
from backups.archive.writer import SectionSummary
from backups.exceptions import ArchiveCorrupted
from backups.keyring import KeyRing

DATA_PIECE = 1 << 20


def read_exact(source: Any, size: int) -> bytes:
    """Read ``size`` bytes, fewer only at the end of the stream."""
    data = source.read(size)
    if data is None:
        data = b""
    if len(data) == size or not data:
        return bytes(data)
    parts = [bytes(data)]
    missing = size - len(data)
    while missing:
        more = source.read(missing)
        if not more:
            break
        parts.append(bytes(more))
        missing -= len(more)
    return b"".join(parts)


class _ChunkSource:
    """Present the authenticated plaintext of all chunks as one readable stream.

    The decompressing thread reads it; the thread that consumes the archive
    calls ``read_ahead`` between pieces, so reading, hashing and decrypting
    the next chunks run there, beside the decompression (on two cores the
    work splits about evenly). Whoever needs a chunk that is not ready yet
    decrypts it itself, so neither thread ever waits for the other here.
    Chunks are decrypted in order under a lock; an error is queued in place
    of its chunk and raised when the stream reaches it.
    """

    AHEAD = 2  # chunks decrypted ahead: 2 * chunk_size of memory at most

    def __init__(
        self,
        inp: BinaryIO,
        *,
        cipher: crypto.ChunkCipher,
        chunk_size: int,
        archive_id: str,
    ) -> None:
        self._inp = inp
        self._cipher = cipher
        self._sealed_size = chunk_size + fmt.TAG_LENGTH
        self._archive_id = archive_id
        self._view = memoryview(b"")
        self._index = 0
        self._ready: collections.deque[bytes | Exception] = collections.deque()
        self._lock = threading.Lock()
        self._exhausted = False  # the final chunk (or an error) was queued
        self.finished = False  # the final chunk was authenticated

    def read(self, size: int = -1) -> memoryview:
        """Return up to ``size`` plaintext bytes; empty only after the final chunk."""
        while not self._view:
            with self._lock:
                if not self._ready:
                    if self._exhausted:
                        return memoryview(b"")
                    self._queue_next()
                item = self._ready.popleft()
            if isinstance(item, Exception):
                raise item
            self._view = memoryview(item)
        if size < 0:
            size = len(self._view)
        piece = self._view[:size]
        self._view = self._view[size:]
        return piece

    def read_ahead(self) -> None:
        """Decrypt the next chunks unless enough are ready or another thread is."""
        if self._exhausted or len(self._ready) >= self.AHEAD:
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            while not self._exhausted and len(self._ready) < self.AHEAD:
                self._queue_next()
        finally:
            self._lock.release()

    def _queue_next(self) -> None:
        """Decrypt the next chunk onto the ready queue (the lock is held)."""
        try:
            self._ready.append(self._next_chunk())
        except Exception as error:  # raised in order, by the stream's reader
            self._exhausted = True
            self._ready.append(error)

    def _next_chunk(self) -> bytes:
        """Read, authenticate and return the plaintext of the next chunk."""
        index = self._index
        sealed = read_exact(self._inp, self._sealed_size)
        self._index += 1
        if len(sealed) == self._sealed_size:
            return self._cipher.open(sealed, index=index, final=False)
        if len(sealed) < fmt.TAG_LENGTH:
            raise self._truncated(index, partial=bool(sealed))
        plaintext = self._cipher.open(sealed, index=index, final=True)
        if self._inp.read(1):
            raise ArchiveCorrupted(
                f"archive {self._archive_id}: data follows the final chunk "
                f"{index}; the object was altered, re-copy it from storage",
                archive_id=self._archive_id,
                chunk_index=index,
            )
        self._exhausted = self.finished = True
        return plaintext

    def _truncated(self, index: int, *, partial: bool) -> ArchiveCorrupted:
        """Return the error for an archive that ends before its final chunk."""
        where = f"inside chunk {index}" if partial else f"before chunk {index}"
        return ArchiveCorrupted(
            f"archive {self._archive_id} is truncated: it ends {where} and has no "
            "final chunk; re-copy the complete object from storage",
            archive_id=self._archive_id,
            chunk_index=index,
        )


class _Prefetcher:
    """Decompress ahead, in a thread, while the caller checks data.

    zstd, AES-GCM and hashlib release the GIL, so on two cores decompressing
    the next blocks overlaps hashing and parsing this one, and ``between``
    (called on the caller's thread whenever it takes a block) gives the
    caller other work of the pipeline to do: verifying and restoring go
    almost twice as fast. The thread is the only reader of the stream; its
    errors reach the caller at the point where the data would have.
    """

    AHEAD = 4
    BLOCK = 256 * 1024  # AHEAD * BLOCK bounds the memory it holds

    def __init__(self, stream: Any, *, between: Any = None) -> None:
        self._stream = stream
        self._between = between or (lambda: None)
        self._queue: queue.Queue = queue.Queue(maxsize=self.AHEAD)
        self._stopped = threading.Event()
        self._block, self._offset = b"", 0
        self._done = False
        self._thread = threading.Thread(
            target=self._run, daemon=True, name="archive-prefetch"
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                block = self._stream.read(self.BLOCK)
                self._put(block)
                if not block:
                    return
        except BaseException as error:  # handed to the reading thread
            self._put(error)

    def _put(self, item: Any) -> None:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, size: int) -> bytes:
        """Return up to ``size`` bytes; empty only at the end of the stream."""
        while self._offset >= len(self._block) and not self._done:
            self._between()
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._done = True
                raise item
            if not item:
                self._done = True
            self._block, self._offset = item, 0
        start = self._offset
        self._offset = min(start + size, len(self._block))
        if start == 0 and self._offset == len(self._block):
            return self._block  # the whole block: no copy
        return self._block[start : self._offset]

    def close(self) -> None:
        self._stopped.set()


class _RecordStream:
    """Read record frames from the decompressed plaintext."""

    def __init__(self, source: _ChunkSource, *, archive_id: str) -> None:
        self._source = source
        self._archive_id = archive_id
        self._reader = _Prefetcher(
            zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True),
            between=source.read_ahead,
        )

    def close(self) -> None:
        """Stop reading ahead."""
        self._reader.close()

    def read(self, size: int) -> bytes:
        """Return exactly ``size`` decompressed bytes or raise ArchiveCorrupted."""
        data = self._read(size)
        if len(data) != size:
            raise self.corrupted("the record stream ends inside a frame")
        return data

    def read_some(self, size: int) -> bytes:
        """Return 1 to ``size`` decompressed bytes, without copying to fill up."""
        try:
            data = self._reader.read(size)
        except zstandard.ZstdError as error:
            raise self.corrupted(
                f"the compressed stream is invalid ({error})"
            ) from None
        if not data:
            raise self.corrupted("the record stream ends inside a frame")
        return data

    def frame_header(self) -> tuple[int, int] | None:
        """Return the next frame's type and length, or None at the stream's end."""
        data = self._read(fmt.FRAME_HEADER.size)
        if not data:
            return None
        if len(data) != fmt.FRAME_HEADER.size:
            raise self.corrupted("the record stream ends inside a frame header")
        frame_type, length = fmt.FRAME_HEADER.unpack(data)
        if frame_type not in fmt.FRAME_TYPES:
            raise self.corrupted(f"unknown record frame type {frame_type}")
        return frame_type, length

    def read_json(self, length: int) -> Any:
        """Read a JSON frame payload of ``length`` bytes."""
        if length > fmt.MAX_JSON_FRAME:
            raise self.corrupted("a metadata frame is too large")
        try:
            return json.loads(self.read(length).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise self.corrupted("a metadata frame is not valid JSON") from None

    def at_end(self) -> bool:
        """Return whether the plaintext ended, including its final chunk."""
        return not self._read(1) and self._source.finished

    def _read(self, size: int) -> bytes:
        """Read up to ``size`` bytes, translating decompression errors."""
        try:
            return read_exact(self._reader, size)
        except zstandard.ZstdError as error:
            raise self.corrupted(
                f"the compressed stream is invalid ({error})"
            ) from None

    def corrupted(self, reason: str) -> ArchiveCorrupted:
        """Return the error for a malformed record stream."""
        return ArchiveCorrupted(
            f"archive {self._archive_id} is malformed: {reason}; the archive was "
            "written by a faulty program or altered by someone holding its key",
            archive_id=self._archive_id,
        )


class ArchiveSection:
    """One section of an archive; its data must be read before the next one."""

    def __init__(
        self, *, records: _RecordStream, name: str, meta: dict[str, Any]
    ) -> None:
        self.name = name
        self.meta = meta
        self._records = records
        self._hasher = fmt.section_digest()
        self._size = 0
        self._frame_left = 0
        self._iterated = False
        self.summary: SectionSummary | None = None

    def iter_data(self) -> Iterator[bytes]:
        """Return an iterator over the section's data, in pieces of at most 1 MiB."""
        if self._iterated or self.summary is not None:
            raise RuntimeError(f"the data of section {self.name!r} was already read")
        self._iterated = True
        return self._pieces()

    def _pieces(self) -> Iterator[bytes]:
        """Yield data pieces until the verified end of the section."""
        while (piece := self._next_piece()) is not None:
            yield piece

    def read_all(self) -> bytes:
        """Return the whole section data; only for small sections."""
        return b"".join(self.iter_data())

    def skip(self) -> SectionSummary:
        """Read and verify the rest of the section without returning its data."""
        while self._next_piece() is not None:
            pass
        assert self.summary is not None
        return self.summary

    def _next_piece(self) -> bytes | None:
        """Return the next data piece, or None after verifying the end record."""
        while self.summary is None:
            if self._frame_left:
                piece = self._records.read_some(min(self._frame_left, DATA_PIECE))
                self._frame_left -= len(piece)
                self._hasher.update(piece)
                self._size += len(piece)
                return piece
            self._next_frame()
        return None

    def _next_frame(self) -> None:
        """Consume the next frame header, or the section end record."""
        frame = self._records.frame_header()
        if frame is None:
            raise self._records.corrupted(f"section {self.name!r} has no end record")
        frame_type, length = frame
        if frame_type == fmt.DATA:
            if length > fmt.MAX_READ_DATA_FRAME:
                raise self._records.corrupted("a data frame is too large")
            self._frame_left = length
        elif frame_type == fmt.SECTION_END:
            self._finish(self._records.read_json(length))
        else:
            raise self._records.corrupted(f"section {self.name!r} is not closed")

    def _finish(self, end: Any) -> None:
        """Check the end record against the data read and store the summary."""
        digest = self._hasher.hexdigest()
        if (
            not isinstance(end, dict)
            or end.get("bytes") != self._size
            or end.get(fmt.SECTION_DIGEST) != digest
        ):
            raise self._records.corrupted(
                f"section {self.name!r} does not match its recorded size and digest"
            )
        rows = end.get("rows")
        if rows is not None and (not isinstance(rows, int) or isinstance(rows, bool)):
            raise self._records.corrupted(f"section {self.name!r} has a bad row count")
        self.summary = SectionSummary(
            name=self.name, bytes=self._size, digest=digest, rows=rows
        )


class ArchiveReader:
    """Read and verify an archive from a forward-only binary stream.

    ``sidecar`` (the JSON document written beside the archive, or every copy
    of it that was found, first preferred) takes precedence over the header
    for the key id and the wrapped data key; the first copy that belongs to
    this archive and unwraps is used, and ``sidecar_problems`` says why the
    copies before it were not. Without a sidecar the header's key fields are
    used.
    """

    def __init__(
        self,
        inp: BinaryIO,
        *,
        keyring: KeyRing,
        sidecar: bytes | Sequence[bytes] | None = None,
    ) -> None:
        self.header = read_archive_header(inp)
        self.sidecar: Sidecar | None = None
        self.sidecar_problems: tuple[str, ...] = ()
        self._sidecar_manifest: bytes | None = None
        if sidecar is not None:
            candidates = (
                [sidecar] if isinstance(sidecar, bytes | bytearray) else sidecar
            )
            chosen = usable_sidecar(
                candidates,
                keyring=keyring,
                archive_id=self.header.archive_id,
                header_sha256=self.header.sha256,
            )
            self.sidecar = chosen.sidecar
            self.sidecar_problems = chosen.problems
            self._sidecar_manifest = chosen.manifest_json
            data_key = chosen.data_key
        else:
            data_key = unwrap_with_keyring(
                keyring=keyring,
                archive_id=self.header.archive_id,
                key_id=self.header.key_id,
                key_check=self.header.key_check,
                wrapped_key=self.header.wrapped_key,
            )
        self.key_id = (self.sidecar or self.header).key_id
        self._cipher = crypto.ChunkCipher(
            data_key=data_key,
            header_sha256=self.header.sha256,
            archive_id=self.header.archive_id,
        )
        source = _ChunkSource(
            inp,
            cipher=self._cipher,
            chunk_size=self.header.chunk_size,
            archive_id=self.header.archive_id,
        )
        self._records = _RecordStream(source, archive_id=self.header.archive_id)
        # Stop reading ahead once nobody can read on (also when abandoned).
        self.close = weakref.finalize(self, self._records.close)
        self._started = False
        self._manifest: dict[str, Any] | None = None
        self.summaries: list[SectionSummary] = []

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def manifest(self) -> dict[str, Any]:
        """Return the verified manifest; available once ``sections()`` finished."""
        if self._manifest is None:
            raise RuntimeError("the manifest is read after all sections")
        return self._manifest

    def sections(self) -> Iterator[ArchiveSection]:
        """Yield each section in order, verifying it when the next one is asked."""
        if self._started:
            raise RuntimeError("an archive's sections can be iterated only once")
        self._started = True
        while True:
            frame = self._records.frame_header()
            if frame is None:
                raise self._records.corrupted("the archive has no manifest")
            frame_type, length = frame
            if frame_type == fmt.MANIFEST:
                self._finish(self._records.read_json(length))
                return
            if frame_type != fmt.SECTION_START:
                raise self._records.corrupted("data appears outside any section")
            section = self._open_section(length)
            yield section
            self.summaries.append(section.skip())

    def verify(self) -> dict[str, Any]:
        """Read and verify the whole archive and return its manifest."""
        for section in self.sections():
            section.skip()
        return self.manifest

    def _open_section(self, length: int) -> ArchiveSection:
        """Decode a section start record."""
        start = self._records.read_json(length)
        name = start.get("name") if isinstance(start, dict) else None
        meta = start.get("meta") if isinstance(start, dict) else None
        if not isinstance(name, str) or not isinstance(meta, dict):
            raise self._records.corrupted("a section start record is malformed")
        return ArchiveSection(records=self._records, name=name, meta=meta)

    def _finish(self, manifest: Any) -> None:
        """Check the manifest against the sections read and the stream's end."""
        info = (
            manifest.get(fmt.RESERVED_MANIFEST_KEY)
            if isinstance(manifest, dict)
            else None
        )
        expected = {
            "archive_id": self.header.archive_id,
            "sections": [summary.as_json() for summary in self.summaries],
        }
        if info != expected:
            raise self._records.corrupted(
                "the manifest does not match the sections in the archive"
            )
        if not self._records.at_end():
            raise self._records.corrupted("data follows the manifest")
        if self._sidecar_manifest is not None and (
            json.loads(self._sidecar_manifest) != manifest
        ):
            raise self._records.corrupted("the sidecar's manifest differs")
        self._manifest = manifest


def read_archive_header(inp: BinaryIO) -> fmt.ArchiveHeader:
    """Read and check the preamble and JSON header at the start of a stream."""
    preamble = read_exact(inp, fmt.PREAMBLE.size)
    length = fmt.parse_preamble(preamble)
    return fmt.parse_header(preamble + read_exact(inp, length))
