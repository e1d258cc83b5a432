"""The ``csv`` format: one RFC 4180 file per data type, for spreadsheets.

``<data type>.csv``: UTF-8 with a byte order mark (so Excel reads it as
UTF-8; LibreOffice too), comma-separated, CRLF line ends, a header row,
fields quoted when they hold a comma, quote or line break. Booleans are
``true``/``false``; an empty field is empty text or no value; JSON values
are JSON text; times are ISO 8601 in UTC.

Formula injection: a text cell beginning with ``= + - @``, a tab, a carriage
return or ``'`` gets one ``'`` in front, so a spreadsheet shows it as text
instead of running it. Remove that one leading ``'`` to get the original.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from backups.exports.container import ExportArchive
from backups.exports.context import ExportContext

BOM = "\ufeff"
FLUSH_ROWS = 500
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")
METADATA = "metadata.json"


def neutralise(text: str) -> str:
    """Return ``text`` as a spreadsheet will show, never run, it."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def restore(cell: str) -> str:
    """Undo ``neutralise`` (for readers of the export)."""
    return cell[1:] if cell.startswith("'") else cell


def _cell_writer(kind: str) -> Callable[[Any], str]:
    def text(value: Any) -> str:
        return "" if value is None else neutralise(value)

    def boolean(value: Any) -> str:
        return "" if value is None else ("true" if value else "false")

    def plain(value: Any) -> str:
        return "" if value is None else str(value)

    # JSON values arrive as JSON text: written like any text.
    return {"text": text, "json": text, "bool": boolean}.get(kind, plain)


def write(archive: ExportArchive, context: ExportContext) -> None:
    """Write one CSV file per data type, then ``metadata.json`` if asked."""
    source = context.source
    for data_type in context.data_types:
        fields = source.fields(data_type)
        with archive.member(f"{data_type}.csv") as out:
            _write_table(
                out.write_text,
                [f.name for f in fields],
                [_cell_writer(f.kind) for f in fields],
                source.rows(data_type),
            )
    if context.include_metadata:
        with archive.member(METADATA) as out:
            out.write_text(
                json.dumps(context.metadata(), ensure_ascii=False, indent=2) + "\n"
            )


def _write_table(
    emit: Callable[[str], None],
    header: list[str],
    cells: list[Callable[[Any], str]],
    rows: Iterable[list[Any]],
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow([cell(value) for cell, value in zip(cells, row, strict=True)])
        pending += 1
        if pending == FLUSH_ROWS:
            emit(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    emit(buffer.getvalue())
