"""A new database from the squashed migrations equals one from the originals.

Each app's ``0001_squashed_…`` migration replaces its originals on a database
that has none of them (a new deployment, a disaster restore, every scratch
database of the tests); the originals stay for databases that have them. The
test migrates one scratch database of the test's engine through the squashed
migrations and another through the originals alone (a copy of the migrations
packages without the squashed files, as ``MIGRATION_MODULES``), then compares
the schema and the rows the migrations and ``post_migrate`` write.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from django.db import connection

from tests.recovery.conftest import ROOT, scratch  # noqa: F401 (fixture)

APPS = ("backups", "messaging", "recovery", "retention", "talowa_admin")
ORIGINALS_PACKAGE = "original_migrations"

SQUASHED = """
import json, django
django.setup()
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from tests.test_squashed_migrations import database_description
executor = MigrationExecutor(connection)
plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
call_command("migrate", verbosity=0)
print(json.dumps({"plan": [m.app_label + "." + m.name for m, _ in plan],
                  **database_description()}))
"""
ORIGINALS = """
import json, sys, django
sys.path.insert(0, sys.argv[1])
django.setup()
from django.core.management import call_command
from django.test import override_settings
from tests.test_squashed_migrations import APPS, ORIGINALS_PACKAGE, database_description
modules = {app: f"{ORIGINALS_PACKAGE}.{app}" for app in APPS}
with override_settings(MIGRATION_MODULES=modules):
    call_command("migrate", verbosity=0)
call_command("migrate", verbosity=0)  # as an existing deployment does next
print(json.dumps(database_description()))
"""

BACK_AND_FORTH = """
import json, django
django.setup()
from django.core.management import call_command
from tests.test_squashed_migrations import database_description
call_command("migrate", verbosity=0)
before = database_description()
# Back to originals the squashed migrations replace, in two apps that others
# depend on, then forwards again through the originals.
call_command("migrate", "messaging", "0002_tombstone_triggers", verbosity=0)
call_command("migrate", "backups", "0005_exportjob_scope", verbosity=0)
call_command("migrate", verbosity=0)
print(json.dumps({"before": before, "after": database_description()}))
"""

# The rows that migrations and post_migrate write into a new database.
ROWS = {
    "content types": "SELECT id, app_label, model FROM django_content_type",
    "permissions": ("SELECT id, content_type_id, codename, name FROM auth_permission"),
    "groups": (
        "SELECT g.id, g.name, gp.permission_id FROM auth_group g "
        "LEFT JOIN auth_group_permissions gp ON gp.group_id = g.id"
    ),
    "recovery plans": (
        "SELECT id, name, description, steps, is_default FROM recovery_recoveryplan"
    ),
    "audit chain head": "SELECT * FROM talowa_admin_auditchainhead",
    "system settings": (
        "SELECT id, default_backup_interval, default_retention_periods, "
        "enable_automatic_cleanup, max_backups_per_user, max_storage_per_user, "
        "updated_by_id FROM talowa_admin_systemsettings"
    ),
    "account changes": "SELECT user_id FROM messaging_accountchange",
    "tombstones": "SELECT id FROM messaging_tombstone",
    "migrations": "SELECT app, name FROM django_migrations",
}

POSTGRESQL_SCHEMA = {
    "columns": (
        # The column order, not ordinal_position: that counts dropped columns.
        "SELECT table_name, row_number() OVER ("
        "PARTITION BY table_name ORDER BY ordinal_position), column_name, "
        "data_type, character_maximum_length, numeric_precision, is_nullable, "
        "column_default, is_identity, identity_generation "
        "FROM information_schema.columns WHERE table_schema = current_schema()"
    ),
    "constraints": (
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace"
    ),
    "indexes": (
        "SELECT tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema()"
    ),
    "triggers": (
        "SELECT tgrelid::regclass::text, tgname, tgenabled, pg_get_triggerdef(oid) "
        "FROM pg_trigger WHERE NOT tgisinternal"
    ),
    "functions": (
        "SELECT proname, prosrc FROM pg_proc "
        "WHERE pronamespace = current_schema()::regnamespace"
    ),
    "sequences": (
        "SELECT sequencename, data_type, start_value, increment_by "
        "FROM pg_sequences WHERE schemaname = current_schema()"
    ),
}


def database_description() -> dict:
    """Return the schema and the migration-made rows of the default database."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            schema = {
                name: _sorted_rows(cursor, sql)
                for name, sql in POSTGRESQL_SCHEMA.items()
            }
        else:
            schema = _sqlite_schema(cursor)
        rows = {name: _sorted_rows(cursor, sql) for name, sql in ROWS.items()}
    return {"schema": schema, "rows": rows}


