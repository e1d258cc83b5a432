"""What one component of a health check reports, and a check that measures it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"


@dataclass
class Component:
    name: str
    status: str
    value: float | None
    threshold: str
    detail: str
    recommendation: str = ""
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], Component]
    on_error: str  # the recommendation when the check itself fails
