"""Progress of long operations, drawn as one line on a terminal.

Services say what they have done with ``advance(rows=…, bytes=…)`` and, when
they know it, how much there is with ``expect(…)``. Both cost one context
variable lookup unless a command is watching (``watching``), which only a
command on a terminal does: the line goes to stderr, is redrawn at most
``REDRAW_EVERY`` seconds, and is erased at the end, so that stdout and any
``--json`` output stay exactly as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

REDRAW_EVERY = 0.2


class Meter:
    """Counts rows and bytes and renders a line: done, rate, time left."""

    def __init__(
        self,
        label: str,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.stream, self.clock = label, stream, clock
        self.rows = self.bytes = 0
        self.total_rows = self.total_bytes = 0
        self.started = clock()
        self.drawn_at = self.started - REDRAW_EVERY  # the first advance draws
        self.width = 0

    def expect(self, *, rows: int = 0, bytes: int = 0) -> None:  # noqa: A002
        self.total_rows += rows
        self.total_bytes += bytes

    def advance(self, *, rows: int = 0, bytes: int = 0) -> None:  # noqa: A002
        self.rows += rows
        self.bytes += bytes
        if self.clock() - self.drawn_at >= REDRAW_EVERY:
            self.draw()

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-6)
        parts = [f"{self.rows:,} rows", _size(self.bytes)]
        if self.bytes:
            parts.append(f"{_size(self.bytes / elapsed)}/s")
        else:
            parts.append(f"{self.rows / elapsed:,.0f} rows/s")
        left = self._seconds_left(elapsed)
        if left is not None:
            parts.append(f"about {_duration(left)} left")
        return f"{self.label}: " + ", ".join(parts)

    def _seconds_left(self, elapsed: float) -> float | None:
        for done, total in (
            (self.bytes, self.total_bytes),
            (self.rows, self.total_rows),
        ):
            if total and 0 < done <= total:
                return (total - done) * elapsed / done
        return None

    def draw(self) -> None:
        text = self.line()
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)
        self.drawn_at = self.clock()

    def erase(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


class ClearFirst:
    """A stream that erases the progress line before each write to it.

    The command's stdout shares the terminal with the line: without this,
    its output would start at the end of the line.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        meter = _meter.get()
        if meter is not None:
            meter.erase()
        return self._stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


_meter: ContextVar[Meter | None] = ContextVar("talowa_progress", default=None)


def watched() -> bool:
    """Tell whether a terminal is watching (worth counting what is to be done)."""
    return _meter.get() is not None


def advance(*, rows: int = 0, bytes: int = 0) -> None:  # noqa: A002
    """Report ``rows`` and ``bytes`` more done (nothing happens unless watched)."""
    meter = _meter.get()
    if meter is not None:
        meter.advance(rows=rows, bytes=bytes)


def expect(*, rows: int = 0, bytes: int = 0) -> None:  # noqa: A002
    """Report that ``rows`` and ``bytes`` more are to be done, for the estimate."""
    meter = _meter.get()
    if meter is not None:
        meter.expect(rows=rows, bytes=bytes)


@contextmanager
def watching(label: str, stream: TextIO, *, enabled: bool = True) -> Iterator[None]:
    """Draw the progress of the block on ``stream`` when ``enabled``."""
    if not enabled:
        yield
        return
    meter = Meter(label, stream)
    token = _meter.set(meter)
    try:
        yield
    finally:
        _meter.reset(token)
        meter.erase()


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count:,.1f} TiB"  # pragma: no cover (loop returns at GiB)


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
