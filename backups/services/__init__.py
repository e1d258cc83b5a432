"""The backups app's services: the brief's DataBackupService and scheduler.

Import services from here; the modules behind it are implementation details.
"""

from __future__ import annotations

from backups.services.catalog import get_backup_history
from backups.services.creating import (
    create_full_backup,
    create_incremental_backup,
    run_backup,
)
from backups.services.expiry import cleanup_expired_backups, expire_backup
from backups.services.keys import keys_in_use, rotate_keys
from backups.services.scheduling import (
    create_backup_schedule,
    delete_backup_schedule,
    execute_backup_now,
    start_scheduler,
    update_backup_schedule,
)
from backups.services.verifying import verify_backup

__all__ = [
    "cleanup_expired_backups",
    "create_backup_schedule",
    "create_full_backup",
    "create_incremental_backup",
    "delete_backup_schedule",
    "execute_backup_now",
    "expire_backup",
    "get_backup_history",
    "keys_in_use",
    "rotate_keys",
    "run_backup",
    "start_scheduler",
    "update_backup_schedule",
    "verify_backup",
]
