from __future__ import annotations

import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate

from messaging.triggers import (
    CHANGE_TRIGGERS,
    TOMBSTONE_TRIGGERS,
    reinstall_missing_triggers,
)

logger = logging.getLogger(__name__)

# Which migration installs which triggers.
TRIGGER_MIGRATIONS = {
    ("messaging", "0002_tombstone_triggers"): TOMBSTONE_TRIGGERS,
    ("messaging", "0004_account_changes_and_database_stamps"): CHANGE_TRIGGERS,
}


class MessagingConfig(AppConfig):
    """The protected data: conversations, messages, calls and media."""

    name = "messaging"
    verbose_name = "Messaging data"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(repair_triggers, sender=self)


def repair_triggers(sender, *, using: str = "default", **kwargs) -> None:
    """After ``migrate``, put back any change-tracking trigger a migration dropped."""
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    connection = connections[using]
    applied = MigrationRecorder(connection).applied_migrations()
    wanted = [
        trigger
        for migration, group in TRIGGER_MIGRATIONS.items()
        if migration in applied  # not migrated back to before they existed
        for trigger in group
    ]
    repaired = reinstall_missing_triggers(connection, wanted)
    if repaired:
        logger.warning(
            "the change-tracking triggers %s were missing (a migration rebuilt "
            "their table) and were put back; changes and deletions made "
            "meanwhile were not tracked: take a full backup",
            ", ".join(repaired),
        )
