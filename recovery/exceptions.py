"""Errors of the recovery app; interfaces translate them for people."""

from __future__ import annotations

from talowa_admin.errors import OperatorError


class RecoveryError(OperatorError):
    """A restore or recovery step could not be done; the message says why."""


class RestoreRefused(RecoveryError):
    """A restore was refused before anything was written."""
