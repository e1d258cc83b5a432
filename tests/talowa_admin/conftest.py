"""Fixtures of the talowa_admin tests: the small messaging world to back up."""

from __future__ import annotations

from tests.backups.conftest import world  # noqa: F401 (fixture)
