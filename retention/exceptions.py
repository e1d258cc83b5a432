"""Errors of the retention services."""

from __future__ import annotations

from django.core.exceptions import ValidationError


class RetentionError(Exception):
    """A retention operation could not be done."""


class InvalidRetentionPolicy(ValidationError):
    """A policy or legal bound was refused; ``message_dict`` is keyed by type."""


class LegalHoldActive(RetentionError):
    """A legal hold forbids deleting the data asked for."""


class ArchiveBatchUnavailable(RetentionError):
    """The archive batch is unknown, already restored or already purged."""


class CleanupRunning(RetentionError):
    """Another cleanup holds the retention lock."""
