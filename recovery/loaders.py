"""The database seam of restores: move archive rows into tables.

Every restore that writes in place runs in ONE database transaction, opened
by the caller: it either commits whole or, when it fails or its process is
killed, leaves the data exactly as it was (PostgreSQL and SQLite both make
DDL transactional, so dropped triggers come back on rollback too). System
restores on PostgreSQL load into staging tables instead and swap them in
with one short transaction (``recovery.staging``).

- ``RowLoader`` (user restores, SQLite, and incrementals applied to staged
  tables) deletes the scope's rows and inserts the backup's, with foreign
  keys checked before commit.

The change-tracking triggers (``messaging.triggers``) are disabled for an
in-place restore: the rows it removes are not deletions by users, the rows it
writes keep the ``updated_at`` the backup recorded, and backup chains are
closed after a restore.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from backups.archive.rows import decode_fields
from backups.registry import TableSpec
from messaging.triggers import switch_triggers

COPY_BLOCK = 1024 * 1024
INSERT_BATCH = 2000


class RestoreConflict(Exception):
    """The restored data would break a constraint; nothing was written."""


@dataclass
class TableTally:
    cleared: int = 0
    loaded: int = 0
    deleted: int = 0
    # Rows the live table received while a staged restore was loading: they
    # are replaced with the rest when the staged table is swapped in.
    written_meanwhile: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "cleared": self.cleared,
            "loaded": self.loaded,
            "deleted": self.deleted,
            "written_meanwhile": self.written_meanwhile,
        }


@dataclass
class Loader:
    """Common bookkeeping; subclasses move the rows."""

    tallies: dict[str, TableTally] = field(default_factory=dict)

    def tally(self, spec: TableSpec) -> TableTally:
        return self.tallies.setdefault(spec.label, TableTally())


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def column_list(columns: Iterable[str]) -> str:
    return ", ".join(quote(c) for c in columns)


def check_columns(spec: TableSpec, columns: list[str]) -> None:
    """Refuse an archive whose columns the current table cannot take."""
    unknown = [c for c in columns if c not in spec.columns]
    missing = [
        f.column
        for f in spec.model._meta.concrete_fields
        if f.column not in columns and not f.null
    ]
    if unknown or missing:
        raise RestoreConflict(
            f"the backup's {spec.label} columns do not match this database's "
            f"(unknown: {', '.join(unknown) or 'none'}; missing: "
            f"{', '.join(missing) or 'none'}); restore into a database migrated to "
            "the backup's schema version"
        )


# --- Shared ---------------------------------------------------------------------


def disable_triggers(specs: Iterable[TableSpec]) -> None:
    """Switch off the change-tracking triggers of the tables a restore writes."""
    switch_triggers(connection, on=False, tables={spec.table for spec in specs})


def enable_triggers(specs: Iterable[TableSpec]) -> None:
    switch_triggers(connection, on=True, tables={spec.table for spec in specs})


def advance_sequences(
    specs: Iterable[TableSpec],
    *,
    floors: dict[str, int] | None = None,
    db: Any = None,
) -> None:
    """Move id sequences past the restored rows, never backwards.

    Ids are never reused, even after a restore brings back an older, smaller
    state: a tombstone or an export naming an id always means the same row.
    ``floors`` are the last values of sequences the restore replaced.
    SQLite's AUTOINCREMENT already keeps the highest id ever used. ``db`` is
    the connection to use (default: this deployment's).
    """
    db = connection if db is None else db
    if db.vendor != "postgresql":
        return
    with db.cursor() as cursor:
        for spec in specs:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [spec.table])
            sequence = cursor.fetchone()[0]
            floor = (floors or {}).get(spec.table, 1)
            cursor.execute(
                f"SELECT setval(%s, GREATEST((SELECT coalesce(max(id), 0) FROM "
                f"{db.ops.quote_name(spec.table)}), (SELECT last_value FROM "
                f"{sequence}), %s, 1))",
                [sequence, floor],
            )


def check_foreign_keys(db: Any = connection) -> None:
    """Raise ``RestoreConflict`` naming the first broken reference in ``db``."""
    try:
        if db.vendor == "postgresql":
            with db.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            db.check_constraints()
    except Exception as exc:  # the engine's IntegrityError, worded its way
        raise RestoreConflict(
            f"the restored rows would break a reference between tables ({exc}); "
            "restore the data types they depend on as well (for example "
            "conversations with messages)"
        ) from exc


# --- Row by row: user scope, and SQLite ---------------------------------------------


@dataclass
class RowLoader(Loader):
    """Delete a scope's rows and insert the backup's, in batches, through ``db``."""

    db: Any = field(default_factory=lambda: connection)

    def clear(self, spec: TableSpec, where: str) -> None:
        condition = f" WHERE {where}" if where else ""
        with self.db.cursor() as cursor:
            cursor.execute(f"DELETE FROM {quote(spec.table)}{condition}")
            self.tally(spec).cleared += max(cursor.rowcount, 0)

    def load(
        self,
        spec: TableSpec,
        columns: list[str],
        lines: Iterable[bytes],
        *,
        replace: bool,
        keep_existing: bool = False,
    ) -> None:
        """Insert rows; ``replace`` first deletes rows with the same ids."""
        convert = sql_row_converter(spec, columns)
        insert = self._insert_sql(spec, columns, keep_existing=keep_existing)
        batch: list[tuple] = []
        for line in lines:
            batch.append(convert(line))
            if len(batch) >= INSERT_BATCH:
                self._flush(spec, insert, batch, replace=replace)
                batch = []
        if batch:
            self._flush(spec, insert, batch, replace=replace)

    def _insert_sql(
        self, spec: TableSpec, columns: list[str], *, keep_existing: bool
    ) -> str:
        marks = ", ".join(["%s"] * len(columns))
        sql = (
            f"INSERT INTO {quote(spec.table)} ({column_list(columns)}) VALUES ({marks})"
        )
        return sql + (" ON CONFLICT DO NOTHING" if keep_existing else "")

    def _flush(
        self, spec: TableSpec, insert: str, batch: list[tuple], *, replace: bool
    ) -> None:
        with self.db.cursor() as cursor:
            if replace:
                self.delete_ids(spec, [row[0] for row in batch], count=False)
            cursor.executemany(insert, batch)
        self.tally(spec).loaded += len(batch)

    def delete_ids(
        self, spec: TableSpec, ids: list[int], *, count: bool = True
    ) -> None:
        with self.db.cursor() as cursor:
            for start in range(0, len(ids), INSERT_BATCH):
                part = ids[start : start + INSERT_BATCH]
                marks = ", ".join(["%s"] * len(part))
                cursor.execute(
                    f"DELETE FROM {quote(spec.table)} WHERE id IN ({marks})", part
                )
                if count:
                    self.tally(spec).deleted += max(cursor.rowcount, 0)


def sql_row_converter(spec: TableSpec, columns: list[str]) -> Callable[[bytes], tuple]:
    """Build a function turning a COPY text line into DB-API parameters."""
    kinds = dict(zip(spec.columns, spec.kinds, strict=True))
    sqlite = connection.vendor == "sqlite"

    def stamp(text: str) -> str:
        if sqlite and text.endswith("+00"):
            return text[:-3]
        return text

    def boolean(text: str) -> Any:
        return text == "t"

    converters: dict[str, Callable[[str], Any]] = {
        "int": int,
        "text": str,
        "json": str,
        "timestamp": stamp,
        "bool": boolean,
        "float": float,
    }
    chain = [converters[kinds[c]] for c in columns]
    width = len(chain)

    def convert(line: bytes) -> tuple:
        fields = decode_fields(line)
        if len(fields) != width:
            raise RestoreConflict(
                f"a {spec.label} row has {len(fields)} fields, expected {width}"
            )
        return tuple(
            None if f is None else c(f) for c, f in zip(chain, fields, strict=True)
        )

    return convert
