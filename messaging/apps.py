from __future__ import annotations

from django.apps import AppConfig


class MessagingConfig(AppConfig):
    """The protected data: conversations, messages, calls and media."""

    name = "messaging"
    verbose_name = "Messaging data"
    default_auto_field = "django.db.models.BigAutoField"
