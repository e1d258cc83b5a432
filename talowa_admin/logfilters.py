"""Logging filters named in ``settings.LOGGING``."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """Keep a refused request (403, 404, 400) to its one line: no traceback.

    Django logs ``PermissionDenied`` with the exception attached; for a
    request the user was not allowed to make that traceback says nothing an
    operator needs. Server errors (5xx) keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if 400 <= getattr(record, "status_code", 0) < 500:
            record.exc_info = None
            record.exc_text = None
        return True
