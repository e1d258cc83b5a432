from __future__ import annotations

import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate

logger = logging.getLogger(__name__)

TRIGGERS_MIGRATION = ("messaging", "0002_tombstone_triggers")


class MessagingConfig(AppConfig):
    """The protected data: conversations, messages, calls and media."""

    name = "messaging"
    verbose_name = "Messaging data"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(repair_tombstone_triggers, sender=self)


def repair_tombstone_triggers(sender, *, using: str = "default", **kwargs) -> None:
    """After ``migrate``, put back any tombstone trigger a migration dropped."""
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    from messaging.triggers import reinstall_missing_tombstone_triggers

    connection = connections[using]
    if TRIGGERS_MIGRATION not in MigrationRecorder(connection).applied_migrations():
        return  # migrated back to before the triggers existed
    repaired = reinstall_missing_tombstone_triggers(connection)
    if repaired:
        logger.warning(
            "the tombstone triggers of %s were missing (a migration rebuilt the "
            "table) and were put back; deletions made meanwhile have no tombstone",
            ", ".join(repaired),
        )
