"""Database triggers that track every change, whoever makes it.

Triggers, unlike signals or ``save()``, see every write: the ORM, cascades,
``QuerySet.update()``, bulk and raw SQL. The engine differences live here and
nowhere else. Three kinds:

- ``tombstone``: every deleted row (messaging tables and accounts) leaves a
  ``Tombstone``, so an incremental backup can carry the delete. On PostgreSQL
  one statement-level trigger per table copies the whole set of deleted rows
  at once (a transition table): a million deletes cost one INSERT ... SELECT.
- ``stamp``: every inserted or updated messaging row gets ``updated_at`` from
  the database's clock, whatever value the application passed, so a backup's
  watermark (``backups.engines``) never depends on an application host's
  clock. A new row's ``created_at`` is never later than that stamp.
- ``changed``: accounts (``auth_user``, Django's table, without a change
  column) get a change stamp in ``messaging_accountchange`` on every insert
  and update.

The clock: PostgreSQL ``now()``, the start of the writing transaction (the
value ``pg_stat_activity.xact_start`` shows while it runs); SQLite
``strftime('%Y-%m-%d %H:%M:%f', 'now')``, the time of the writing statement, in
UTC and the text format Django stores (microseconds; SQLite's clock counts
milliseconds).

Restores and seeding write rows as they were and switch these triggers off
while they do (``switch_triggers``). SQLite drops a table's triggers when a
migration rebuilds the table: ``messaging.apps`` puts back the missing ones
after every ``migrate``.
"""

from __future__ import annotations

from dataclasses import dataclass

ACCOUNTS_TABLE = "auth_user"
ACCOUNT_CHANGES_TABLE = "messaging_accountchange"

# table -> (model label, column naming the row's owner)
TRACKED_TABLES: dict[str, tuple[str, str]] = {
    "messaging_conversation": ("messaging.conversation", "created_by_id"),
    "messaging_participant": ("messaging.participant", "user_id"),
    "messaging_message": ("messaging.message", "sender_id"),
    "messaging_callrecord": ("messaging.callrecord", "caller_id"),
    "messaging_mediafile": ("messaging.mediafile", "owner_id"),
}
ACCOUNT_LABEL = "auth.user"

SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"
_SQLITE_TOMBSTONE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"


@dataclass(frozen=True)
class Trigger:
    """One trigger of one table: its SQL on each engine."""

    kind: str  # "tombstone", "stamp" or "changed"
    table: str

    @property
    def name(self) -> str:
        """The PostgreSQL trigger and function name; SQLite names derive from it."""
        return f"{self.table}_{self.kind}"

    def sqlite_names(self) -> list[str]:
        if self.kind == "tombstone":
            return [self.name]
        return [f"{self.name}_insert", f"{self.name}_update"]

    def create(self, vendor: str) -> list[str]:
        """Return the SQL that creates this trigger (idempotent)."""
        if vendor == "postgresql":
            return _POSTGRESQL[self.kind](self)
        if vendor == "sqlite":
            return _SQLITE[self.kind](self)
        raise NotImplementedError(f"no change-tracking triggers for {vendor}")

    def drop(self, vendor: str) -> list[str]:
        """Return the SQL that drops this trigger."""
        if vendor == "postgresql":
            return [
                f"DROP TRIGGER IF EXISTS {self.name} ON {self.table}",
                f"DROP FUNCTION IF EXISTS {self.name}()",
            ]
        return [f"DROP TRIGGER IF EXISTS {name}" for name in self.sqlite_names()]


# Installed by migration 0002.
TOMBSTONE_TRIGGERS = tuple(Trigger("tombstone", table) for table in TRACKED_TABLES)
# Installed by migration 0004.
CHANGE_TRIGGERS = (
    *(Trigger("stamp", table) for table in TRACKED_TABLES),
    Trigger("tombstone", ACCOUNTS_TABLE),
    Trigger("changed", ACCOUNTS_TABLE),
)
ALL_TRIGGERS = (*TOMBSTONE_TRIGGERS, *CHANGE_TRIGGERS)