def _sorted_rows(cursor, sql: str) -> list[list]:
    cursor.execute(sql)
    return sorted([str(value) for value in row] for row in cursor.fetchall())


def _sqlite_schema(cursor) -> dict:
    """Return every table's column and constraint clauses, indexes and triggers.

    A table's clauses are compared as a set: SQLite's table rebuild (an
    altered column) moves columns to the end, so the originals leave some
    tables with another column order than a table created at once. Nothing
    reads columns by position (every statement of the project names them).
    """
    cursor.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL")
    schema: dict = {}
    for kind, name, sql in sorted(cursor.fetchall()):
        if kind == "table":
            body = sql[sql.index("(") + 1 : sql.rindex(")")]
            schema[f"table {name}"] = sorted(_top_level_clauses(body))
        else:
            schema[f"{kind} {name}"] = sql
    return schema


def _top_level_clauses(body: str) -> list[str]:
    clauses, depth, current = [], 0, []
    for char in body:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            clauses.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    clauses.append("".join(current).strip())
    return clauses


def _copy_original_migrations(root: Path) -> Path:
    package = root / ORIGINALS_PACKAGE
    for app in APPS:
        target = package / app
        target.mkdir(parents=True)
        for path in (ROOT / app / "migrations").glob("*.py"):
            if "_squashed_" not in path.name:
                shutil.copy(path, target / path.name)
    (package / "__init__.py").touch()
    return root


def _start(scratch, url: str, script: str, *args: str) -> subprocess.Popen:  # noqa: F811
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=scratch.env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen) -> dict:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    # The migrations install the triggers; messaging.apps needs to put none back.
    assert "change-tracking triggers" not in stderr, stderr
    return json.loads(stdout.splitlines()[-1])


def test_a_new_database_from_the_squashed_migrations_equals_one_from_the_originals(
    scratch,  # noqa: F811
    tmp_path,
):
    # Both at once: the migrations take seconds of CPU each.
    squashed_run = _start(scratch, scratch.url(connection.vendor), SQUASHED)
    originals_run = _start(
        scratch,
        scratch.url(connection.vendor),
        ORIGINALS,
        str(_copy_original_migrations(tmp_path)),
    )
    squashed, originals = _result(squashed_run), _result(originals_run)

    plan = squashed.pop("plan")
    assert {name for name in plan if name.split(".")[0] in APPS} == {
        "backups.0001_squashed_0009_schedule_run_heartbeat",
        "messaging.0001_squashed_0004_account_changes_and_database_stamps",
        "recovery.0001_squashed_0005_sidecar_checks",
        "retention.0001_squashed_0003_archive_without_foreign_key_constraints",
        "talowa_admin.0001_squashed_0003_operation_lock",
        # Added after the squash: run after it, as on an existing database.
        "recovery.0006_drill_and_maintenance_workers",
    }
    assert squashed["rows"]["recovery plans"]  # the rows are there to compare
    differences = _differences(squashed, originals)
    assert not differences, "\n".join(differences)


def _differences(squashed: dict, originals: dict) -> list[str]:
    """Return the entries that only one of two descriptions holds."""
    lines = []
    for part in ("schema", "rows"):
        for key in sorted(squashed[part].keys() | originals[part].keys()):
            ours = _entries(squashed[part].get(key))
            theirs = _entries(originals[part].get(key))
            lines += [f"only squashed: {part} {key}: {e}" for e in ours - theirs]
            lines += [f"only originals: {part} {key}: {e}" for e in theirs - ours]
    return sorted(lines)


def _entries(value) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, list):
        return {json.dumps(item) for item in value}
    return {json.dumps(value)}


def test_a_database_from_the_squashed_migrations_migrates_back_and_forth(
    scratch,  # noqa: F811
):
    moved = _result(_start(scratch, scratch.url(connection.vendor), BACK_AND_FORTH))

    before, after = moved["before"], moved["after"]
    assert after["rows"]["migrations"] == before["rows"]["migrations"]
    differences = _differences(before, after)
    assert not differences, "\n".join(differences)
