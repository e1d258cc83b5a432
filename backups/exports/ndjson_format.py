"""The ``ndjson`` format: ``export.ndjson``, one JSON record per line.

Each line is ``{"type": ..., "data": {...}}``: first ``export`` (the header),
then one line per row with its data type as ``type``, then ``metadata`` when
asked for. Lines end with ``\\n``; no value contains a raw newline.
"""

from __future__ import annotations

import json

from backups.exports.container import ExportArchive
from backups.exports.context import ExportContext
from backups.exports.encoding import row_encoder

DOCUMENT = "export.ndjson"

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def record(kind: str, data: object) -> str:
    return _encode({"type": kind, "data": data}) + "\n"


def write(archive: ExportArchive, context: ExportContext) -> None:
    """Write ``export.ndjson``."""
    source = context.source
    with archive.member(DOCUMENT) as out:
        out.write_text(record("export", context.header()))
        for data_type in context.data_types:
            encode = row_encoder(source.fields(data_type))
            prefix = f'{{"type":"{data_type}","data":'
            out.write_lines(
                f"{prefix}{encode(row)}}}\n" for row in source.rows(data_type)
            )
        if context.include_metadata:
            out.write_text(record("metadata", context.metadata()))
