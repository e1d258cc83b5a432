"""What to seed: counts, seed and anchor, checked before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from talowa_admin.errors import OperatorError

# Beyond these the run would take hours or exhaust memory: a typo, not a plan.
LIMITS = {
    "users": 10_000_000,
    "conversations": 5_000_000,
    "messages": 50_000_000,
    "calls": 50_000_000,
    "media": 5_000_000,
}
EARLIEST_ANCHOR = date(1971, 1, 1)


class SeedError(OperatorError):
    """Seeding cannot go ahead; the message says why and what to do."""


class MessagingNotEmpty(SeedError):
    """The messaging tables already hold data and ``replace`` was not asked for."""


@dataclass(frozen=True)
class SeedPlan:
    """The size and identity of a synthetic data set."""

    users: int
    conversations: int
    messages: int
    calls: int
    media: int
    anchor: date  # the newest day; see ``timeline``
    seed: int = 1

    def __post_init__(self) -> None:
        if problems := self.problems():
            raise SeedError("; ".join(problems))

    def problems(self) -> list[str]:
        """Return what is wrong with the plan, most basic first."""
        found = []
        for name, limit in LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                found.append(f"--{name} must be a whole number >= 0, not {value!r}")
            elif value > limit:
                found.append(f"--{name} {value:,} is more than the limit of {limit:,}")
        if found:
            return found
        if self.conversations and self.users < 2:
            found.append("--conversations needs --users 2 or more (two people talk)")
        if self.calls and self.users < 2:
            found.append("--calls needs --users 2 or more (a caller and a callee)")
        if self.messages and not self.conversations:
            found.append("--messages needs --conversations 1 or more to hold them")
        if self.media and not self.users:
            found.append("--media needs --users 1 or more to own the files")
        if self.anchor < EARLIEST_ANCHOR:
            found.append(f"--anchor must be {EARLIEST_ANCHOR} or later")
        return found


def parse_anchor(text: str) -> date:
    """Return the date in ``YYYY-MM-DD`` text, or raise ``SeedError``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SeedError(
            f"--anchor {text!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-31"
        ) from None
