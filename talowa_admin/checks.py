"""System checks for configuration read from the environment (ids talowa.E0xx)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.compatibility)
def check_environment(app_configs, **kwargs) -> list:
    """Report every malformed environment variable that settings recorded."""
    return [
        Error(problem.msg, hint=problem.hint, id=problem.id)
        for problem in getattr(settings, "TALOWA_CONFIG_PROBLEMS", [])
    ]


@register(Tags.security, deploy=True)
def check_production(app_configs, **kwargs) -> list:
    """Warn about production settings that are present but weak."""
    found = []
    if settings.TALOWA_ENV == "production" and not settings.ALLOWED_HOSTS:
        found.append(
            Error(
                "ALLOWED_HOSTS is empty in production: every request will be refused.",
                hint="Set ALLOWED_HOSTS=admin.example.org (comma-separated).",
                id="talowa.E010",
            )
        )
    if len(settings.TALOWA_BACKUP_KEYS) > 8:
        found.append(
            Warning(
                f"{len(settings.TALOWA_BACKUP_KEYS)} backup keys are configured.",
                hint="Run rotate_keys and retire keys that no backup needs any more.",
                id="talowa.W001",
            )
        )
    return found
