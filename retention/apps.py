from __future__ import annotations

from django.apps import AppConfig


class RetentionConfig(AppConfig):
    """Retention policies, legal holds and the cleanup of expired data."""

    name = "retention"
    verbose_name = "Retention"
    default_auto_field = "django.db.models.BigAutoField"
