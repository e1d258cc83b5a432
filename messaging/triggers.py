"""Database triggers that write a ``Tombstone`` for every deleted row.

The engine differences live here and nowhere else. Triggers, unlike signals,
see every delete: the ORM, cascades, bulk and raw SQL. On PostgreSQL one
statement-level trigger per table copies the whole set of deleted rows at once
(a transition table), so deleting a million rows costs one INSERT ... SELECT.
"""

from __future__ import annotations

# table -> (model label, column naming the row's owner)
TRACKED_TABLES: dict[str, tuple[str, str]] = {
    "messaging_conversation": ("messaging.conversation", "created_by_id"),
    "messaging_participant": ("messaging.participant", "user_id"),
    "messaging_message": ("messaging.message", "sender_id"),
    "messaging_callrecord": ("messaging.callrecord", "caller_id"),
    "messaging_mediafile": ("messaging.mediafile", "owner_id"),
}


def install_tombstone_triggers(schema_editor) -> None:
    """Create the delete triggers for the connection's engine."""
    for statement in trigger_statements(schema_editor.connection.vendor, create=True):
        schema_editor.execute(statement)


def remove_tombstone_triggers(schema_editor) -> None:
    """Drop the delete triggers."""
    for statement in trigger_statements(schema_editor.connection.vendor, create=False):
        schema_editor.execute(statement)


def missing_tombstone_triggers(connection) -> list[str]:
    """Return the tracked tables that exist without their tombstone trigger."""
    tables = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname = c.relname || '_tombstone' "
                "AND c.relnamespace = current_schema()::regnamespace"
            )
        else:
            cursor.execute(
                "SELECT tbl_name FROM sqlite_master "
                "WHERE type = 'trigger' AND name = tbl_name || '_tombstone'"
            )
        guarded = {row[0] for row in cursor.fetchall()}
    return [t for t in TRACKED_TABLES if t in tables and t not in guarded]


def reinstall_missing_tombstone_triggers(connection) -> list[str]:
    """Create the trigger of every tracked table that lost it; return those tables.

    SQLite alters a column by rebuilding the table, which drops its triggers
    without a word; a table without its trigger would let deletions escape
    every later incremental backup.
    """
    missing = missing_tombstone_triggers(connection)
    if missing:
        with connection.schema_editor() as editor:
            for table in missing:
                for statement in table_trigger_statements(connection.vendor, table):
                    editor.execute(statement)
    return missing


def trigger_statements(vendor: str, *, create: bool) -> list[str]:
    """Return the SQL that creates (or drops) every tombstone trigger."""
    build = _builder(vendor)
    statements = []
    for table, (label, owner) in TRACKED_TABLES.items():
        statements.extend(build(table, label, owner, create=create))
    return statements


def table_trigger_statements(vendor: str, table: str) -> list[str]:
    """Return the SQL that creates the tombstone trigger of one table."""
    label, owner = TRACKED_TABLES[table]
    return _builder(vendor)(table, label, owner, create=True)


def _builder(vendor: str):
    builders = {"postgresql": _postgresql, "sqlite": _sqlite}
    if vendor not in builders:
        raise NotImplementedError(f"no tombstone triggers for {vendor}")
    return builders[vendor]


def _postgresql(table: str, label: str, owner: str, *, create: bool) -> list[str]:
    function = f"{table}_tombstone"
    if not create:
        return [
            f"DROP TRIGGER IF EXISTS {function} ON {table}",
            f"DROP FUNCTION IF EXISTS {function}()",
        ]
    return [
        f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
        BEGIN
            INSERT INTO messaging_tombstone (model, object_id, owner_id, deleted_at)
            SELECT '{label}', id, {owner}, now() FROM deleted_rows;
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql
        """,
        f"""
        CREATE TRIGGER {function} AFTER DELETE ON {table}
        REFERENCING OLD TABLE AS deleted_rows
        FOR EACH STATEMENT EXECUTE FUNCTION {function}()
        """,
    ]


def _sqlite(table: str, label: str, owner: str, *, create: bool) -> list[str]:
    trigger = f"{table}_tombstone"
    if not create:
        return [f"DROP TRIGGER IF EXISTS {trigger}"]
    return [
        f"""
        CREATE TRIGGER IF NOT EXISTS {trigger} AFTER DELETE ON {table}
        FOR EACH ROW BEGIN
            INSERT INTO messaging_tombstone (model, object_id, owner_id, deleted_at)
            VALUES ('{label}', OLD.id, OLD.{owner},
                    strftime('%Y-%m-%d %H:%M:%f', 'now'));
        END
        """,
    ]
