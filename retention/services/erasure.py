"""Erasure on request and the preview of a policy change.

What a user's data is, for an erasure (docs/retention.md): the messages they
sent, the calls they made or received, the media files they own. Rows in a
conversation under a legal hold, calls whose other party is held, and rows the
law must still keep (younger than the type's legal minimum) stay.
"""

from __future__ import annotations

from typing import Any

from retention.exceptions import InvalidRetentionPolicy, LegalHoldActive
from retention.models import ArchiveBatch
from retention.selectors import has_active_legal_hold
from retention.services import cleanup, scanning
from retention.services.backup_horizon import (
    backups_hold_until,
    backups_holding_user_data,
)
from retention.services.policies import (
    load_policy_table,
    resolve_entity,
    table_with_change,
    validate_periods,
)
from retention.types import RETENTION_TYPES
from talowa_admin.audit import record_audit_event


def erase_user_data(
    *,
    user: Any,
    retention_types: list[str] | tuple[str, ...],
    actor: Any = None,
    request: Any = None,
) -> dict[str, Any]:
    """Archive then purge the given types of ``user``'s data now; audited."""
    unknown = sorted(set(retention_types) - set(RETENTION_TYPES))
    if unknown or not retention_types:
        raise InvalidRetentionPolicy(
            {
                "retention_types": "Choose among "
                + ", ".join(RETENTION_TYPES)
                + (f"; unknown: {', '.join(unknown)}." if unknown else ".")
            }
        )
    if has_active_legal_hold(user_id=user.pk):
        raise LegalHoldActive(
            f"a legal hold on {user.get_username()} forbids deleting their data now"
        )
    table = load_policy_table()
    scope = scanning.Scope(user_id=user.pk)
    mover = cleanup.BatchMover(
        reason=ArchiveBatch.Reason.ERASURE,
        note=f"erasure requested for {user.get_username()}",
    )
    for rtype in RETENTION_TYPES:
        if rtype not in retention_types:
            continue
        for ids in scanning.expired_batches(
            rtype, table, scope=scope, everything=True, sizer=mover.sizer
        ):
            mover.move(rtype, ids)
    if mover.batch is not None:
        cleanup.purge_batch(batch_id=mover.batch.pk, actor=actor)
    holding = backups_holding_user_data(user)
    deleted = {rtype: mover.counts[rtype] for rtype in retention_types}
    record_audit_event(
        actor=actor,
        action="retention.erasure",
        target=user,
        details={"deleted": deleted, "batch": mover.batch.pk if mover.batch else None},
        request=request,
    )
    return {
        "deleted": deleted,
        "batch": mover.batch.pk if mover.batch else None,
        "backups_hold_until": backups_hold_until(holding),
    }


def preview_policy_change(
    *, entity_id: Any, entity_type: str, retention_periods: dict
) -> dict[str, int]:
    """Return the rows of each type the change would delete now, if saved.

    Validates like ``set_retention_policy`` (same refusals). For a user, the
    rows are those the user is party to; for a conversation, its rows.
    """
    entity = resolve_entity(entity_type, entity_id)
    periods = validate_periods(retention_periods, entity_type=entity_type)
    table = table_with_change(entity_type=entity_type, entity=entity, periods=periods)
    if entity_type == "user":
        scope = scanning.Scope(user_id=entity.pk)
    elif entity_type == "conversation":
        scope = scanning.Scope(conversation_id=entity.pk)
    else:
        scope = scanning.Scope()
    return cleanup.count_expired(table, scope=scope)
