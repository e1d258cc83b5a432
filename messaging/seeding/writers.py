"""The engine seam of seeding: how rows reach the tables, per database engine.

Everything engine-specific about seeding lives here: PostgreSQL gets ``COPY
... FROM STDIN`` fed with large pre-built text buffers, SQLite gets
``executemany``. Both receive the same rows (see ``generator``).

Invariants:
- a writer runs inside the caller's transaction and commits nothing itself,
  so a failure anywhere leaves the tables as they were;
- on PostgreSQL, ``loading()`` drops the loaded tables' foreign keys and
  secondary indexes and re-creates them, by their own definitions from the
  catalog, when the load is done. Checking a foreign key once per table (one
  anti-join) instead of once per row (a deferred trigger per row at COMMIT),
  and building each index once, is what makes a million rows take seconds.
  The definitions come back byte for byte, under the same names, in the same
  transaction. Until COMMIT, other sessions cannot use the loaded tables, nor
  write to the tables they reference (``auth_user``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from django.core.management.color import no_style
from django.db.backends.base.base import BaseDatabaseWrapper

from messaging.seeding.generator import Table
from messaging.seeding.plan import SeedError

logger = logging.getLogger(__name__)
OnBatch = Callable[[str, int], None]
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class Writer:
    """Write generated rows into the messaging tables of one connection."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection

    def delete_all(self, tables: list[str]) -> None:
        """Delete every row of ``tables`` (children listed before parents)."""
        raise NotImplementedError

    @contextmanager
    def loading(self, tables: list[str]) -> Iterator[None]:
        """Prepare ``tables`` for a bulk load, and restore them after it."""
        yield

    def write(
        self, table: Table, batches: Iterable[list[tuple]], on_batch: OnBatch
    ) -> int:
        """Insert every batch of rows into ``table``; return the row count."""
        raise NotImplementedError

    def finish(self, models: list) -> None:
        """Point the id sequences past the explicit ids that were written."""
        statements = self.connection.ops.sequence_reset_sql(no_style(), models)
        with self.connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


class PostgresWriter(Writer):
    """COPY in text format; foreign keys and indexes rebuilt after the load."""

    def delete_all(self, tables: list[str]) -> None:
        # TRUNCATE fires no per-row delete triggers, so it writes no
        # tombstones; the tombstone table is in the list anyway.
        with self.connection.cursor() as cursor:
            # Other apps' tables may reference these (legal holds, retention
            # policies of a conversation). Empty ones are truncated alongside,
            # as PostgreSQL requires; rows there are never thrown away.
            cursor.execute(
                "SELECT DISTINCT referencing.relname FROM pg_constraint c"
                " JOIN pg_class referencing ON referencing.oid = c.conrelid"
                " JOIN pg_class referenced ON referenced.oid = c.confrelid"
                " WHERE c.contype = 'f' AND referenced.relname = ANY(%s)"
                " AND NOT referencing.relname = ANY(%s)",
                [tables, tables],
            )
            referencing = sorted(row[0] for row in cursor.fetchall())
            for table in referencing:
                quoted = self.connection.ops.quote_name(table)
                cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {quoted})")
                if cursor.fetchone()[0]:
                    raise SeedError(
                        f"{table} holds rows that refer to the messaging data "
                        "(for example a legal hold on a conversation); remove "
                        "them before replacing the data"
                    )
            names = ", ".join(
                self.connection.ops.quote_name(t) for t in [*tables, *referencing]
            )
            cursor.execute(f"TRUNCATE {names}")

    @contextmanager
    def loading(self, tables: list[str]) -> Iterator[None]:
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            foreign_keys = _foreign_keys(cursor, tables)
            indexes = _secondary_indexes(cursor, tables)
            for table, name, _ in foreign_keys:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")
            for index, _ in indexes:
                cursor.execute(f"DROP INDEX {index}")
        yield
        started = time.monotonic()
        with self.connection.cursor() as cursor:
            for _, definition in indexes:
                cursor.execute(definition)
            indexed = time.monotonic()
            for table, name, definition in foreign_keys:
                cursor.execute(
                    f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}"
                )
            checked = time.monotonic()
            cursor.execute(f"ANALYZE {', '.join(map(quote, tables))}")
        logger.debug(
            "Rebuilt %d indexes in %.1f s, checked %d foreign keys in %.1f s, "
            "analyzed in %.1f s",
            len(indexes),
            indexed - started,
            len(foreign_keys),
            checked - indexed,
            time.monotonic() - checked,
        )

    def write(
        self, table: Table, batches: Iterable[list[tuple]], on_batch: OnBatch
    ) -> int:
        encode = copy_encoder(table)
        columns = ", ".join(table.columns)
        written = 0
        with self.connection.cursor() as cursor:
            # Timestamps are UTC text without an offset (see ``timeline``).
            cursor.execute("SET LOCAL TIME ZONE 'UTC'")
            copy_sql = f"COPY {table.name} ({columns}) FROM STDIN"
            with cursor.cursor.copy(copy_sql) as copy:
                for batch in batches:
                    copy.write(encode(batch))
                    written += len(batch)
                    on_batch(table.name, len(batch))
        return written


