"""Server-side SVG charts for the dashboard: no script, no chart library.

Each chart is drawn from figures the services computed; the page shows the
same figures in a table beside it (for screen readers and for copying). The
SVG carries classes, not colours, so the admin's light and dark themes style
it (``static/talowa/dashboard.css``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 1200, 200
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 10, 24  # room for the axis labels


def line_chart(
    values: Sequence[float],
    *,
    labels: Sequence[str],
    title: str,
    limit: float | None = None,
    limit_label: str = "",
    describe: Callable[[float], str] = str,
) -> SafeString:
    """Draw ``values`` as a line, with ``limit`` (a quota, say) as a dashed line."""
    top = max([*values, limit or 0, 1]) * 1.1
    points = " ".join(
        f"{_x(index, len(values)):.1f},{_y(value, top):.1f}"
        for index, value in enumerate(values)
    )
    parts = [_axes(top, labels, describe)]
    if points:
        area = (
            f"{_x(0, len(values)):.1f},{_y(0, top):.1f} {points} "
            f"{_x(len(values) - 1, len(values)):.1f},{_y(0, top):.1f}"
        )
        parts.append(format_html('<polygon class="chart-area" points="{}"/>', area))
        parts.append(format_html('<polyline class="chart-line" points="{}"/>', points))
    if limit:
        y = _y(limit, top)
        parts.append(
            format_html(
                '<line class="chart-limit" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="chart-limit-label" x="{}" y="{}">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                f"{y:.1f}",
                f"{y:.1f}",
                WIDTH - RIGHT - 4,
                f"{y - 4:.1f}",
                limit_label,
            )
        )
    return _svg(title, parts)


def stacked_bars(
    series: Sequence[Sequence[int]],
    *,
    labels: Sequence[str],
    classes: Sequence[str],
    title: str,
) -> SafeString:
    """Draw one bar per label, stacked from ``series`` (one list per class)."""
    count = len(labels)
    totals = [sum(column) for column in zip(*series, strict=True)] or [0]
    top = max([*totals, 1]) * 1.1
    slot = (WIDTH - LEFT - RIGHT) / max(count, 1)
    bars = []
    for index in range(count):
        base = 0
        for values, name in zip(series, classes, strict=True):
            value = values[index]
            if value:
                y0, y1 = _y(base, top), _y(base + value, top)
                bars.append(
                    format_html(
                        '<rect class="{}" x="{}" y="{}" width="{}" height="{}"/>',
                        name,
                        f"{LEFT + index * slot + slot * 0.15:.1f}",
                        f"{y1:.1f}",
                        f"{slot * 0.7:.1f}",
                        f"{y0 - y1:.1f}",
                    )
                )
            base += value
    return _svg(title, [_axes(top, labels, lambda v: f"{v:.0f}"), *bars])


def _x(index: int, count: int) -> float:
    if count <= 1:
        return LEFT
    return LEFT + index * (WIDTH - LEFT - RIGHT) / (count - 1)


def _y(value: float, top: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / top)


def _axes(top: float, labels: Sequence[str], describe: Callable) -> SafeString:
    """Draw the baseline, three grid lines with values, and the first/last label."""
    grid = format_html_join(
        "",
        '<line class="chart-grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="chart-axis" x="{}" y="{}" text-anchor="end">{}</text>',
        (
            (
                LEFT,
                WIDTH - RIGHT,
                f"{_y(value, top):.1f}",
                f"{_y(value, top):.1f}",
                LEFT - 6,
                f"{_y(value, top) + 4:.1f}",
                describe(value),
            )
            for value in (0, top / 2.2, top / 1.1)
        ),
    )
    ends = ""
    if labels:
        ends = format_html(
            '<text class="chart-axis" x="{}" y="{}">{}</text>'
            '<text class="chart-axis" x="{}" y="{}" text-anchor="end">{}</text>',
            LEFT,
            HEIGHT - 6,
            labels[0],
            WIDTH - RIGHT,
            HEIGHT - 6,
            labels[-1],
        )
    return format_html("{}{}", grid, ends)


def _svg(title: str, parts: list[SafeString]) -> SafeString:
    return format_html(
        '<svg class="talowa-chart" viewBox="0 0 {} {}" role="img" '
        'aria-label="{}"><title>{}</title>{}</svg>',
        WIDTH,
        HEIGHT,
        title,
        title,
        mark_safe("".join(parts)),  # noqa: S308 - each part was escaped above
    )
