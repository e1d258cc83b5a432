"""Errors raised by the backup app.

Every message says what happened and what the operator can do next. Messages
never contain key material: a key is named by its id only.
"""

from __future__ import annotations

from talowa_admin.errors import OperatorError


class BackupError(OperatorError):
    """Base class of every error the backup app reports to an operator."""


class ArchiveCorrupted(BackupError):
    """A backup archive or its sidecar failed a structural or integrity check.

    ``chunk_index`` names the encrypted chunk that failed, when one did.
    """

    def __init__(
        self,
        message: str,
        *,
        archive_id: str | None = None,
        chunk_index: int | None = None,
    ) -> None:
        super().__init__(message)
        self.archive_id = archive_id
        self.chunk_index = chunk_index


class KeyUnavailable(BackupError):
    """The key needed to read or write an archive is not configured or wrong."""

    def __init__(self, message: str, *, key_id: str | None = None) -> None:
        super().__init__(message)
        self.key_id = key_id


class StorageUnavailable(BackupError):
    """The backup storage could not be reached or refused an operation.

    Says nothing about the objects themselves: a backup that cannot be read
    for this reason is not known to be damaged (see ``ObjectMissing``).
    """


class ObjectMissing(StorageUnavailable):
    """The backup storage answered, and the object is not there."""


class QuotaExceeded(BackupError):
    """Storing a backup would exceed the configured storage quota."""


class BackupInProgress(BackupError):
    """Another backup or restore job holds the lock this job needs."""
