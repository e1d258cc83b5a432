"""Data exports: one user's data as JSON, CSV, NDJSON or an offline HTML viewer.

Every export is a ZIP archive with the format's files, the user's media under
``media/`` and a ``manifest.json`` (docs/export-format.md). The services in
``backups.services.exporting`` decide who may export what, keep the job
records and store the archives; this package only writes them.
"""

from __future__ import annotations

from backups.exports.errors import (
    ExportError,
    ExportInProgress,
    ExportLimitReached,
    ExportNotFound,
    ExportRefused,
    ExportUnavailable,
)
from backups.exports.source import DEFAULT_SCOPE, SCOPE_LABELS, SCOPES
from backups.exports.writer import (
    FORMAT_LABELS,
    FORMATS,
    ExportOutcome,
    check_choices,
    check_scope,
    write_export,
)

__all__ = [
    "DEFAULT_SCOPE",
    "FORMATS",
    "FORMAT_LABELS",
    "SCOPES",
    "SCOPE_LABELS",
    "ExportError",
    "ExportInProgress",
    "ExportLimitReached",
    "ExportNotFound",
    "ExportOutcome",
    "ExportRefused",
    "ExportUnavailable",
    "check_choices",
    "check_scope",
    "write_export",
]
