"""The export archive: a ZIP streamed to any ``write``-only sink.

Invariants:
- The ZIP is written front to back (sizes in data descriptors, ZIP64 where a
  file could outgrow 4 GiB), so it streams to an object store upload as well
  as to a file, and the SHA-256 of the whole archive is known when it ends.
- Every file but ``manifest.json`` is hashed while it is written; its path,
  size and SHA-256 go to a spool on disk and then into ``manifest.json``, the
  archive's last file.
- Member writes are buffered into blocks of ``BLOCK_SIZE`` bytes, so that many
  small rows do not cost a compressor call each.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, Protocol

from backups.exports.spool import Spool

BLOCK_SIZE = 256 * 1024
COPY_SIZE = 1024 * 1024
MANIFEST = "manifest.json"
# Media types whose bytes are already compressed: stored as they are.
PRECOMPRESSED_PREFIXES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "video/",
    "audio/mpeg",
    "audio/ogg",
    "audio/aac",
    "audio/mp4",
    "audio/webm",
    "application/zip",
)


class Sink(Protocol):
    def write(self, data: bytes) -> Any: ...


class HashingSink:
    """Pass bytes on to ``target``, counting and hashing them.

    It offers no ``seek`` or ``tell``: ``zipfile`` then writes front to back.
    """

    def __init__(self, target: Sink) -> None:
        self.target = target
        self.size = 0
        self._sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.target.write(data)
        self._sha256.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing to do: the target is flushed by whoever owns it."""

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()


class Member:
    """One file being written into the archive."""

    def __init__(self, path: str, handle: BinaryIO) -> None:
        self.path = path
        self._handle = handle
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= BLOCK_SIZE:
            self.flush()

    def write_text(self, text: str) -> None:
        self.write(text.encode())

    def write_lines(
        self, lines: Iterable[str], *, separator: str = "", per_block: int = 500
    ) -> None:
        """Write many small strings, joined by ``separator``, a block at a time."""
        block: list[str] = []
        first = True
        for line in lines:
            block.append(line)
            if len(block) == per_block:
                self.write_text(("" if first else separator) + separator.join(block))
                block.clear()
                first = False
        if block:
            self.write_text(("" if first else separator) + separator.join(block))

    def flush(self) -> None:
        if not self._buffer:
            return
        block = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        self._handle.write(block)
        self._sha256.update(block)
        self.size += len(block)

    def close(self) -> None:
        self.flush()
        self._handle.close()

    def discard(self) -> None:
        """Close without writing what is buffered (the archive is abandoned)."""
        self._buffer.clear()
        self._handle.close()

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()


class ExportArchive:
    """Write an export's files into a ZIP and finish it with ``manifest.json``."""

    def __init__(self, sink: Sink, *, created_at: datetime) -> None:
        self.sink = HashingSink(sink)
        self._zip = zipfile.ZipFile(self.sink, "w", zipfile.ZIP_DEFLATED)
        stamp = created_at.astimezone(UTC)
        self._date_time = (
            stamp.year,
            stamp.month,
            stamp.day,
            stamp.hour,
            stamp.minute,
            stamp.second,
        )
        self.entries = Spool()
        self._open: Member | None = None

    def open_member(
        self, path: str, *, size: int | None = None, content_type: str = ""
    ) -> Member:
        """Start writing ``path``; ``close_member`` finishes and records it.

        ``size``, when known, lets zipfile use ZIP64 only where needed; without
        it the file may grow past 4 GiB. Precompressed media are stored as is.
        """
        info = zipfile.ZipInfo(path, self._date_time)
        info.external_attr = 0o644 << 16
        info.compress_type = (
            zipfile.ZIP_STORED
            if content_type.startswith(PRECOMPRESSED_PREFIXES)
            else zipfile.ZIP_DEFLATED
        )
        if size is not None:
            info.file_size = size
        self._open = Member(path, self._zip.open(info, "w", force_zip64=size is None))
        return self._open

    def close_member(self, member: Member) -> None:
        member.close()
        self._open = None
        self.entries.append(
            {"path": member.path, "size": member.size, "sha256": member.sha256}
        )

    @contextlib.contextmanager
    def member(
        self, path: str, *, size: int | None = None, content_type: str = ""
    ) -> Iterator[Member]:
        """Write ``path`` inside a ``with`` block (a failure abandons it)."""
        member = self.open_member(path, size=size, content_type=content_type)
        yield member
        self.close_member(member)

    def copy(
        self, path: str, source: BinaryIO, *, size: int, content_type: str
    ) -> tuple[int, str]:
        """Copy a readable file into ``path``; return its size and SHA-256."""
        with self.member(path, size=size, content_type=content_type) as out:
            while chunk := source.read(COPY_SIZE):
                out.write(chunk)
        return out.size, out.sha256

    def finish(self, head: dict[str, Any]) -> None:
        """Write ``manifest.json`` (``head`` plus every file) and close the ZIP."""
        with self.member(MANIFEST) as out:
            fields = [
                f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"
                for key, value in head.items()
            ]
            out.write_text("{\n" + ",\n".join([*fields, '  "files": [']))
            for number, entry in enumerate(self.entries):
                separator = "\n    " if number == 0 else ",\n    "
                out.write_text(separator + json.dumps(entry, ensure_ascii=False))
            out.write_text("\n  ]\n}\n")
        self._zip.close()
        self.entries.close()

    def abandon(self) -> None:
        """Stop after a failure; the caller discards whatever reached the sink.

        Closing the open file first lets zipfile let go of the sink even when
        writing to it is what failed.
        """
        if self._open is not None:
            with contextlib.suppress(Exception):
                self._open.discard()
        with contextlib.suppress(Exception):
            self._zip.close()
        self.entries.close()
