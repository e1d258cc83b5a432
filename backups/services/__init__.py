"""The backups app's services: the brief's DataBackupService and scheduler.

Import services from here; the modules behind it are implementation details.
Each service's module is imported when the service is first asked for (a
module ``__getattr__``): a command that calls one service does not import
the archive codec, the exporters and the scheduler at every start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Each service, and the module that holds it.
_SERVICES = {
    "cleanup_expired_backups": "expiry",
    "create_backup_schedule": "scheduling",
    "create_full_backup": "creating",
    "create_incremental_backup": "creating",
    "delete_backup_schedule": "scheduling",
    "execute_backup_now": "scheduling",
    "expire_backup": "expiry",
    "get_backup_history": "catalog",
    "keys_in_use": "keys",
    "rotate_keys": "keys",
    "run_backup": "creating",
    "start_scheduler": "scheduling",
    "update_backup_schedule": "scheduling",
    "verify_backup": "verifying",
}

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


def __getattr__(name: str) -> Any:
    module = _SERVICES.get(name)
    if module is None:  # a submodule, for ``from backups.services import quota``
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    service = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = service
    return service


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
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
