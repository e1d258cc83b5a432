"""The database seam of the backup pipeline: consistent snapshots and fast dumps.

Each engine opens one read snapshot for a whole backup and streams tables out
in the archive's row encoding (PostgreSQL COPY text format), in blocks of
about ``BLOCK_SIZE`` bytes:
- PostgreSQL: a dedicated connection in one REPEATABLE READ, READ ONLY
  transaction, ``COPY (SELECT ...) TO STDOUT``; the server does the encoding.
- SQLite: one deferred read transaction on Django's connection (WAL keeps
  writers going); rows are encoded in Python.

The watermark is where the next incremental starts looking (``stamp >=
watermark``). Every change stamp (``updated_at``, account stamps, tombstones'
``deleted_at``) is written by a database trigger from the database's clock
(``messaging.triggers``), never by an application host. Invariant: every row
version the snapshot cannot see carries a stamp >= the watermark. Why it holds:
- PostgreSQL stamps ``now()``, the start of the writing transaction, which
  ``pg_stat_activity.xact_start`` publishes as the transaction starts, before
  it can write. A version the snapshot cannot see was written by a
  transaction that was running when the snapshot was taken, or that started
  later. Before taking the snapshot the backup reads the start of every
  transaction running in the database; the watermark is the earliest of
  those starts and of the time of that reading. A transaction running at the
  snapshot was either running at the reading (its start is counted) or
  started after it (its start is later than the reading). Reading after the
  snapshot instead would miss a transaction that commits in between: its
  rows are invisible to the snapshot yet its start is gone from the list.
  The start times listed after the snapshot count as well, which costs
  nothing. A transaction that began before a backup and commits after it is
  therefore carried by the next incremental (the watermark is at or before
  its start). Requirements: the backup's database role sees the other
  sessions' ``xact_start`` (the same role as the application's, or a member
  of ``pg_read_all_stats``); the database server's clock does not step back;
  no prepared (two-phase) transactions, which Django does not use.
- SQLite stamps the time of the writing statement. Writers take turns on one
  write lock: the backup takes that lock (``BEGIN IMMEDIATE``, waiting for
  the writer in progress to commit), reads the clock as the watermark and
  lets go, then opens its snapshot. Every write the snapshot cannot see
  happens after the lock was released, so its stamp is later than the
  watermark. Writers and the backup share one host's clock.
A long transaction holds the watermark back, so the next incremental carries
what changed since that transaction started: rows in the overlap travel
twice; restores apply them idempotently.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, connections

from backups.archive.rows import escape_text
from backups.registry import TableSpec

BLOCK_SIZE = 1024 * 1024
FETCH_ROWS = 5000
# The earliest start of the transactions running now (or now, without any).
_OLDEST_RUNNING = (
    "SELECT least(now(), (SELECT min(xact_start) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()))"
)


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
        return f"\"{column}\" >= '{sqlite_text(utc)}'"


def sqlite_text(moment: datetime) -> str:
    """Return the shortest text of a UTC time as SQLite stores it, for comparisons.

    SQLite holds naive UTC text (``2026-12-02 01:56:38.123000``, or without a
    fraction when it is zero, or with three digits from ``strftime``). With
    the fraction's trailing zeros dropped, text order is time order against
    each of those forms, so a row stamped exactly at ``moment`` is included.
    """
    text = moment.strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0")
    return text.rstrip(".")


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
        # Before the snapshot exists (see the invariant above).
        (before,) = raw.execute(_OLDEST_RUNNING).fetchone()
        raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        raw.execute("SET LOCAL TIME ZONE 'UTC'")
        raw.execute("SET LOCAL DateStyle = 'ISO, YMD'")
        # The transaction's first query takes its snapshot.
        (after,) = raw.execute(_OLDEST_RUNNING).fetchone()
        watermark = min(before, after)

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
    raw.execute("BEGIN IMMEDIATE")  # no writer is half-way while we read the clock
    try:
        (stamp,) = raw.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')").fetchone()
    finally:
        raw.execute("COMMIT")
    watermark = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
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
