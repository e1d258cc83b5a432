"""The retention services (the brief's MessageRetentionService).

Policies and precedence are in ``policies``, the cleanup in ``cleanup`` (with
``scanning`` and ``archiving``), erasure and previews in ``erasure``, what
backups still hold in ``backup_horizon``.
"""

from __future__ import annotations

from retention.services.backup_horizon import (
    backup_exposure,
    backups_holding_user_data,
)
from retention.services.cleanup import (
    cleanup_expired_messages,
    count_expired,
    purge_batch,
    purge_expired_batches,
    restore_archive_batch,
)
from retention.services.erasure import erase_user_data, preview_policy_change
from retention.services.holds import (
    release_legal_hold,
    save_legal_bound,
    save_legal_hold,
)
from retention.services.policies import (
    get_effective_policy,
    set_retention_policy,
    validate_periods,
)
from retention.services.restores import count_past_retention, retention_after_restore
from retention.services.scheduling import schedule_automatic_cleanup
from retention.services.statistics import get_cleanup_statistics

__all__ = [
    "backup_exposure",
    "backups_holding_user_data",
    "cleanup_expired_messages",
    "count_expired",
    "count_past_retention",
    "erase_user_data",
    "get_cleanup_statistics",
    "get_effective_policy",
    "preview_policy_change",
    "purge_batch",
    "release_legal_hold",
    "save_legal_bound",
    "save_legal_hold",
    "purge_expired_batches",
    "restore_archive_batch",
    "retention_after_restore",
    "schedule_automatic_cleanup",
    "set_retention_policy",
    "validate_periods",
]
