"""The root of every error whose message is written for the person at work.

Each app's exception tree (``BackupError``, ``RecoveryError``, ``SeedError``,
``LockHeld``) descends from ``OperatorError``. Interfaces show such a message
as it is, never a traceback: commands print it as their one-line reason
(``talowa_admin.cli``), admin actions as a message. Any other exception is a
bug and keeps its traceback where one can be read.
"""

from __future__ import annotations


class OperatorError(Exception):
    """A failure the operator can act on; the message says what and what next."""
