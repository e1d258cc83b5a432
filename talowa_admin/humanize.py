"""Numbers for people: durations and byte sizes in the units a reader expects."""

from __future__ import annotations

from datetime import timedelta

from django.template.defaultfilters import filesizeformat

UNITS = {"MiB": 1024**2, "GiB": 1024**3}


def human_duration(value: timedelta | None) -> str:
    """Return ``value`` as "0.4 s", "3 min 12 s" or "2 h 5 min"; "–" for none."""
    if value is None:
        return "–"
    seconds = value.total_seconds()
    if seconds < 0.05:
        return "< 0.1 s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


def human_size(value: int | None) -> str:
    """Return a byte count as "1.2 MB" (binary units, as ``filesizeformat``)."""
    return filesizeformat(value or 0)


def split_size(value: int) -> tuple[float, str]:
    """Return ``value`` bytes as (number, unit) in the largest unit it fills."""
    unit = "GiB" if value and value % UNITS["GiB"] == 0 else "MiB"
    number = value / UNITS[unit]
    return (int(number) if number == int(number) else round(number, 3)), unit
