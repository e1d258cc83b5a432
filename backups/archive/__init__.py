"""Streaming, encrypted, compressed backup archives (see docs/archive-format.md)."""

from __future__ import annotations

from backups.archive.format import (
    DEFAULT_CHUNK_SIZE,
    FORMAT_VERSION,
    ArchiveHeader,
)
from backups.archive.reader import ArchiveReader, ArchiveSection, read_archive_header
from backups.archive.sidecar import (
    Sidecar,
    UsableSidecar,
    build_sidecar,
    open_sidecar,
    parse_sidecar,
    read_manifest_from_sidecar,
    rewrap_data_key,
    usable_sidecar,
)
from backups.archive.writer import ArchiveResult, ArchiveWriter, SectionSummary

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FORMAT_VERSION",
    "ArchiveHeader",
    "ArchiveReader",
    "ArchiveResult",
    "ArchiveSection",
    "ArchiveWriter",
    "SectionSummary",
    "Sidecar",
    "UsableSidecar",
    "build_sidecar",
    "open_sidecar",
    "parse_sidecar",
    "read_archive_header",
    "read_manifest_from_sidecar",
    "rewrap_data_key",
    "usable_sidecar",
]
