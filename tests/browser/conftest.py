"""Playwright with Debian's Chromium, against pytest-django's live server.

Tests here are marked ``browser``; ``tests/conftest.py`` skips them when
Chromium is missing. They need ``django_db(transaction=True)``: the live server
answers from another thread, which cannot see a test's open transaction.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.browser import CHROMIUM

# Playwright's sync API keeps an event loop running in the main thread for the
# rest of the session, and Django refuses ORM calls from a thread with a
# running loop. Set for the whole process, not only these tests: any test that
# runs after the first browser test inherits that loop.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict:
    """Launch Debian's Chromium (Playwright's own browsers are not installed)."""
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": CHROMIUM_ARGS,
    }


from tests.backups.conftest import world  # noqa: E402,F401 (a shared fixture)
