"""Engine-neutral row encoding: PostgreSQL ``COPY`` text format.

Invariants: what ``encode_row`` writes is what PostgreSQL's ``COPY ... FROM``
reads back to the same values, and ``decode_fields`` reads exactly what
``COPY ... TO STDOUT`` (text format, ``SET TIME ZONE 'UTC'``) writes, so the
same section data can be produced by PostgreSQL or by Python and restored
into PostgreSQL or SQLite. Lines are UTF-8, fields are separated by a tab,
``\\N`` is NULL, and backslash escapes protect tabs, newlines and backslashes.
Parsing has a fast path for lines without a backslash, the common case.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Literal

NULL = "\\N"
Kind = Literal[
    "int",
    "float",
    "decimal",
    "text",
    "bool",
    "timestamp",
    "date",
    "json",
    "bytes",
    "uuid",
]

_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "\t": "\\t",
        "\n": "\\n",
        "\r": "\\r",
        "\b": "\\b",
        "\f": "\\f",
        "\v": "\\v",
    }
)
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r\b\f\v]").search
_UNESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.)|\Z)", re.DOTALL)
_SIMPLE_UNESCAPES = {
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("v"): b"\v",
}
_BOOLS = {"t": True, "true": True, "f": False, "false": False}


def escape_text(text: str) -> str:
    """Return ``text`` with COPY text escapes applied."""
    return text.translate(_ESCAPES) if _NEEDS_ESCAPE(text) else text


def _encode_float(value: float) -> str:
    """Return a float the way PostgreSQL writes float8."""
    if math.isfinite(value):
        return repr(value)
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def format_timestamp(value: datetime) -> str:
    """Return an aware datetime as ``YYYY-MM-DD HH:MM:SS.ffffff+00`` in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r} cannot be encoded; make it aware")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(" ", "microseconds") + "+00"


def _encode_json(value: Any) -> str:
    """Return compact JSON text, escaped for COPY."""
    return escape_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


_ENCODERS: dict[type, Callable[[Any], str]] = {
    str: escape_text,
    int: str,
    bool: lambda value: "t" if value else "f",
    float: _encode_float,
    Decimal: str,
    datetime: format_timestamp,
    date: date.isoformat,
    time: time.isoformat,
    uuid.UUID: str,
    dict: _encode_json,
    list: _encode_json,
    bytes: lambda value: "\\\\x" + value.hex(),
    bytearray: lambda value: "\\\\x" + value.hex(),
    memoryview: lambda value: "\\\\x" + value.hex(),
}


def _encode_field(value: Any) -> str:
    """Return one field in COPY text form, already escaped."""
    if value is None:
        return NULL
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        encoder = _encoder_for_subclass(value)
    return encoder(value)


def _encoder_for_subclass(value: Any) -> Callable[[Any], str]:
    """Find the encoder of a subclass of a supported type (bool before int)."""
    for kind, encoder in _ENCODERS.items():
        if isinstance(value, kind):
            return encoder
    if isinstance(value, tuple):
        return _encode_json
    raise TypeError(f"cannot encode a {type(value).__name__} in a backup row")


def encode_row(values: Sequence[Any]) -> bytes:
    """Return one ``\\n``-terminated COPY text line for ``values``."""
    return ("\t".join([_encode_field(value) for value in values]) + "\n").encode()


def encode_rows(rows: Iterable[Sequence[Any]]) -> bytes:
    """Return the COPY text lines of many rows as one block."""
    return "".join(
        ["\t".join([_encode_field(value) for value in row]) + "\n" for row in rows]
    ).encode()


def count_rows(data: bytes) -> int:
    """Return the number of rows (line ends) in COPY text ``data``.

    Deleting the line ends and comparing lengths is about 1.5 times faster
    than ``data.count(b"\\n")`` on CPython: the deletion finds them with
    memchr, the count compares byte by byte. Rows are hundreds of bytes long,
    so the copy it makes costs less than the scan it saves.
    """
    return len(data) - len(data.replace(b"\n", b""))


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split a byte stream into lines (without ``\\n``) across chunk boundaries."""
    rest = b""
    for chunk in chunks:
        if not chunk:
            continue
        lines = (rest + chunk if rest else bytes(chunk)).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def _unescape_match(match: re.Match[bytes]) -> bytes:
    """Return the bytes one backslash escape stands for."""
    octal, hexa, char = match.groups()
    if octal is not None:
        return bytes([int(octal, 8) & 0xFF])
    if hexa is not None:
        return bytes([int(hexa, 16)])
    if char is None:
        raise ValueError("a COPY text field ends with a lone backslash")
    return _SIMPLE_UNESCAPES.get(char[0], char)


def _decode_field(field: bytes) -> str | None:
    """Return one field's text, or None for ``\\N``."""
    if field == b"\\N":
        return None
    if b"\\" in field:
        field = _UNESCAPE.sub(_unescape_match, field)
    return field.decode("utf-8")


def decode_fields(line: bytes) -> list[str | None]:
    """Return the unescaped fields of one COPY text line (``None`` for NULL)."""
    if line.endswith(b"\n"):
        line = line[:-1]
    if b"\\" not in line:
        return line.decode("utf-8").split("\t")
    return [_decode_field(field) for field in line.split(b"\t")]


def parse_timestamp(text: str) -> datetime:
    """Return an aware UTC datetime from PostgreSQL or ISO 8601 text.

    Accepts ``2026-11-26 07:20:38+00``, fractions of 1 to 6 digits, offsets
    such as ``+05:30`` or ``Z``, and a ``T`` separator; text without an offset
    is taken as UTC.
    """
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"cannot read timestamp {text!r}; expected YYYY-MM-DD HH:MM:SS[.f][+HH]"
        ) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_bool(text: str) -> bool:
    """Return a boolean from PostgreSQL's ``t``/``f`` (or ``true``/``false``)."""
    try:
        return _BOOLS[text.lower()]
    except KeyError:
        raise ValueError(f"cannot read boolean {text!r}; expected t or f") from None


def parse_bytes(text: str) -> bytes:
    """Return bytes from PostgreSQL's hex ``bytea`` form ``\\x0a0b``."""
    if not text.startswith("\\x"):
        raise ValueError("cannot read bytea value; expected the hex form \\x...")
    return bytes.fromhex(text[2:])


_PARSERS: dict[str, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "decimal": Decimal,
    "text": str,
    "bool": parse_bool,
    "timestamp": parse_timestamp,
    "date": date.fromisoformat,
    "json": json.loads,
    "bytes": parse_bytes,
    "uuid": uuid.UUID,
}


def parse_value(text: str | None, kind: Kind) -> Any:
    """Convert one decoded field to a Python value of ``kind`` (None stays None)."""
    if text is None:
        return None
    try:
        parser = _PARSERS[kind]
    except KeyError:
        raise ValueError(f"unknown column kind {kind!r}") from None
    return parser(text)


def make_row_parser(kinds: Sequence[Kind]) -> Callable[[bytes], list[Any]]:
    """Return a function turning one COPY text line into typed values."""
    try:
        parsers = [_PARSERS[kind] for kind in kinds]
    except KeyError as error:
        raise ValueError(f"unknown column kind {error.args[0]!r}") from None
    width = len(parsers)

    def parse(line: bytes) -> list[Any]:
        fields = decode_fields(line)
        if len(fields) != width:
            raise ValueError(f"expected {width} fields, found {len(fields)}")
        return [
            None if text is None else parser(text)
            for parser, text in zip(parsers, fields, strict=True)
        ]

    return parse
