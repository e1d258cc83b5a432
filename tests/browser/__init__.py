"""End-to-end tests that drive Debian's Chromium through Playwright."""

from __future__ import annotations

from pathlib import Path

# Debian's package (apt-get install chromium). Never `playwright install`: it
# downloads a browser build, which fails on these machines.
CHROMIUM = Path("/usr/bin/chromium")
