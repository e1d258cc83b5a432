from __future__ import annotations

from tests.backups.conftest import world  # noqa: F401
