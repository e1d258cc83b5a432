"""System restores on PostgreSQL: load into a staging schema, then swap.

A system restore replaces whole tables. Loading them in place would lock
the live tables for the whole load and keep every step on one connection.
Instead the chain is loaded into new tables in the schema ``talowa_restore``
and one short transaction swaps them in at the end. Loading uses both cores:
each table's rows are COPYed over two connections at once, and a third
connection builds the indexes of the tables already loaded meanwhile.

1. ``StagedTables.__enter__`` drops what a killed restore may have left and
   creates each table ``LIKE`` the live one (columns, defaults, identity,
   checks; no indexes, no foreign keys, no triggers).
2. The full backup is COPYed in; each table is analyzed and gets its primary
   key, unique constraints and indexes as soon as its rows are in, under the
   live names (index names are per schema). Incrementals and tombstones are
   applied next, then the foreign keys between staged tables are added,
   which validates them with one join each.
3. ``swap`` (in the caller's transaction): lock the live tables, add the
   accounts the backup needs, drop the live tables, move the staged ones
   into the live schema, add the foreign keys that cross the staging
   boundary (to accounts, to tables not restored, from other tables), create
   the change-tracking triggers and move id sequences past both the restored
   rows and every id ever handed out.

Atomic either way: until the swap commits, the live tables are untouched
(a killed restore leaves only the staging schema, dropped by the next
restore), and the swap is one transaction. A dry run stops before the swap
and compares the staged tables with the live ones without locking them.

Privileges granted on the live tables to other roles are not carried over:
the tables belong to TALOWA's own role, which is the one restoring them.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    connection,
    connections,
    transaction,
)

from backups.registry import ACCOUNTS, TableSpec
from messaging.triggers import TRACKED_TABLES, table_trigger_statements
from recovery.loaders import (
    RestoreConflict,
    TableTally,
    advance_sequences,
    column_list,
    quote,
)

logger = logging.getLogger(__name__)

SCHEMA = "talowa_restore"
COPY_LANES = 2  # connections a table's rows are COPYed over, side by side
LOCK_TIMEOUT = "30s"
SESSION = (
    "SET maintenance_work_mem = '256MB'",
    # Staged rows are disposable until the swap: a crash loses nothing.
    "SET synchronous_commit = off",
    # Two connections build indexes side by side, filling both cores already.
    "SET max_parallel_maintenance_workers = 0",
)


def staging_applies(*, user_id: int | None) -> bool:
    """Return whether a restore of this scope goes through staging."""
    return user_id is None and connection.vendor == "postgresql"


def open_side_connection() -> Any:
    """Return a new connection to the default database, in autocommit mode."""
    default = connections[DEFAULT_DB_ALIAS]
    side = type(default)(default.settings_dict.copy(), alias="talowa_staging")
    side.ensure_connection()
    side.set_autocommit(True)
    return side


@dataclass
class LiveSchema:
    """What the swap must rebuild: constraints and indexes of the live tables."""

    schema: str
    keys: list[tuple[str, str, str]] = field(default_factory=list)  # p and u
    foreign: list[tuple[str, str, str, str]] = field(default_factory=list)
    indexes: list[tuple[str, str, str]] = field(default_factory=list)

    @classmethod
    def capture(cls, tables: list[str]) -> LiveSchema:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            live = cls(schema=cursor.fetchone()[0])
            cursor.execute(
                "SELECT c.conrelid::regclass::text, c.conname, c.contype, "
                "pg_get_constraintdef(c.oid), c.confrelid::regclass::text "
                "FROM pg_constraint c WHERE c.contype IN ('p', 'u', 'f') AND "
                "(c.conrelid::regclass::text = ANY(%s) OR (c.contype = 'f' AND "
                "c.confrelid::regclass::text = ANY(%s))) ORDER BY c.conname",
                [tables, tables],
            )
            for table, name, kind, definition, target in cursor.fetchall():
                table, target = table.strip('"'), target.strip('"')
                if kind == "f":
                    live.foreign.append((table, name, definition, target))
                else:
                    live.keys.append((table, name, definition))
            constraint_names = {name for _t, name, _d in live.keys}
            cursor.execute(
                "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE "
                "schemaname = current_schema() AND tablename = ANY(%s) "
                "ORDER BY indexname",
                [tables],
            )
            live.indexes = [
                (t, name, d)
                for t, name, d in cursor.fetchall()
                if name not in constraint_names
            ]
        return live

    def staged_index(self, table: str, name: str, definition: str) -> str:
        """Rewrite a live CREATE INDEX to build the same index on the staged table."""
        live_table = re.escape(quote_qualified(self.schema, table))
        staged, count = re.subn(
            rf" ON (ONLY )?{live_table} ",
            f" ON {SCHEMA}.{quote(table)} ",
            definition,
            count=1,
        )
        if not count:
            raise RestoreConflict(f"cannot rebuild index {name} ({definition})")
        return staged


def add_constraint(table: str, name: str, definition: str) -> str:
    """Return the ALTER TABLE that adds a captured constraint under its name."""
    return f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}"


def quote_qualified(schema: str, table: str) -> str:
    """Return ``schema.table`` as PostgreSQL prints it (quoting only if needed)."""

    def part(name: str) -> str:
        return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else quote(name)

    return f"{part(schema)}.{part(table)}"


def copy_in_lanes(
    table: str, columns: list[str], blocks: Iterable[bytes], lanes: list[Any]
) -> int:
    """COPY text ``blocks`` into ``table`` over several connections at once.

    Each block of rows (cut at its last line end) goes to the lane with the
    least waiting, so each server process parses its share in parallel.
    Returns the number of rows.
    """
    statement = f"COPY {quote(table)} ({column_list(columns)}) FROM STDIN"
    workers = [_CopyLane(db, statement) for db in lanes]
    try:
        unfinished: list[Any] = []  # pieces of a row begun in earlier blocks
        lane = workers[0]
        for block in blocks:
            cut = block.rfind(b"\n") + 1
            if not cut:
                unfinished.append(block)
                continue
            lane = min(workers, key=_CopyLane.waiting)
            view = memoryview(block)
            for piece in [*unfinished, view[:cut]]:
                lane.put(piece)
            unfinished = [view[cut:]] if cut < len(block) else []
        for piece in unfinished:  # not a whole row: the server says what is wrong
            lane.put(piece)
    except BaseException:
        for worker in workers:
            worker.abort()
        raise
    return sum(worker.finish() for worker in workers)


class _CopyLane:
    """One COPY FROM STDIN, fed from a bounded queue by its own thread."""

    _ABORT = object()

    def __init__(self, db: Any, statement: str) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self.rows = 0
        self._thread = threading.Thread(
            target=self._run, args=(db, statement), daemon=True, name="restore-copy"
        )
        self._thread.start()

    def _run(self, db: Any, statement: str) -> None:
        try:
            with db.connection.cursor() as cursor:
                with cursor.copy(statement) as copy:
                    while (item := self._queue.get()) is not None:
                        if item is self._ABORT:
                            raise RestoreConflict("the restore stopped")
                        copy.write(item)
                self.rows = cursor.rowcount
        except BaseException as error:  # raised on the feeding thread
            self._error = error

    def waiting(self) -> int:
        return self._queue.qsize()

    def put(self, item: Any) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        self._raise()

    def finish(self) -> int:
        self.put(None)
        self._thread.join()
        self._raise()
        return self.rows

    def abort(self) -> None:
        if self._thread.is_alive():
            self.put(self._ABORT)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


class _Builders:
    """Run DDL statements on a second connection while the first loads.

    ``drain`` makes the calling connection a second worker until the queue is
    empty and the helper idle; the first failure is raised there, and once
    one statement failed the others are skipped.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, daemon=True, name="restore-builder"
        )
        self._thread.start()

    def submit(self, statements: Iterable[str]) -> None:
        for statement in statements:
            self._queue.put(statement)

    def drain(self, db: Any) -> None:
        while self._error is None:
            try:
                statement = self._queue.get_nowait()
            except queue.Empty:
                break
            try:
                _execute(db, statement)
            except BaseException as error:
                self._error = error
            finally:
                self._queue.task_done()
        self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=120)

    def _run(self) -> None:
        db = None
        try:
            while (statement := self._queue.get()) is not None:
                try:
                    if self._error is None:
                        db = db or _staging_connection()
                        _execute(db, statement)
                except BaseException as error:  # raised by drain()
                    self._error = error
                finally:
                    self._queue.task_done()
            self._queue.task_done()
        finally:
            if db is not None:
                db.close()


