"""Retention and restores agree: what a restore brings back past its retention.

A restore of an older backup can bring back rows that retention has deleted
since. ``count_past_retention`` counts, per type, the rows of the restored
data that are past their period under the current policies (for a dry run,
inside the restore's transaction or in its staged tables), and
``retention_after_restore`` archives them after a real restore, under an
archive batch (reason ``restore``) that can be restored like any other,
unless the operator chose to keep them.

Both are set-based (``expiry_sql``): the database counts per type and pages
the ids past retention, so time and memory do not grow with rows loaded into
Python; the archiving reuses the cleanup's ``BatchMover`` (tombstones, audit,
archive batch as for a cleanup). The count and the archiving share one policy
table, so what is counted is what is archived.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retention.models import ArchiveBatch
from retention.services import cleanup, expiry_sql
from retention.services.policies import PolicyTable, load_policy_table
from retention.types import BACKUP_DATA_TYPE, RETENTION_TYPES
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
    policy: PolicyTable | None = None,
) -> dict[str, int]:
    """Count rows past their retention, per type, in the live or the given tables.

    ``tables`` maps a live table name to the (staged) table to read instead.
    The database counts (one query a type, ``expiry_sql``): no row is loaded.
    """
    policy = policy or load_policy_table()
    return {
        rtype: expiry_sql.count_past(rtype, policy, names=tables, user_id=user_id)
        for rtype in restored_types(data_types)
    }


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
    policy = load_policy_table()
    past = count_past_retention(user_id=user_id, data_types=data_types, policy=policy)
    if keep or not any(past.values()):
        return {"past_retention": past, "archived": {}, "batch": None}
    mover = cleanup.BatchMover(
        reason=ArchiveBatch.Reason.RESTORE, note=f"after the restore of {backup_id}"
    )
    for rtype in restored_types(data_types):
        if not past.get(rtype):
            continue
        for ids in expiry_sql.past_id_pages(
            rtype, policy, user_id=user_id, sizer=mover.sizer
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
