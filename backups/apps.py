from __future__ import annotations

from django.apps import AppConfig


class BackupsConfig(AppConfig):
    """Archives, keys, storage, backups, exports, schedules, expiry and quotas."""

    name = "backups"
    verbose_name = "Backups"
    default_auto_field = "django.db.models.BigAutoField"
