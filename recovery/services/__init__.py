"""The recovery app's services: the brief's DisasterRecoveryService.

Import services from here; the modules behind it are implementation details.
"""

from __future__ import annotations

from recovery.services.drills import run_restore_drill
from recovery.services.health import check_system_health
from recovery.services.integrity import validate_data_integrity
from recovery.services.maintenance import perform_system_maintenance
from recovery.services.plans import execute_disaster_recovery
from recovery.services.restoring import restore_from_backup

__all__ = [
    "check_system_health",
    "execute_disaster_recovery",
    "perform_system_maintenance",
    "restore_from_backup",
    "run_restore_drill",
    "validate_data_integrity",
]
