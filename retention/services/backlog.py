"""How far the retention cleanup is behind, cheaply enough for an hourly check.

Counting every expired row (``count_expired``) reads the whole backlog: at a
million messages with a fifth of them expired that takes longer than the
health check may. The check needs less: whether rows wait past retention,
about how many, and how old the oldest is. So each type is read the way a
cleanup reads it (oldest first, through the age index, below the shortest
period any row of the type can have, each row resolved against the policy
table) but only up to ``COUNT_LIMIT`` candidates:

- fewer candidates than that: the count is exact;
- more: on PostgreSQL the backlog is estimated as the planner's estimate of
  the candidates times the share of the counted ones that were expired; on
  SQLite (one machine, small data) the count read is given as a lower bound.

Nothing here writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from retention.services import scanning
from retention.services.policies import PolicyTable, load_policy_table
from retention.types import RETENTION_TYPE_LABELS, RETENTION_TYPES

COUNT_LIMIT = 1000  # candidates read per type


@dataclass
class Backlog:
    """Rows past retention now: exact, estimated, or at least ``rows``."""

    rows: int = 0
    kind: str = "exact"  # "exact", "estimate" or "lower bound"
    per_type: dict[str, int] = field(default_factory=dict)
    oldest: datetime | None = None  # of the oldest expired row of any type
    oldest_type: str = ""

    def describe(self) -> str:
        """Return the backlog in words: "12 rows", "about 200,000 rows (estimate)"."""
        if self.kind == "estimate":
            return f"about {self.rows:,} rows (estimate)"
        if self.kind == "lower bound":
            return f"at least {self.rows:,} rows"
        return f"{self.rows:,} rows"


def retention_backlog(table: PolicyTable | None = None) -> Backlog:
    """Return how many rows wait past retention, counted up to a limit per type."""
    table = table or load_policy_table()
    backlog = Backlog()
    for rtype in RETENTION_TYPES:
        count, kind, oldest = _probe(rtype, table)
        backlog.per_type[rtype] = count
        backlog.rows += count
        if kind == "lower bound" or (kind == "estimate" and backlog.kind == "exact"):
            backlog.kind = kind
        if oldest is not None and (backlog.oldest is None or oldest < backlog.oldest):
            backlog.oldest, backlog.oldest_type = oldest, rtype
    return backlog


def _probe(rtype: str, table: PolicyTable) -> tuple[int, str, datetime | None]:
    candidates = scanning.candidates(rtype, table)
    if candidates is None:
        return 0, "exact", None
    rows = list(candidates[: COUNT_LIMIT + 1])
    more = len(rows) > COUNT_LIMIT
    rows = rows[:COUNT_LIMIT]
    expired = scanning.expired_rows(rtype, rows, table)
    oldest = expired[0][1] if expired else None
    if not more:
        return len(expired), "exact", oldest
    planned = _planned_rows(candidates)
    if planned is None:
        return len(expired), "lower bound", oldest
    estimate = round(planned * len(expired) / len(rows))
    return max(estimate, len(expired)), "estimate", oldest


def _planned_rows(queryset) -> int | None:
    """Return the planner's estimate of the rows of ``queryset`` (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return None
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def type_label(rtype: str) -> str:
    """Return a retention type's name as people read it ("Direct messages")."""
    return RETENTION_TYPE_LABELS.get(rtype, rtype)
