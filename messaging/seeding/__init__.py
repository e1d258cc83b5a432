"""Deterministic synthetic messaging data, fast enough for millions of rows.

``seed_messaging(plan=SeedPlan(...))`` is the service; the ``seed_messaging``
management command parses arguments and reports. Parts: ``plan`` (what to
seed, validated), ``timeline`` (the clock), ``corpus`` (text), ``media``
(file bytes), ``users``, ``generator`` and ``messages`` (rows), ``writers``
(the engine seam) and ``service`` (the orchestration).
"""

from __future__ import annotations

from messaging.seeding.plan import MessagingNotEmpty, SeedError, SeedPlan, parse_anchor
from messaging.seeding.service import (
    Progress,
    SeedResult,
    messaging_row_counts,
    seed_messaging,
)

__all__ = [
    "MessagingNotEmpty",
    "Progress",
    "SeedError",
    "SeedPlan",
    "SeedResult",
    "messaging_row_counts",
    "parse_anchor",
    "seed_messaging",
]
