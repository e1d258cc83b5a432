"""The seeded data's clock: a 400-day window ending on the anchor day.

Times are integer milliseconds from the window's start, so generating a row
costs integer arithmetic, and a timestamp becomes text only once, through
``Timeline.format``. The text is what Django itself stores on SQLite
(``YYYY-MM-DD HH:MM:SS[.ffffff]``, UTC) and what PostgreSQL reads for a
``timestamptz`` in a UTC session, so both engines get the same values.

Streams of times come out already sorted (order statistics of uniform draws,
pushed through a monotone activity profile), so ids can follow time without
sorting millions of rows.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate

WINDOW_DAYS = 400
SECOND = 1000  # offsets count milliseconds
HOUR = 3600 * SECOND
DAY = 24 * HOUR
# Share of activity per UTC hour: TALOWA's members live in India (UTC+5:30),
# busy from morning to late evening IST, nearly silent at night.
HOURLY_ACTIVITY = (
    5, 8, 10, 11, 11, 10, 9, 9, 10, 11, 12, 13,
    14, 14, 12, 9, 6, 4, 2, 1, 1, 1, 1, 2,
)  # fmt: skip
WEEKDAY_ACTIVITY = (1.0, 1.0, 1.0, 1.0, 1.05, 0.9, 0.8)  # Monday first
HOURS_OF_DAY = tuple(
    f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
)
# Django writes a datetime's text without a fraction when it has no microseconds.
FRACTIONS = ("",) + tuple(f".{ms:03d}000" for ms in range(1, SECOND))


class Timeline:
    """The window of ``WINDOW_DAYS`` days whose last day is ``anchor``."""

    def __init__(self, anchor: date, days: int = WINDOW_DAYS) -> None:
        self.anchor = anchor
        self.first_day = anchor - timedelta(days=days - 1)
        self.start = datetime.combine(self.first_day, time(0), tzinfo=UTC)
        self.span = days * DAY  # every offset is < span
        self.end = self.span - 1
        self._days = tuple(
            (self.first_day + timedelta(days=n)).isoformat() for n in range(days)
        )
        self._growing = _profile(self.first_day, days, lambda d: 0.35 + d / days)
        self._early = _profile(self.first_day, days, lambda d: 1.3 - d / days)

    def format(self, offset: int) -> str:
        """Return the UTC timestamp text for ``offset`` milliseconds."""
        day, rest = divmod(offset, DAY)
        second, millisecond = divmod(rest, SECOND)
        return f"{self._days[day]} {HOURS_OF_DAY[second]}{FRACTIONS[millisecond]}"

    def day_text(self, offset: int) -> str:
        """Return ``YYYYMMDD`` for the day holding ``offset``."""
        return self._days[offset // DAY].replace("-", "")

    def datetime(self, offset: int) -> datetime:
        """Return ``offset`` as an aware datetime (for the few ORM-written rows)."""
        return self.start + timedelta(milliseconds=offset)

    def growing(self, rng: random.Random, count: int) -> Iterator[int]:
        """Yield ``count`` ascending offsets, busier towards the anchor."""
        return _sorted_offsets(rng, count, self._growing)

    def early(self, rng: random.Random, count: int) -> Iterator[int]:
        """Yield ``count`` ascending offsets, busier towards the window's start."""
        return _sorted_offsets(rng, count, self._early)

    def after(self, rng: random.Random, offset: int) -> int:
        """Return a random offset between ``offset`` and the window's end."""
        return offset + int(rng.random() * (self.end - offset))


def _profile(first_day: date, days: int, trend) -> tuple[list[float], list[float]]:
    """Return the cumulative share of activity at the end of each hour."""
    weights = []
    for n in range(days):
        day_weight = trend(n) * WEEKDAY_ACTIVITY[(first_day + timedelta(n)).weekday()]
        weights.extend(day_weight * hourly for hourly in HOURLY_ACTIVITY)
    total = sum(weights)
    cumulative = [w / total for w in accumulate(weights)]
    cumulative[-1] = 1.0
    return cumulative, weights


def _sorted_offsets(
    rng: random.Random, count: int, profile: tuple[list[float], list[float]]
) -> Iterator[int]:
    """Yield ``count`` ascending offsets drawn from the activity ``profile``.

    The largest of ``i`` uniform draws is ``U ** (1/i)``: walking ``i`` down
    from ``count`` yields a sorted sample in constant memory; the inverse of
    the profile's (monotone) distribution keeps it sorted.
    """
    cumulative, weights = profile
    total = sum(weights)
    random_ = rng.random
    largest = 1.0
    for remaining in range(count, 0, -1):
        largest *= (1.0 - random_()) ** (1.0 / remaining)
        share = 1.0 - largest  # ascending
        hour = bisect_right(cumulative, share)
        if hour >= len(cumulative):
            hour = len(cumulative) - 1
        below = cumulative[hour - 1] if hour else 0.0
        within = (share - below) * total / weights[hour]
        yield hour * HOUR + min(int(within * HOUR), HOUR - 1)
