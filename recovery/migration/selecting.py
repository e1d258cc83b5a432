"""Row selection rules, applied to the scratch copy of a chain with SQL.

Filters (users, conversations, dates, retention types) and dropped data types
choose rows, so they run as DELETE statements on the scratch copy, never on
this deployment's data, in constant memory whatever the data size. Then the
references are closed the way the models declare them (a row whose required
parent is gone goes too; a SET_NULL reference is emptied), and, with a users
filter, accounts neither listed nor referenced by a kept row are removed.
Field rules (drop, anonymise, map) are applied to the stream afterwards
(``recovery.migration.streaming``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import models

from backups.registry import ACCOUNTS, TABLES, TableSpec
from messaging.triggers import switch_triggers
from recovery.migration.rules import Rules, RulesInvalid
from retention.types import CALL, MEDIA, MESSAGE, RETENTION_TYPES, TYPE_RULES

RETENTION_TABLES = {
    MESSAGE: "messaging.message",
    CALL: "messaging.callrecord",
    MEDIA: "messaging.mediafile",
}
CONVERSATION_FILTERS = {
    "messaging.conversation": "id IN (%(ids)s)",
    "messaging.participant": "conversation_id IN (%(ids)s)",
    "messaging.message": "conversation_id IN (%(ids)s)",
    "messaging.callrecord": "conversation_id IN (%(ids)s)",
    "messaging.mediafile": (
        "message_id IN (SELECT id FROM messaging_message WHERE conversation_id "
        "IN (%(ids)s))"
    ),
}


def select_rows(rules: Rules, connection: Any) -> dict[str, int]:
    """Delete the rows the rules leave out; return how many, per table."""
    removed: dict[str, int] = {}
    switch_triggers(connection, on=False)
    with connection.cursor() as cursor:

        def delete(spec: TableSpec, keep: str) -> None:
            # CASE, not NOT: a condition on a NULL column is NULL, not false.
            cursor.execute(
                f"DELETE FROM {spec.table} WHERE CASE WHEN {keep} THEN 0 ELSE 1 END"
            )
            removed[spec.label] = removed.get(spec.label, 0) + cursor.rowcount

        for spec, keep in _conditions(rules, cursor):
            delete(spec, keep)
        for spec in TABLES:
            if spec.data_type in rules.drop_types:
                delete(spec, "1 = 0")
        for spec in TABLES:
            _close_references(spec, cursor, removed)
        if rules.users is not None:
            delete(ACCOUNTS, _accounts_kept(rules, cursor))
    return removed


def _conditions(rules: Rules, cursor) -> list[tuple[TableSpec, str]]:
    """The (table, condition of rows kept) pairs, in the tables' order."""
    found: list[tuple[TableSpec, str]] = []
    if rules.users is not None:
        ids = _user_ids(rules, cursor)
        for spec in TABLES:
            either = " OR ".join(f"({spec.user_filter % {'user': i}})" for i in ids)
            found.append((spec, either or "1 = 0"))
    if rules.conversations is not None:
        ids = ", ".join(str(int(i)) for i in sorted(rules.conversations))
        for spec in TABLES:
            found.append((spec, CONVERSATION_FILTERS[spec.label] % {"ids": ids}))
    by_label = {spec.label: spec for spec in TABLES}
    for table, label in RETENTION_TABLES.items():
        spec = by_label[label]
        age = {r.age_column for r in TYPE_RULES.values() if r.table == table}.pop()
        if rules.since is not None:
            found.append((spec, f"{age} >= {_stamp(rules.since, cursor)}"))
        if rules.until is not None:
            found.append((spec, f"{age} < {_stamp(rules.until, cursor)}"))
        if rules.retention_types is not None:
            found.append((spec, _of_types(table, rules.retention_types)))
    return found


def _of_types(table: str, chosen: set[str]) -> str:
    picked = [TYPE_RULES[n] for n in RETENTION_TYPES if n in chosen]
    mine = [r for r in picked if r.table == table]
    if not mine:
        return "1 = 0"
    if any(r.column is None for r in mine):
        return "1 = 1"
    column = mine[0].column
    values = ", ".join(f"'{v}'" for r in mine for v in r.values)
    return f"{column} IN ({values})"


def _stamp(moment, cursor) -> str:
    """A time as an SQL literal the scratch copy's engine compares correctly."""
    value = cursor.db.ops.adapt_datetimefield_value(moment)
    return f"'{value}'"


def _user_ids(rules: Rules, cursor) -> list[int]:
    names = rules.users
    users = get_user_model()
    field = users.USERNAME_FIELD
    marks = ", ".join(["%s"] * len(names))
    cursor.execute(
        f"SELECT id, {field} FROM {ACCOUNTS.table} WHERE {field} IN ({marks})",
        sorted(names),
    )
    rows = cursor.fetchall()
    missing = sorted(names - {row[1] for row in rows})
    if missing:
        raise RulesInvalid(
            f"rule {rules.users_rule} (filter): field users: no account "
            f"{', '.join(map(repr, missing))} in the backup"
        )
    return sorted(row[0] for row in rows)


def _references(spec: TableSpec) -> list[models.ForeignKey]:
    return [f for f in spec.model._meta.concrete_fields if f.is_relation]


def _close_references(spec: TableSpec, cursor, removed: dict[str, int]) -> None:
    """Remove or empty the rows whose parent row the selection removed."""
    for f in _references(spec):
        parent = f.related_model._meta.db_table
        orphan = (
            f"{f.column} IS NOT NULL AND {f.column} NOT IN (SELECT id FROM {parent})"
        )
        if f.remote_field.on_delete is models.SET_NULL:
            cursor.execute(f"UPDATE {spec.table} SET {f.column} = NULL WHERE {orphan}")
        else:
            cursor.execute(f"DELETE FROM {spec.table} WHERE {orphan}")
            removed[spec.label] = removed.get(spec.label, 0) + cursor.rowcount


def _accounts_kept(rules: Rules, cursor) -> str:
    """Accounts listed in the filter, or referenced by a row that stays."""
    kept = [f"id IN ({', '.join(map(str, _user_ids(rules, cursor)))})"]
    for spec in TABLES:
        for f in _references(spec):
            if f.related_model is get_user_model():
                kept.append(
                    f"id IN (SELECT {f.column} FROM {spec.table} "
                    f"WHERE {f.column} IS NOT NULL)"
                )
    return " OR ".join(kept)
