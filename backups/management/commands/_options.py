"""Argument helpers shared by the backups app's commands."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from backups.models import BACKUP_DATA_TYPES


def parse_types(text: str | None) -> list[str] | None:
    """Parse ``--types a,b`` into known backup data types, or raise CommandError."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BACKUP_DATA_TYPES]
    if unknown or not names:
        raise CommandError(
            f"unknown data type(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(BACKUP_DATA_TYPES)}"
        )
    return names


def find_user(username: str | None):
    """Return the user named ``username`` (None for None), or raise CommandError."""
    if username is None:
        return None
    try:
        return get_user_model().objects.get_by_natural_key(username)
    except get_user_model().DoesNotExist:
        raise CommandError(f"no user named {username!r}") from None
