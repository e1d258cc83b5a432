"""Template filters of the dashboard: seconds for people."""

from __future__ import annotations

from datetime import timedelta

from django import template

from talowa_admin.humanize import human_duration

register = template.Library()


@register.filter
def human_seconds(value: float | None) -> str:
    """Return a number of seconds as "0.4 s" or "3 min 12 s"; "–" for none."""
    if value is None:
        return "–"
    return human_duration(timedelta(seconds=value))
