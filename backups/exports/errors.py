"""Errors of data exports; each says what happened and what to do next."""

from __future__ import annotations

from backups.exceptions import BackupError


class ExportError(BackupError):
    """An export could not be requested, produced or delivered."""


class ExportRefused(ExportError):
    """A request for an export breaks a rule (bad choice, limit, one at a time)."""


class ExportInProgress(ExportRefused):
    """The user already has an export being prepared."""


class ExportLimitReached(ExportRefused):
    """The user asked for more exports than the daily limit allows."""


class ExportUnavailable(ExportError):
    """The export's file is gone: it expired, failed or was never finished."""


class ExportNotFound(ExportError):
    """No export answers to this link for this user (shown as "not found")."""
