"""django-q2 tasks of the retention app: thin, and raising on failure."""

from __future__ import annotations

import logging

from retention import services
from talowa_admin.models import SystemSettings
from talowa_admin.queue import user_by_id

logger = logging.getLogger(__name__)


def run_scheduled_cleanup() -> dict:
    """Run the daily cleanup unless automatic cleanup is off in system settings."""
    if not SystemSettings.load().enable_automatic_cleanup:
        logger.info("retention: automatic cleanup is off; nothing done")
        return {"skipped": "automatic cleanup is off"}
    return services.cleanup_expired_messages(
        actor="schedule:retention", trigger="schedule"
    )


def restore_archive_batch(batch_id: int, actor_id: int | None = None) -> dict:
    """Restore an archive batch in a worker (queued from the admin)."""
    return services.restore_archive_batch(batch_id=batch_id, actor=user_by_id(actor_id))
