"""For people: durations and byte sizes in the units a reader expects, and
recorded JSON values as tables and lists (``readable``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html, format_html_join

UNITS = {"MiB": 1024**2, "GiB": 1024**3}
SNAKE_CASE = re.compile(r"[a-z]+(?:_[a-z]+)*")


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


def readable(value: Any) -> str:
    """Render a JSON value for a person: objects as tables, lists as lists.

    Names read as words ("dry_run" as "Dry run"; ids and table names stay as
    they are), numbers with thousands separators, true and false as Yes and
    No; everything escaped.
    """
    if value is None or value == "" or value == [] or value == {}:
        return "–"
    if isinstance(value, dict):
        return format_html(
            '<table class="talowa-table talowa-reading"><tbody>{}</tbody></table>',
            format_html_join(
                "",
                '<tr><th scope="row">{}</th><td>{}</td></tr>',
                ((_words(key), readable(item)) for key, item in value.items()),
            ),
        )
    if isinstance(value, list):
        if all(not isinstance(item, (dict, list)) for item in value):
            return format_html_join(", ", "{}", ((readable(item),) for item in value))
        return format_html(
            "<ol>{}</ol>",
            format_html_join("", "<li>{}</li>", ((readable(item),) for item in value)),
        )
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _words(key: Any) -> str:
    """A snake_case name as words; any other key (an id, a table) as it is."""
    text = str(key)
    if not SNAKE_CASE.fullmatch(text):
        return text
    text = text.replace("_", " ")
    return text[:1].upper() + text[1:]
