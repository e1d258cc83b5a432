from __future__ import annotations

from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    """Restore, disaster-recovery plans and runs, integrity and health."""

    name = "recovery"
    verbose_name = "Recovery"
    default_auto_field = "django.db.models.BigAutoField"
