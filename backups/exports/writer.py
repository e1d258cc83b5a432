"""Write one user's export, in any format, to a ``write``-only sink.

The orchestrator of the package: the media pass first (so rows can name the
files copied), then the format's writer, then ``manifest.json``. It raises
whatever went wrong and leaves discarding the sink to its caller: an export
is only ever offered once this returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from backups.exports import csv_format, html_format, json_format, ndjson_format
from backups.exports.container import ExportArchive, Sink
from backups.exports.context import ExportContext, user_summary
from backups.exports.errors import ExportRefused
from backups.exports.media import copy_media
from backups.exports.source import DEFAULT_SCOPE, SCOPES, Progress, RowSource
from backups.models import BACKUP_DATA_TYPES

FORMATS: dict[str, Callable[[ExportArchive, ExportContext], None]] = {
    "json": json_format.write,
    "csv": csv_format.write,
    "ndjson": ndjson_format.write,
    "html": html_format.write,
}
FORMAT_LABELS = {
    "json": "JSON (one document, for programs)",
    "csv": "CSV (one table per data type, for spreadsheets)",
    "ndjson": "NDJSON (one record per line, for large data)",
    "html": "HTML (a viewer that opens in any browser, offline)",
}


@dataclass(frozen=True)
class ExportOutcome:
    """What an export wrote: counts per data type and the archive's bytes."""

    counts: dict[str, int]
    size: int
    sha256: str
    files: int
    missing_media: list[int]
    mismatched_media: list[int]


def check_choices(export_format: str, data_types: Sequence[str] | None) -> list[str]:
    """Return the data types to export, or raise ``ExportRefused`` saying why."""
    if export_format not in FORMATS:
        raise ExportRefused(
            f"unknown export format {export_format!r}; choose one of "
            f"{', '.join(FORMATS)}"
        )
    chosen = list(BACKUP_DATA_TYPES if data_types is None else data_types)
    unknown = [name for name in chosen if name not in BACKUP_DATA_TYPES]
    if unknown:
        raise ExportRefused(
            f"unknown data type(s) {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(BACKUP_DATA_TYPES)}"
        )
    if not chosen:
        raise ExportRefused("nothing to export: choose at least one data type")
    return [name for name in BACKUP_DATA_TYPES if name in chosen]


def check_scope(scope: str) -> str:
    """Return ``scope`` if it is one, or raise ``ExportRefused`` saying why."""
    if scope not in SCOPES:
        raise ExportRefused(
            f"unknown export scope {scope!r}; choose {' or '.join(SCOPES)} (sent: "
            "only the messages the user sent; conversations: whole conversations "
            "they take part in)"
        )
    return scope


def write_export(
    sink: Sink,
    *,
    user: Any,
    export_format: str,
    data_types: Sequence[str] | None = None,
    include_metadata: bool = True,
    scope: str = DEFAULT_SCOPE,
    exported_at: datetime | None = None,
    export_id: int | None = None,
    backup_id: str | None = None,
    progress: Progress | None = None,
) -> ExportOutcome:
    """Stream ``user``'s export archive into ``sink`` and describe it."""
    chosen = check_choices(export_format, data_types)
    exported_at = exported_at or timezone.now()
    source = RowSource(
        user_id=user.pk,
        data_types=chosen,
        include_metadata=include_metadata,
        scope=check_scope(scope),
        progress=progress,
    )
    context = ExportContext(
        user=user_summary(user),
        format=export_format,
        data_types=tuple(chosen),
        include_metadata=include_metadata,
        exported_at=exported_at,
        source=source,
        export_id=export_id,
        backup_id=backup_id,
    )
    archive = ExportArchive(sink, created_at=exported_at)
    try:
        if "media_files" in chosen:
            copy_media(archive, context)
        FORMATS[export_format](archive, context)
        archive.finish(context.manifest_head())
    except BaseException:
        archive.abandon()
        raise
    finally:
        if source.media_rows is not None:
            source.media_rows.close()
    return ExportOutcome(
        counts=dict(source.counts),
        size=archive.sink.size,
        sha256=archive.sink.sha256,
        files=archive.entries.count,
        missing_media=context.missing_media,
        mismatched_media=context.mismatched_media,
    )
