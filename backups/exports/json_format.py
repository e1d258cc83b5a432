"""The ``json`` format: one document, ``export.json``, written row by row.

``{"format_version", "user", "exported_at", "data_types", <one array per data
type>, "metadata"?}``, one row per line inside the arrays;
docs/export-format.md gives its JSON Schema.
"""

from __future__ import annotations

import json

from backups.exports.container import ExportArchive
from backups.exports.context import ExportContext
from backups.exports.encoding import row_encoder

DOCUMENT = "export.json"

dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def write(archive: ExportArchive, context: ExportContext) -> None:
    """Write ``export.json``."""
    source = context.source
    with archive.member(DOCUMENT) as out:
        head = [f"{dumps(k)}: {dumps(v)}" for k, v in context.header().items()]
        out.write_text("{\n" + ",\n".join(head))
        for data_type in context.data_types:
            encode = row_encoder(source.fields(data_type))
            out.write_text(f',\n"{data_type}": [\n')
            out.write_lines(
                (encode(row) for row in source.rows(data_type)), separator=",\n"
            )
            out.write_text("\n]")
        if context.include_metadata:
            out.write_text(',\n"metadata": ' + dumps(context.metadata()))
        out.write_text("\n}\n")
