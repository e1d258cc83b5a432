"""What a restore changes, per table: measured inside the restore's own
transaction (before and after applying it), then rolled back for a dry run.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from recovery.loaders import quote
from recovery.services.applying import CONVERSATION, ApplyPlan

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
            counts = {}
            for name, sql in (
                (
                    "inserted",
                    f"SELECT count(*) FROM {now} a WHERE a.id NOT IN "
                    f"(SELECT id FROM {before})",
                ),
                (
                    "deleted",
                    f"SELECT count(*) FROM {before} b WHERE b.id NOT IN "
                    f"(SELECT id FROM {table})",
                ),
                (
                    "updated",
                    f"SELECT count(*) FROM {now} a JOIN {before} b ON "
                    "a.id = b.id WHERE a.updated_at <> b.updated_at",
                ),
            ):
                cursor.execute(sql)
                counts[name] = cursor.fetchone()[0]
            report[spec.label] = counts
            if plan.user_id is not None and spec.label == "messaging.message":
                report["sample"] = _sample(cursor, table, before, where)
            cursor.execute(f"DROP TABLE {before}")
    return report


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
