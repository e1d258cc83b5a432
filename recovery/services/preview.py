"""What a restore changes, per table: measured inside the restore's own
transaction (before and after applying it, then rolled back for a dry run),
or, for a staged restore, by comparing the staged tables with the live ones.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from recovery.loaders import TableTally, quote
from recovery.services.applying import CONVERSATION, ApplyPlan
from recovery.staging import StagedTables

SAMPLE_SIZE = 5


def _before_table(table: str) -> str:
    return quote(f"talowa_before_{table}")


def capture_before(plan: ApplyPlan) -> None:
    """Copy the ids and versions of the rows in scope into temporary tables."""
    with connection.cursor() as cursor:
        for spec in plan.specs:
            where = plan.where(spec)
            cursor.execute(f"DROP TABLE IF EXISTS {_before_table(spec.table)}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {_before_table(spec.table)} AS "
                f"SELECT id, updated_at FROM {quote(spec.table)}"
                + (f" WHERE {where}" if where else "")
            )


def compare_after(plan: ApplyPlan) -> dict[str, Any]:
    """Count inserted, updated and deleted rows per data type (and sample)."""
    report: dict[str, Any] = {}
    with connection.cursor() as cursor:
        for spec in plan.specs:
            before = _before_table(spec.table)
            table = quote(spec.table)
            where = plan.where(spec)
            now = f"(SELECT id, updated_at FROM {table}" + (
                f" WHERE {where})" if where else ")"
            )
            report[spec.label] = _changes(cursor, before=before, after=now)
            if plan.user_id is not None and spec.label == "messaging.message":
                report["sample"] = _sample(cursor, table, before, where)
            cursor.execute(f"DROP TABLE {before}")
    return report


def compare_staged(plan: ApplyPlan, staging: StagedTables) -> dict[str, Any]:
    """Count what swapping in the staged tables would change, locking nothing."""
    with connection.cursor() as cursor:
        report = {
            spec.label: _changes(
                cursor,
                before=quote(spec.table),
                after=staging.staged_name(spec.table),
            )
            for spec in plan.specs
        }
        for spec in plan.specs:
            cursor.execute(f"SELECT count(*) FROM {quote(spec.table)}")
            staging.tallies.setdefault(
                spec.label, TableTally()
            ).cleared = cursor.fetchone()[0]
    return report


def _changes(cursor, *, before: str, after: str) -> dict[str, int]:
    """Count rows of ``after`` that are new, gone or changed since ``before``."""
    counts = {}
    for name, sql in (
        (
            "inserted",
            f"SELECT count(*) FROM {after} a WHERE NOT EXISTS "
            f"(SELECT 1 FROM {before} b WHERE b.id = a.id)",
        ),
        (
            "deleted",
            f"SELECT count(*) FROM {before} b WHERE NOT EXISTS "
            f"(SELECT 1 FROM {after} a WHERE a.id = b.id)",
        ),
        (
            "updated",
            f"SELECT count(*) FROM {after} a JOIN {before} b ON a.id = b.id "
            "WHERE a.updated_at <> b.updated_at",
        ),
    ):
        cursor.execute(sql)
        counts[name] = cursor.fetchone()[0]
    return counts


def _sample(cursor, table: str, before: str, where: str) -> dict[str, list]:
    cursor.execute(
        f"SELECT id, created_at, body FROM {table} WHERE {where} AND id NOT IN "
        f"(SELECT id FROM {before}) ORDER BY created_at LIMIT {SAMPLE_SIZE}"
    )
    restored = [
        {"id": i, "created_at": str(c), "body": (b or "")[:80]}
        for i, c, b in cursor.fetchall()
    ]
    return {"restored_messages": restored}


def shared_rows_note(plan: ApplyPlan) -> str:
    if plan.user_id is not None and CONVERSATION in plan.labels:
        return (
            "conversations are shared: missing ones are added back, existing "
            "ones are left as they are"
        )
    return ""