def copy_encoder(table: Table) -> Callable[[list[tuple]], str]:
    """Return a function that turns rows into COPY text-format lines.

    The function is compiled for the table's column layout (as
    ``collections.namedtuple`` compiles its class): one formatting expression
    per row, no per-column Python loop. Only positions reach the source code,
    never data. Text values are escaped through a cache, since most come from
    pools of a few thousand strings.
    """
    names = [f"v{position}" for position in range(len(table.columns))]
    arguments = []
    for name, column in zip(names, table.columns, strict=True):
        value = f"escaped[{name}]" if column in table.text_columns else name
        if column in table.nullable_columns:
            value = f"NULL if {name} is None else {value}"
        arguments.append(value)
    template = repr("\t".join(["%s"] * len(names)) + "\n")
    source = (
        "def encode(rows):\n"
        "    if len(escaped) > ESCAPE_CACHE_SIZE:\n"
        "        escaped.clear()\n"
        f"    return ''.join([{template} % ({', '.join(arguments)})\n"
        f"                    for ({', '.join(names)},) in rows])\n"
    )
    namespace = {"escaped": _EscapedText(), "NULL": "\\N", "ESCAPE_CACHE_SIZE": 200_000}
    exec(source, namespace)  # noqa: S102 - compiled from positions only
    return namespace["encode"]


class _EscapedText(dict):
    """Text escaped for COPY's text format, computed once per distinct string."""

    def __missing__(self, text: str) -> str:
        escaped = text.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(text) else text
        self[text] = escaped
        return escaped


def _foreign_keys(cursor, tables: list[str]) -> list[tuple[str, str, str]]:
    """Return (table, name, definition) of the foreign keys ``tables`` hold.

    Table and index names come as ``regclass`` text: quoted and qualified as
    SQL needs them.
    """
    cursor.execute(
        """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])
        ORDER BY conrelid::regclass::text, conname
        """,
        [tables],
    )
    return cursor.fetchall()


def _secondary_indexes(cursor, tables: list[str]) -> list[tuple[str, str]]:
    """Return (name, CREATE INDEX statement) of indexes no constraint owns."""
    cursor.execute(
        """
        SELECT ix.indexrelid::regclass::text, pg_get_indexdef(ix.indexrelid)
        FROM pg_index AS ix
        WHERE ix.indrelid = ANY(%s::regclass[])
          AND NOT EXISTS (
              SELECT 1 FROM pg_constraint AS con
              WHERE con.conindid = ix.indexrelid
                AND con.conrelid = ix.indrelid
                AND con.contype IN ('p', 'u', 'x')
          )
        ORDER BY 1
        """,
        [tables],
    )
    return cursor.fetchall()


class SQLiteWriter(Writer):
    """``executemany`` in batches, in the caller's transaction."""

    def delete_all(self, tables: list[str]) -> None:
        # The per-row delete triggers write tombstones: the tombstone table
        # comes last so that they go too.
        with self.connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"DELETE FROM {self.connection.ops.quote_name(table)}")

    def finish(self, models: list) -> None:
        # AUTOINCREMENT remembers the largest id ever used, even after a
        # DELETE: point it at the largest seeded id, as PostgreSQL's setval.
        with self.connection.cursor() as cursor:
            for model in models:
                table = self.connection.ops.quote_name(model._meta.db_table)
                cursor.execute(
                    f"UPDATE sqlite_sequence SET seq = "
                    f"(SELECT COALESCE(MAX(id), 0) FROM {table}) WHERE name = %s",
                    [model._meta.db_table],
                )

    def write(
        self, table: Table, batches: Iterable[list[tuple]], on_batch: OnBatch
    ) -> int:
        columns = ", ".join(table.columns)
        marks = ", ".join("?" * len(table.columns))
        sql = f"INSERT INTO {table.name} ({columns}) VALUES ({marks})"
        self.connection.ensure_connection()
        cursor = self.connection.connection.cursor()
        written = 0
        try:
            for batch in batches:
                cursor.executemany(sql, batch)
                written += len(batch)
                on_batch(table.name, len(batch))
        finally:
            cursor.close()
        return written


WRITERS: dict[str, type[Writer]] = {
    "postgresql": PostgresWriter,
    "sqlite": SQLiteWriter,
}


def writer_for(connection: BaseDatabaseWrapper) -> Writer:
    """Return the writer for ``connection``'s engine."""
    if connection.vendor not in WRITERS:
        raise SeedError(
            f"seeding supports PostgreSQL and SQLite, not {connection.vendor}"
        )
    return WRITERS[connection.vendor](connection)
