"""Round trips of the COPY text row encoding and its PostgreSQL value forms."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backups.archive.rows import (
    count_rows,
    decode_fields,
    encode_row,
    encode_rows,
    iter_lines,
    make_row_parser,
    parse_timestamp,
    parse_value,
)
from tests.backups.reference_decoder import decode_copy_text

TRICKY = [
    "",
    "\\N",
    "\\",
    "tab\there",
    "line\nbreak\r\n",
    "back\\slash\\t",
    "\b\f\v\x01\x7f",
    "తెలుగు సందేశం",
    "हिन्दी संदेश",
    "emoji 🙂👍🏽🇮🇳",
    "zero\x00byte",
]

texts = st.one_of(st.sampled_from(TRICKY), st.text())
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.one_of(st.just(UTC), offsets),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3)
    ),
    max_leaves=8,
)
COLUMNS = {
    "int": st.integers(-(2**63), 2**63 - 1),
    "text": texts,
    "bool": st.booleans(),
    "timestamp": aware,
    "json": st.dictionaries(texts, json_values, max_size=4) | st.lists(json_values),
    "float": st.floats(allow_nan=False),
    "date": st.dates(),
    "bytes": st.binary(max_size=20),
    "uuid": st.uuids(),
    "decimal": st.decimals(allow_nan=False, allow_infinity=False),
}
column_kinds = st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=8)


@st.composite
def typed_rows(draw):
    """Draw column kinds and a few rows of values (or None) for them."""
    kinds = draw(column_kinds)
    row = st.tuples(*[st.none() | COLUMNS[kind] for kind in kinds])
    return kinds, draw(st.lists(row, min_size=1, max_size=5))


@settings(max_examples=300, deadline=None)
@given(typed_rows())
def test_rows_round_trip(sample):
    kinds, rows = sample
    parse = make_row_parser(kinds)
    data = encode_rows(rows)
    assert data.count(b"\n") == len(rows)
    got = [parse(line) for line in iter_lines([data])]
    assert got == [list(row) for row in rows]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.none() | texts, min_size=1, max_size=6), max_size=6))
def test_reference_decoder_agrees_on_fields(rows):
    data = b"".join(encode_row(row) for row in rows)
    assert [decode_fields(line) for line in iter_lines([data])] == rows
    assert decode_copy_text(data) == rows


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(texts, min_size=1, max_size=4), max_size=8),
    st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_iter_lines_ignores_chunk_boundaries(rows, cuts):
    data = b"".join(encode_row(row) for row in rows)
    bounds = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert [decode_fields(line) for line in iter_lines(chunks)] == rows


def test_known_row_bytes():
    india = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2026, 11, 26, 12, 50, 38, 500000, tzinfo=india)
    row = [7, "tab\there\\", None, True, moment, {"k": "v\n", "ü": [1]}, b"\x00\xff"]
    assert encode_row(row) == (
        b"7\ttab\\there\\\\\t\\N\tt\t2026-11-26 07:20:38.500000+00\t"
        b'{"k":"v\\\\n","\xc3\xbc":[1]}\t\\\\x00ff\n'
    )


def test_floats_and_special_values():
    line = encode_row([float("nan"), float("inf"), float("-inf"), 1e-300, False])
    assert line == b"NaN\tInfinity\t-Infinity\t1e-300\tf\n"
    fields = decode_fields(line)
    assert parse_value(fields[1], "float") == float("inf")
    assert parse_value(fields[4], "bool") is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26 07:20:38+00", datetime(2026, 11, 26, 7, 20, 38, tzinfo=UTC)),
        ("2026-11-26 07:20:38.5+00", datetime(2026, 11, 26, 7, 20, 38, 500000, UTC)),
        ("2026-11-26 07:20:38.12+00", datetime(2026, 11, 26, 7, 20, 38, 120000, UTC)),
        (
            "2026-11-26 07:20:38.123456+00",
            datetime(2026, 11, 26, 7, 20, 38, 123456, tzinfo=UTC),
        ),
        ("2026-11-26 12:50:38+05:30", datetime(2026, 11, 26, 7, 20, 38, tzinfo=UTC)),
        ("2026-11-26 02:20:38-05", datetime(2026, 11, 26, 7, 20, 38, tzinfo=UTC)),
        ("2026-11-26T07:20:38Z", datetime(2026, 11, 26, 7, 20, 38, tzinfo=UTC)),
        ("2026-11-26 07:20:38", datetime(2026, 11, 26, 7, 20, 38, tzinfo=UTC)),
        ("0001-01-01 00:00:00+00", datetime(1, 1, 1, tzinfo=UTC)),
    ],
)
def test_postgresql_timestamp_forms(text: str, expected: datetime):
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["infinity", "2026-11-26 07:20:38+00 BC", "soon"])
def test_unreadable_timestamps_raise(text: str):
    with pytest.raises(ValueError, match="cannot read timestamp"):
        parse_timestamp(text)


def test_copy_from_escapes_are_understood():
    assert decode_fields(b"\\101\\x41\\q\\.\t\\\\N\t\\N") == ["AAq.", "\\N", None]
    assert decode_fields(b"plain\tline\n") == ["plain", "line"]
    with pytest.raises(ValueError, match="lone backslash"):
        decode_fields(b"end\\")


def test_encoding_rejects_naive_datetimes_and_unknown_types():
    with pytest.raises(ValueError, match="naive"):
        encode_row([datetime(2026, 1, 1)])
    with pytest.raises(TypeError, match="object"):
        encode_row([object()])


def test_parse_value_kinds():
    assert parse_value(None, "int") is None
    assert parse_value("-42", "int") == -42
    assert parse_value("true", "bool") is True
    assert parse_value('{"a": [1, "x"]}', "json") == {"a": [1, "x"]}
    assert parse_value("\\x0aff", "bytes") == b"\n\xff"
    assert parse_value("2026-01-02", "date") == date(2026, 1, 2)
    assert parse_value("1E+5", "decimal") == Decimal(100000)
    value = uuid.uuid4()
    assert parse_value(str(value), "uuid") == value
    with pytest.raises(ValueError, match="unknown column kind"):
        parse_value("1", "money")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="boolean"):
        parse_value("maybe", "bool")


@pytest.mark.postgres
def test_postgresql_copy_interoperates():
    psycopg = pytest.importorskip("psycopg")
    dsn = os.environ.get("DATABASE_URL") or "host=127.0.0.1 user=postgres"
    try:
        conn = psycopg.connect(dsn, connect_timeout=2, autocommit=True)
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL is not reachable")
    kinds = ["int", "text", "bool", "timestamp", "json", "bytes", "float", "date"]
    rows = [
        [
            1,
            "".join(TRICKY[:-1]),
            True,
            datetime(2026, 11, 26, 7, 20, 38, tzinfo=UTC),
            {"x": "y\n", "z": [1, 2]},
            b"\x00\\",
            1.5,
            date(2026, 1, 2),
        ],
        [
            2,
            "",
            False,
            datetime(2026, 11, 26, 7, 20, 38, 500000, tzinfo=UTC),
            [],
            b"",
            float("inf"),
            None,
        ],
        [None] * 8,
    ]
    with conn, conn.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
        cursor.execute(
            "CREATE TEMP TABLE t (i bigint, s text, b boolean, ts timestamptz, "
            "j jsonb, by bytea, f float8, d date)"
        )
        with cursor.copy("COPY t FROM STDIN") as copy:
            copy.write(encode_rows(rows))
        with cursor.copy("COPY t TO STDOUT") as copy:
            exported = b"".join(bytes(block) for block in copy)
    parse = make_row_parser(kinds)
    assert [parse(line) for line in iter_lines([exported])] == rows
    assert b"2026-11-26 07:20:38+00" in exported
    assert b"2026-11-26 07:20:38.5+00" in exported


@pytest.mark.parametrize(
    ("data", "rows"),
    [
        (b"", 0),
        (b"1\tno line end yet", 0),
        (b"1\ta\n", 1),
        (b"1\ta\\nb\n2\tc\n", 2),  # an escaped line break is not a row end
        (b"\n\n\n", 3),
    ],
)
def test_count_rows_counts_line_ends(data, rows):
    assert count_rows(data) == rows
    assert count_rows(data) == data.count(b"\n")