def install_tombstone_triggers(schema_editor) -> None:
    """Create the delete triggers of the messaging tables (migration 0002)."""
    _execute(schema_editor, TOMBSTONE_TRIGGERS, create=True)


def remove_tombstone_triggers(schema_editor) -> None:
    """Drop the delete triggers of the messaging tables."""
    _execute(schema_editor, TOMBSTONE_TRIGGERS, create=False)


def install_change_triggers(schema_editor) -> None:
    """Create the stamp triggers and the account triggers (migration 0004)."""
    _execute(schema_editor, CHANGE_TRIGGERS, create=True)


def remove_change_triggers(schema_editor) -> None:
    """Drop the stamp triggers and the account triggers."""
    _execute(schema_editor, CHANGE_TRIGGERS, create=False)


def _execute(schema_editor, triggers, *, create: bool) -> None:
    vendor = schema_editor.connection.vendor
    for trigger in triggers:
        for statement in trigger.create(vendor) if create else trigger.drop(vendor):
            schema_editor.execute(statement)


def missing_triggers(connection, triggers=ALL_TRIGGERS) -> list[Trigger]:
    """Return the triggers whose table exists but which do not (all) exist."""
    tables = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT t.tgname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relnamespace = current_schema()::regnamespace"
            )
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {row[0] for row in cursor.fetchall()}
    missing = []
    for trigger in triggers:
        names = (
            [trigger.name]
            if connection.vendor == "postgresql"
            else trigger.sqlite_names()
        )
        if trigger.table in tables and not set(names) <= present:
            missing.append(trigger)
    return missing


def missing_tombstone_triggers(connection) -> list[str]:
    """Return the messaging tables that exist without their tombstone trigger."""
    return [t.table for t in missing_triggers(connection, TOMBSTONE_TRIGGERS)]


def reinstall_missing_triggers(connection, triggers=ALL_TRIGGERS) -> list[str]:
    """Create every trigger among ``triggers`` that is missing; return their names.

    SQLite alters a column by rebuilding the table, which drops its triggers
    without a word; a table without its triggers would let changes and
    deletions escape every later incremental backup.
    """
    missing = missing_triggers(connection, triggers)
    if missing:
        with connection.schema_editor() as editor:
            for trigger in missing:
                for statement in trigger.create(connection.vendor):
                    editor.execute(statement)
    return [trigger.name for trigger in missing]