def _staging_connection() -> Any:
    """Return a side connection that sees the staged tables only."""
    db = open_side_connection()
    _execute(db, *SESSION, f"SET search_path TO {SCHEMA}")
    return db


def _execute(db: Any, *statements: str) -> None:
    with db.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@dataclass
class StagedTables:
    """The staging schema of one system restore on PostgreSQL."""

    specs: list[TableSpec]
    tallies: dict[str, TableTally] = field(default_factory=dict)
    db: Any = None
    lanes: list[Any] = field(default_factory=list)
    live: LiveSchema | None = None
    _builders: _Builders | None = None
    # Once the restore's own connection used the staged tables (swap or
    # comparison), only it can drop them without waiting for its transaction.
    _used_by_restore: bool = False
    started_at: Any = None

    @property
    def tables(self) -> list[str]:
        return [spec.table for spec in self.specs]

    def __enter__(self) -> StagedTables:
        self.live = LiveSchema.capture(self.tables)
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            self.started_at = cursor.fetchone()[0]
        self.db = open_side_connection()
        try:
            _execute(
                self.db,
                *SESSION,
                f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE",
                f"CREATE SCHEMA {SCHEMA}",
                *(
                    f"CREATE TABLE {SCHEMA}.{quote(table)} (LIKE "
                    f"{quote_qualified(self.live.schema, table)} INCLUDING ALL "
                    "EXCLUDING INDEXES)"
                    for table in [*self.tables, ACCOUNTS.table]
                ),
                # Incrementals replace accounts by id, tombstones delete them.
                f"ALTER TABLE {SCHEMA}.{quote(ACCOUNTS.table)} ADD PRIMARY KEY (id)",
                # Staged names first; the live schema for everything else.
                f"SET search_path TO {SCHEMA}, {quote(self.live.schema)}",
            )
            self.lanes = [self.db]
            for _ in range(COPY_LANES - 1):  # one at a time: __exit__ closes them
                self.lanes.append(_staging_connection())
            self._builders = _Builders()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._builders is not None:
            self._builders.close()
        drop = f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"
        try:
            if self._used_by_restore:
                with connection.cursor() as cursor, transaction.atomic():
                    cursor.execute(drop)
            else:
                _execute(self.db, drop)
        except DatabaseError:
            logger.warning("could not drop schema %s; the next restore will", SCHEMA)
        finally:
            for db in [self.db, *self.lanes[1:]]:  # the first lane is self.db
                db.close()

    # --- Loading -------------------------------------------------------------

    def load(self, spec: TableSpec, columns: list[str], blocks: Iterable[bytes]) -> int:
        """COPY the full backup's rows of ``spec``, queue its indexes; return rows."""
        assert self.live is not None and self._builders is not None
        rows = copy_in_lanes(spec.table, columns, blocks, self.lanes)
        self.tallies.setdefault(spec.label, TableTally()).loaded += rows
        # Statistics first: the foreign keys' checks are planned with them.
        self._builders.submit([f"ANALYZE {quote(spec.table)}"])
        self._builders.submit(
            add_constraint(table, name, definition)
            for table, name, definition in self.live.keys
            if table == spec.table
        )
        self._builders.submit(
            self.live.staged_index(table, name, definition)
            for table, name, definition in self.live.indexes
            if table == spec.table
        )
        return rows

    def finish_indexes(self) -> None:
        """Wait for every key and index, helping to build them."""
        assert self._builders is not None
        self._builders.drain(self.db)

    def finish(self) -> None:
        """Add the foreign keys between staged tables."""
        assert self.live is not None and self._builders is not None
        staged = set(self.tables)
        self._builders.submit(
            add_constraint(table, name, definition)
            for table, name, definition, target in self.live.foreign
            if table in staged and target in staged
        )
        try:
            self._builders.drain(self.db)
        except DatabaseError as exc:
            raise RestoreConflict(
                f"the restored rows break a reference between tables ({exc}); "
                "restore the data types they depend on as well"
            ) from exc

    def staged_name(self, table: str) -> str:
        """Return the qualified name of a staged table, for comparisons."""
        self._used_by_restore = True
        return f"{SCHEMA}.{quote(table)}"

    # --- Swapping in -----------------------------------------------------------

    def swap(self) -> None:
        """Replace the live tables by the staged ones, in the caller's transaction."""
        assert self.live is not None
        self._used_by_restore = True
        tables, staged, live = self.tables, set(self.tables), self.live
        crossing = [
            (table, name, definition)
            for table, name, definition, target in live.foreign
            if table not in staged or target not in staged
        ]
        with connection.cursor() as cursor:
            self._lock(cursor)
            floors = _sequence_values(cursor, [*tables, ACCOUNTS.table])
            for spec in self.specs:
                tally = self.tallies.setdefault(spec.label, TableTally())
                cursor.execute(
                    f"SELECT count(*), count(*) FILTER (WHERE updated_at >= %s) "
                    f"FROM {quote(spec.table)}",
                    [self.started_at],
                )
                tally.cleared, tally.written_meanwhile = cursor.fetchone()
                if tally.written_meanwhile:
                    logger.warning(
                        "%s %s rows were written during the restore and are "
                        "replaced by the backup's",
                        tally.written_meanwhile,
                        spec.label,
                    )
            accounts = quote(ACCOUNTS.table)
            cursor.execute(
                f"INSERT INTO {accounts} SELECT DISTINCT ON (id) * FROM "
                f"{SCHEMA}.{accounts} ORDER BY id ON CONFLICT DO NOTHING"
            )
            for table, name, _definition in crossing:
                if table not in staged:  # a live table pointing at a staged one
                    cursor.execute(
                        f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}"
                    )
            try:
                with transaction.atomic():
                    cursor.execute(f"DROP TABLE {', '.join(quote(t) for t in tables)}")
            except DatabaseError as exc:
                raise RestoreConflict(
                    f"the messaging tables cannot be replaced: something else "
                    f"depends on them ({exc})"
                ) from exc
            for table in tables:
                cursor.execute(
                    f"ALTER TABLE {SCHEMA}.{quote(table)} SET SCHEMA "
                    f"{quote(live.schema)}"
                )
            for table, name, definition in crossing:
                try:
                    with transaction.atomic():
                        cursor.execute(add_constraint(table, name, definition))
                except DatabaseError as exc:
                    raise RestoreConflict(
                        f"the restored {table} rows break the reference {name} "
                        f"({exc}); restore the data types they depend on as well"
                    ) from exc
            for table in tables:
                if table in TRACKED_TABLES:
                    for statement in table_trigger_statements("postgresql", table):
                        cursor.execute(statement)
        advance_sequences([*self.specs, ACCOUNTS], floors=floors)

    def _lock(self, cursor) -> None:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        try:
            with transaction.atomic():
                cursor.execute(
                    f"LOCK TABLE {', '.join(quote(t) for t in self.tables)} IN "
                    "ACCESS EXCLUSIVE MODE"
                )
        except DatabaseError as exc:
            raise RestoreConflict(
                f"the messaging tables stayed in use for {LOCK_TIMEOUT} (long "
                "transactions are running on them); try again"
            ) from exc
        cursor.execute("SET LOCAL lock_timeout = DEFAULT")


def _sequence_values(cursor, tables: list[str]) -> dict[str, int]:
    """Return the last value of each table's id sequence."""
    floors = {}
    for table in tables:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
        if sequence:
            cursor.execute(f"SELECT last_value FROM {sequence}")
            floors[table] = cursor.fetchone()[0]
    return floors
