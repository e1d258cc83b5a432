"""The database seam of the backup pipeline: consistent snapshots and fast dumps.

Each engine opens one read snapshot for a whole backup and streams tables out
in the archive's row encoding (PostgreSQL COPY text format), in blocks of
about ``BLOCK_SIZE`` bytes:
- PostgreSQL: a dedicated connection in one REPEATABLE READ, READ ONLY
  transaction, ``COPY (SELECT ...) TO STDOUT``; the server does the encoding.
- SQLite: one deferred read transaction on Django's connection (WAL keeps
  writers going); rows are encoded in Python.

The watermark is the time from which the next incremental must look again.
It is earlier than every change the snapshot cannot see: on PostgreSQL the
start of the oldest transaction still open in the database, and always minus
``CLOCK_MARGIN`` for timestamps computed by application hosts before their
write reached the database. Rows in the overlap travel twice; restores apply
them idempotently.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, connections
from django.utils import timezone

from backups.archive.rows import escape_text
from backups.registry import TableSpec

BLOCK_SIZE = 1024 * 1024
FETCH_ROWS = 5000
CLOCK_MARGIN = timedelta(seconds=60)


@dataclass
class Snapshot:
    """An open, consistent read view of the database."""

    engine: str
    watermark: datetime
    dump: Callable[[TableSpec, str], Iterator[bytes]]
    fetch: Callable[[str], list[tuple]]
    # True when the snapshot reads through Django's own connection (SQLite):
    # a catalog write there would join the read transaction and hold the
    # database's write lock until the backup ends, so none is made.
    shares_connection: bool = False

    def changed_since(self, column: str, moment: datetime) -> str:
        """Return a condition selecting rows whose ``column`` >= ``moment``."""
        utc = moment.astimezone(UTC)
        if self.engine == "postgresql":
            return f"\"{column}\" >= '{utc.isoformat()}'::timestamptz"
        # SQLite holds naive UTC text, without a fraction when it is zero:
        # compare from the start of the second so that no such row is missed.
        return f"\"{column}\" >= '{utc.strftime('%Y-%m-%d %H:%M:%S')}'"


@contextlib.contextmanager
def open_snapshot() -> Iterator[Snapshot]:
    """Open a consistent snapshot of the default database."""
    vendor = connection.vendor
    if vendor == "postgresql":
        with _postgresql_snapshot() as snapshot:
            yield snapshot
    elif vendor == "sqlite":
        with _sqlite_snapshot() as snapshot:
            yield snapshot
    else:
        raise NotImplementedError(f"backups do not support {vendor} databases")


def select_sql(spec: TableSpec, where: str) -> str:
    columns = ", ".join(f'"{c}"' for c in spec.columns)
    condition = f" WHERE {where}" if where else ""
    return f'SELECT {columns} FROM "{spec.table}"{condition}'


def dump_rows(raw: Any, *, vendor: str, spec: TableSpec) -> Iterator[bytes]:
    """Stream every row of ``spec``'s table through the raw DB-API connection
    ``raw``, encoded exactly as a backup encodes it (blocks of COPY text).

    For reading a copy of the database other than Django's (a restore drill's
    scratch copy); on PostgreSQL the session must be in UTC with ISO dates, as
    a backup's snapshot is.
    """
    if vendor == "postgresql":
        return _copy_out(raw, f"COPY ({select_sql(spec, '')}) TO STDOUT")
    return _sqlite_rows(raw, spec, "")


# --- PostgreSQL -------------------------------------------------------------


@contextlib.contextmanager
def _postgresql_snapshot() -> Iterator[Snapshot]:
    wrapper = connections.create_connection("default")
    try:
        wrapper.ensure_connection()
        raw = wrapper.connection
        raw.autocommit = True
        raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        raw.execute("SET LOCAL TIME ZONE 'UTC'")
        raw.execute("SET LOCAL DateStyle = 'ISO, YMD'")
        started, oldest = raw.execute(
            "SELECT now(), (SELECT min(xact_start) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid())"
        ).fetchone()
        watermark = min(started, oldest or started) - CLOCK_MARGIN

        def dump(spec: TableSpec, where: str) -> Iterator[bytes]:
            yield from _copy_out(raw, f"COPY ({select_sql(spec, where)}) TO STDOUT")

        def fetch(sql: str) -> list[tuple]:
            return raw.execute(sql).fetchall()

        yield Snapshot("postgresql", watermark, dump, fetch)
        raw.execute("COMMIT")
    finally:
        wrapper.close()


def _copy_out(raw: Any, statement: str) -> Iterator[bytes]:
    """Stream ``COPY ... TO STDOUT`` in blocks of about ``BLOCK_SIZE`` bytes.

    libpq hands over one row per call, and psycopg's ``Copy`` iterator adds a
    few Python frames to each: on a million rows that is seconds. This loop
    calls libpq directly. The connection is idle in its transaction before
    and after.
    """
    from psycopg import errors, pq

    pgconn = raw.pgconn
    pgconn.send_query(statement.encode())
    result = pgconn.get_result()
    if result is None or result.status != pq.ExecStatus.COPY_OUT:
        message = result.error_message.decode(errors="replace") if result else ""
        _drain(pgconn)
        raise errors.DatabaseError(f"COPY out failed: {message.strip()}")
    block = bytearray()
    read_row = pgconn.get_copy_data
    while True:
        size, data = read_row(0)
        if size < 0:
            break
        block += data
        if len(block) >= BLOCK_SIZE:
            yield bytes(block)
            block.clear()
    failure = _drain(pgconn)
    if failure:
        raise errors.DatabaseError(f"COPY out failed: {failure}")
    if block:
        yield bytes(block)


def _drain(pgconn: Any) -> str:
    """Consume the results after a COPY; return the first error message."""
    from psycopg import pq

    failure = ""
    while (result := pgconn.get_result()) is not None:
        if result.status == pq.ExecStatus.FATAL_ERROR and not failure:
            failure = result.error_message.decode(errors="replace").strip()
    return failure


# --- SQLite -------------------------------------------------------------------


@contextlib.contextmanager
def _sqlite_snapshot() -> Iterator[Snapshot]:
    connection.ensure_connection()
    if not connection.get_autocommit():
        raise RuntimeError("a SQLite backup must not run inside a transaction")
    raw = connection.connection
    watermark = timezone.now() - CLOCK_MARGIN
    raw.execute("BEGIN DEFERRED")
    try:
        raw.execute("SELECT count(*) FROM sqlite_master").fetchone()

        def dump(spec: TableSpec, where: str) -> Iterator[bytes]:
            yield from _sqlite_rows(raw, spec, where)

        def fetch(sql: str) -> list[tuple]:
            return raw.execute(sql).fetchall()

        yield Snapshot("sqlite", watermark, dump, fetch, shares_connection=True)
    finally:
        raw.execute("COMMIT")


def _sqlite_rows(raw: Any, spec: TableSpec, where: str) -> Iterator[bytes]:
    encode = _sqlite_encoder(spec)
    cursor = raw.execute(select_sql(spec, where))
    block: list[str] = []
    size = 0
    while rows := cursor.fetchmany(FETCH_ROWS):
        for row in rows:
            line = encode(row)
            block.append(line)
            size += len(line)
        if size >= BLOCK_SIZE:
            yield "".join(block).encode()
            block.clear()
            size = 0
    if block:
        yield "".join(block).encode()


def _sqlite_encoder(spec: TableSpec) -> Callable[[tuple], str]:
    """Build a function that renders a SQLite row as a COPY text line."""

    def text(value: Any) -> str:
        return escape_text(str(value))

    def stamp(value: Any) -> str:
        # Django stores aware datetimes in SQLite as naive UTC text.
        return f"{value}+00"

    def boolean(value: Any) -> str:
        return "t" if value else "f"

    render = {
        "int": str,
        "text": text,
        "json": text,
        "timestamp": stamp,
        "bool": boolean,
        "float": repr,
    }
    converters = [render[kind] for kind in spec.kinds]

    def encode(row: tuple) -> str:
        return (
            "\t".join(
                "\\N" if value is None else convert(value)
                for convert, value in zip(converters, row, strict=True)
            )
            + "\n"
        )

    return encode