def switch_triggers(connection, *, on: bool, tables: set[str] | None = None) -> None:
    """Enable or disable every trigger (of ``tables``) in the current transaction.

    For writers that put back rows as they were (restores, seeding). SQLite
    cannot disable a trigger: it is dropped and created again.
    """
    chosen = [t for t in ALL_TRIGGERS if tables is None or t.table in tables]
    if connection.vendor == "postgresql":
        verb = "ENABLE" if on else "DISABLE"
        statements = [f"ALTER TABLE {t.table} {verb} TRIGGER {t.name}" for t in chosen]
    else:
        statements = [
            s for t in chosen for s in (t.create("sqlite") if on else t.drop("sqlite"))
        ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def table_trigger_statements(vendor: str, table: str) -> list[str]:
    """Return the SQL that creates every trigger of one table."""
    return [s for t in ALL_TRIGGERS if t.table == table for s in t.create(vendor)]


# --- PostgreSQL ---------------------------------------------------------------


def _pg_tombstone(trigger: Trigger) -> list[str]:
    label, owner = _tombstone_columns(trigger.table)
    return [
        f"""
        CREATE OR REPLACE FUNCTION {trigger.name}() RETURNS trigger AS $$
        BEGIN
            INSERT INTO messaging_tombstone (model, object_id, owner_id, deleted_at)
            SELECT '{label}', id, {owner}, now() FROM deleted_rows;
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql
        """,
        f"""
        CREATE OR REPLACE TRIGGER {trigger.name} AFTER DELETE ON {trigger.table}
        REFERENCING OLD TABLE AS deleted_rows
        FOR EACH STATEMENT EXECUTE FUNCTION {trigger.name}()
        """,
    ]


def _pg_stamp(trigger: Trigger) -> list[str]:
    return [
        f"""
        CREATE OR REPLACE FUNCTION {trigger.name}() RETURNS trigger AS $$
        BEGIN
            NEW.updated_at := now();
            IF TG_OP = 'INSERT' THEN
                NEW.created_at := least(NEW.created_at, NEW.updated_at);
            END IF;
            RETURN NEW;
        END
        $$ LANGUAGE plpgsql
        """,
        f"""
        CREATE OR REPLACE TRIGGER {trigger.name}
        BEFORE INSERT OR UPDATE ON {trigger.table} FOR EACH ROW
        EXECUTE FUNCTION {trigger.name}()
        """,
    ]


def _pg_changed(trigger: Trigger) -> list[str]:
    return [
        f"""
        CREATE OR REPLACE FUNCTION {trigger.name}() RETURNS trigger AS $$
        BEGIN
            INSERT INTO {ACCOUNT_CHANGES_TABLE} (user_id, updated_at)
            VALUES (NEW.id, now())
            ON CONFLICT (user_id) DO UPDATE SET updated_at = EXCLUDED.updated_at;
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql
        """,
        f"""
        CREATE OR REPLACE TRIGGER {trigger.name}
        AFTER INSERT OR UPDATE ON {trigger.table} FOR EACH ROW
        EXECUTE FUNCTION {trigger.name}()
        """,
    ]


# --- SQLite -----------------------------------------------------------------------
# An SQLite trigger cannot change the row being written: AFTER triggers write
# the stamp with an UPDATE of their own. The update trigger's WHEN clause
# stops it from firing again on that UPDATE ('now' is the same within one
# statement).


def _sqlite_tombstone(trigger: Trigger) -> list[str]:
    label, owner = _tombstone_columns(trigger.table)
    return [
        f"""
        CREATE TRIGGER IF NOT EXISTS {trigger.name} AFTER DELETE ON {trigger.table}
        FOR EACH ROW BEGIN
            INSERT INTO messaging_tombstone (model, object_id, owner_id, deleted_at)
            VALUES ('{label}', OLD.id, OLD.{owner}, {_SQLITE_TOMBSTONE_NOW});
        END
        """,
    ]


def _sqlite_stamp(trigger: Trigger) -> list[str]:
    insert, update = trigger.sqlite_names()
    table = trigger.table
    return [
        f"""
        CREATE TRIGGER IF NOT EXISTS {insert} AFTER INSERT ON {table}
        FOR EACH ROW BEGIN
            UPDATE {table} SET updated_at = {SQLITE_NOW},
                created_at = min(created_at, {SQLITE_NOW})
            WHERE id = NEW.id;
        END
        """,
        f"""
        CREATE TRIGGER IF NOT EXISTS {update} AFTER UPDATE ON {table}
        FOR EACH ROW WHEN NEW.updated_at IS NOT {SQLITE_NOW} BEGIN
            UPDATE {table} SET updated_at = {SQLITE_NOW} WHERE id = NEW.id;
        END
        """,
    ]


EVENTS = ("INSERT", "UPDATE")


def _sqlite_changed(trigger: Trigger) -> list[str]:
    return [
        f"""
        CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {trigger.table}
        FOR EACH ROW BEGIN
            INSERT OR REPLACE INTO {ACCOUNT_CHANGES_TABLE} (user_id, updated_at)
            VALUES (NEW.id, {SQLITE_NOW});
        END
        """
        for name, event in zip(trigger.sqlite_names(), EVENTS, strict=True)
    ]


def _tombstone_columns(table: str) -> tuple[str, str]:
    if table == ACCOUNTS_TABLE:
        return ACCOUNT_LABEL, "id"  # an account owns itself
    return TRACKED_TABLES[table]


_POSTGRESQL = {"tombstone": _pg_tombstone, "stamp": _pg_stamp, "changed": _pg_changed}
_SQLITE = {
    "tombstone": _sqlite_tombstone,
    "stamp": _sqlite_stamp,
    "changed": _sqlite_changed,
}
