"""When a schedule runs: its kind of interval, in django-q2's terms.

The django-q2 ``Schedule`` keeps the phase itself: each run adds the interval
to the slot it was meant for, and a daily, weekly or monthly schedule keeps
its local time across daylight-saving changes (``Schedule.calculate_next_run``).
This module only picks the schedule type and the first slot, in the
configured ``TIME_ZONE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.utils import timezone
from django_q.models import Schedule

WEEKDAYS = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
NOMINAL = {"daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


@dataclass(frozen=True)
class Timing:
    """Every N minutes or hours, or daily/weekly/monthly at a local time."""

    kind: str
    every: int | None = None
    at: time | None = None
    weekday: int | None = None
    day: int | None = None

    @property
    def period(self) -> timedelta:
        """The (shortest) time between two runs."""
        if self.kind == "minutes":
            return timedelta(minutes=self.every or 0)
        if self.kind == "hours":
            return timedelta(hours=self.every or 0)
        return NOMINAL.get(self.kind, timedelta(days=28))

    def q_fields(self) -> dict:
        """The django-q2 ``Schedule`` fields that make it run at these times."""
        if self.kind in ("minutes", "hours"):
            minutes = int(self.period.total_seconds() // 60)
            return {"schedule_type": Schedule.MINUTES, "minutes": minutes}
        schedule_type = {
            "daily": Schedule.DAILY,
            "weekly": Schedule.WEEKLY,
            "monthly": Schedule.MONTHLY,
        }[self.kind]
        return {"schedule_type": schedule_type, "minutes": None}

    def first_run(self, now: datetime | None = None) -> datetime:
        """Return the first slot after ``now``.

        Every N minutes or hours counts from local midnight (every 6 hours is
        00:00, 06:00, 12:00 and 18:00), so slots are predictable.
        """
        local = timezone.localtime(now or timezone.now())
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.kind in ("minutes", "hours"):
            step = self.period
            passed = (local - midnight) // step + 1
            return midnight + passed * step
        at = self.at or time(0, 0)
        candidate = local.replace(
            hour=at.hour, minute=at.minute, second=0, microsecond=0
        )
        if self.kind == "weekly":
            candidate += timedelta(days=(self.weekday - local.weekday()) % 7)
        elif self.kind == "monthly":
            candidate = candidate.replace(day=self.day)
        if candidate <= local:
            candidate = _next_period(candidate, self.kind)
        return _normalise(candidate)

    def describe(self) -> str:
        """Say when it runs, as a person would: "daily at 02:00"."""
        at = self.at.strftime("%H:%M") if self.at else "00:00"
        if self.kind in ("minutes", "hours"):
            unit = self.kind[:-1] if self.every == 1 else self.kind
            return f"every {self.every} {unit}" if self.every != 1 else f"every {unit}"
        if self.kind == "daily":
            return f"daily at {at}"
        if self.kind == "weekly":
            return f"weekly on {WEEKDAYS[self.weekday or 0]} at {at}"
        return f"monthly on day {self.day} at {at}"


def _next_period(moment: datetime, kind: str) -> datetime:
    if kind == "daily":
        return moment + timedelta(days=1)
    if kind == "weekly":
        return moment + timedelta(weeks=1)
    year, month = (
        (moment.year + 1, 1)
        if moment.month == 12
        else (
            moment.year,
            moment.month + 1,
        )
    )
    return moment.replace(year=year, month=month)


def _normalise(moment: datetime) -> datetime:
    """Re-attach the zone's offset after arithmetic on local wall time."""
    naive = moment.replace(tzinfo=None)
    return timezone.make_aware(naive, timezone.get_current_timezone())
