"""Field rules applied to a stream of rows, and the writer into the target.

Invariants:
- Rows pass one at a time (read in chunks, written in batches of
  ``INSERT_BATCH``): memory does not grow with the data. The anonymiser holds
  the accounts' names (a pattern to find them in texts), nothing else.
- The target is written in ONE transaction, with its change-tracking
  triggers off (rows keep the ``updated_at`` they had), and its id sequences
  moved past the rows written: it is complete, or as before.
- What is written is fingerprinted as it goes (``Fingerprint``), so the
  caller can compare it with the target read back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.db import transaction

from backups.registry import TableSpec
from messaging.triggers import switch_triggers
from recovery.loaders import advance_sequences
from recovery.migration.anonymising import Anonymiser
from recovery.migration.databases import Fingerprint, attnames
from recovery.migration.rules import IDENTITY_COLUMNS, Rules, emptied

INSERT_BATCH = 2000

Transform = Callable[[tuple], tuple]


def row_transform(spec: TableSpec, rules: Rules, anonymiser: Anonymiser) -> Transform:
    """Build the function that applies the rules' field steps to one row."""
    names = attnames(spec)
    steps = []
    for action, column, rule in rules.steps.get(spec.label, []):
        at = names.index(column.field.attname)
        steps.append((at, _step(action, column, rule, anonymiser)))
    if not steps:
        return lambda row: row

    def transform(row: tuple) -> tuple:
        values = list(row)
        for at, change in steps:
            values[at] = change(values[at])
        return tuple(values)

    return transform


def _step(action: str, column, rule: dict, anonymiser: Anonymiser) -> Callable:
    if action == "drop":
        empty = emptied(column.field)
        return lambda _value: empty
    if action == "map":
        mapping = rule["values"]
        return lambda value: mapping.get(value, value)
    kinds, method = rule["values"], rule["method"]
    identity = IDENTITY_COLUMNS.get(column.name)
    if identity is not None:
        if identity not in kinds:
            return lambda value: value
        return lambda value: anonymiser.whole(value, identity, method)
    return lambda value: anonymiser.value(value, kinds, method)


def transformed(
    rows: Iterable[tuple], transform: Transform, printed: Fingerprint
) -> Iterator[tuple]:
    for row in rows:
        row = transform(row)
        printed.add(row)
        yield row


class TargetWriter:
    """Insert rows into the target database, in one transaction."""

    def __init__(self, connection: Any, specs: list[TableSpec]) -> None:
        self.db, self.specs = connection, specs
        self._atomic = transaction.atomic(using=connection.alias)

    def __enter__(self) -> TargetWriter:
        self._atomic.__enter__()
        switch_triggers(self.db, on=False, tables={s.table for s in self.specs})
        return self

    def __exit__(self, kind, error, trace) -> None:
        if kind is None:
            self._check_references()
            switch_triggers(self.db, on=True, tables={s.table for s in self.specs})
            advance_sequences(self.specs, db=self.db)
        self._atomic.__exit__(kind, error, trace)

    def _check_references(self) -> None:
        """Check every reference now (which also flushes deferred checks)."""
        if self.db.vendor == "postgresql":
            with self.db.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        else:
            self.db.check_constraints()

    def write(self, spec: TableSpec, rows: Iterable[tuple]) -> int:
        fields = spec.model._meta.concrete_fields
        quote = self.db.ops.quote_name
        sql = (
            f"INSERT INTO {quote(spec.table)} "
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        written, batch = 0, []
        for row in rows:
            batch.append(
                tuple(
                    f.get_db_prep_save(v, connection=self.db)
                    for f, v in zip(fields, row, strict=True)
                )
            )
            if len(batch) >= INSERT_BATCH:
                written += self._flush(sql, batch)
                batch = []
        if batch:
            written += self._flush(sql, batch)
        return written

    def _flush(self, sql: str, batch: list[tuple]) -> int:
        with self.db.cursor() as cursor:
            cursor.executemany(sql, batch)
        return len(batch)
