"""Retention and restores agree: what a restore brings back past its retention.

A restore of an older backup can bring back rows that retention has deleted
since. ``count_past_retention`` counts, per type, the rows of the restored
data that are past their period under the current policies (for a dry run,
inside the restore's transaction or in its staged tables), and
``retention_after_restore`` archives them after a real restore, under an
archive batch (reason ``restore``) that can be restored like any other,
unless the operator chose to keep them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils.dateparse import parse_datetime

from messaging.models import CallRecord, MediaFile, Message
from retention.models import ArchiveBatch
from retention.services import cleanup, scanning
from retention.services.policies import PolicyTable, load_policy_table
from retention.types import (
    BACKUP_DATA_TYPE,
    CALL,
    MESSAGE,
    RETENTION_TYPES,
    TYPE_RULES,
)
from talowa_admin.audit import record_audit_event


def restored_types(data_types: list[str] | None) -> list[str]:
    """Return the retention types a restore of ``data_types`` brings back."""
    if data_types is None:
        return list(RETENTION_TYPES)
    return [t for t in RETENTION_TYPES if BACKUP_DATA_TYPE[t] in data_types]


def count_past_retention(
    *,
    user_id: int | None = None,
    data_types: list[str] | None = None,
    tables: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Count rows past their retention, per type, in the live or the given tables.

    ``tables`` maps a live table name to the (staged) table to read instead.
    """
    policy = load_policy_table()
    names = dict(tables or {})
    counts = {}
    with connection.cursor() as cursor:
        for rtype in restored_types(data_types):
            counts[rtype] = _count_type(cursor, rtype, policy, names, user_id)
    return counts


def _select(rtype: str, names: dict, user_id: int | None) -> tuple[str, list]:
    rule = TYPE_RULES[rtype]
    message = names.get(Message._meta.db_table, Message._meta.db_table)
    if rule.table == MESSAGE:
        sql = (
            "SELECT t.id, t.created_at, t.sender_id, t.conversation_id "
            f"FROM {message} t WHERE t.kind IN ({', '.join(['%s'] * len(rule.values))})"
        )
        params, party = list(rule.values), "t.sender_id = %s"
    elif rule.table == CALL:
        call = names.get(CallRecord._meta.db_table, CallRecord._meta.db_table)
        sql = (
            "SELECT t.id, t.started_at, t.caller_id, t.callee_id, t.conversation_id "
            f"FROM {call} t WHERE t.status IN "
            f"({', '.join(['%s'] * len(rule.values))})"
        )
        params, party = list(rule.values), "(t.caller_id = %s OR t.callee_id = %s)"
    else:
        media = names.get(MediaFile._meta.db_table, MediaFile._meta.db_table)
        sql = (
            "SELECT t.id, t.created_at, t.owner_id, m.conversation_id "
            f"FROM {media} t LEFT JOIN {message} m ON m.id = t.message_id WHERE 1 = 1"
        )
        params, party = [], "t.owner_id = %s"
    if user_id is not None:
        sql += f" AND {party}"
        params += [user_id] * party.count("%s")
    return sql, params


def _count_type(cursor, rtype, policy: PolicyTable, names, user_id) -> int:
    shortest = policy.shortest_days(rtype)
    if shortest is None:
        return 0
    sql, params = _select(rtype, names, user_id)
    age = TYPE_RULES[rtype].age_column
    cutoff = connection.ops.adapt_datetimefield_value(policy.cutoff(shortest))
    cursor.execute(f"{sql} AND t.{age} < %s", [*params, cutoff])
    count = 0
    for row in cursor.fetchall():
        users, conversation = scanning.parties(rtype, row)
        resolution = policy.resolve(rtype, users, conversation)
        if resolution.days is not None and _aware(row[1]) < policy.cutoff(
            resolution.days
        ):
            count += 1
    return count


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def retention_after_restore(
    *,
    backup_id: str,
    user_id: int | None,
    data_types: list[str] | None,
    keep: bool = False,
    actor: Any = None,
) -> dict[str, Any]:
    """Archive what a finished restore brought back past its retention.

    With ``keep`` the rows stay and are only counted; the next cleanup takes
    them unless a policy or a hold changes first.
    """
    past = count_past_retention(user_id=user_id, data_types=data_types)
    if keep or not any(past.values()):
        return {"past_retention": past, "archived": {}, "batch": None}
    policy = load_policy_table()
    scope = scanning.Scope(user_id=user_id)
    mover = cleanup.BatchMover(
        reason=ArchiveBatch.Reason.RESTORE, note=f"after the restore of {backup_id}"
    )
    for rtype in restored_types(data_types):
        for ids in scanning.expired_batches(
            rtype, policy, scope=scope, sizer=mover.sizer
        ):
            mover.move(rtype, ids)
    archived = {t: n for t, n in mover.counts.items() if n}
    batch = mover.batch.pk if mover.batch else None
    record_audit_event(
        actor=actor,
        action="retention.after_restore",
        target=("backups.backup", backup_id),
        details={"archived": archived, "batch": batch},
    )
    return {"past_retention": past, "archived": archived, "batch": batch}
