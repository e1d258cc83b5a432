"""A first-in, first-out list of JSON values kept on disk, not in memory.

Exports collect per-file facts (manifest entries, media rows) while they
stream, and write them out later; a user with 100,000 media files must not
make that list a memory problem.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import Any


class Spool:
    """Append JSON values, then read them back in order (any number of times)."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 (close())
        self.count = 0

    def append(self, value: Any) -> None:
        self._file.seek(0, 2)
        self._file.write(json.dumps(value, ensure_ascii=False).encode() + b"\n")
        self.count += 1

    def __iter__(self) -> Iterator[Any]:
        """Yield the values in order; do not append until the iteration ends."""
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            yield json.loads(line)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
