"""Row checks of verification: counts, and parsing where faults would show."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from backups.exceptions import ArchiveCorrupted
from backups.services.verifying import _check_rows

ROWS = b"".join(b"%d\tbody %d\\twith a tab\n" % (i, i) for i in range(1, 101))


class Section:
    """A table section, handed out in pieces cut at arbitrary places."""

    def __init__(self, data: bytes, *, cut: int, rows: int | None) -> None:
        self.name = "table:messaging.message"
        self.meta = {"columns": ["id", "body"]}
        self.pieces = [data[i : i + cut] for i in range(0, len(data), cut)]
        self.summary = SimpleNamespace(rows=rows)

    def iter_data(self):
        return iter(self.pieces)


@pytest.mark.parametrize("cut", [7, 64, 1000, len(ROWS)])
def test_whole_rows_in_any_pieces_pass(cut):
    _check_rows(Section(ROWS, cut=cut, rows=100))


CUT = ROWS.index(b"11\t") + 3  # the second piece starts inside row 11


@pytest.mark.parametrize(
    ("data", "rows", "error"),
    [
        (ROWS, 99, "holds 100 rows, its end record says 99"),
        (ROWS[:-1], 100, "end mid-line"),
        (ROWS.replace(b"11\tbody 11", b"11\tbody\t11"), 100, "wrong number of fields"),
        (ROWS + b"101\n", 101, "wrong number of fields"),  # the last row
    ],
)
def test_faulty_rows_are_reported(data, rows, error):
    with pytest.raises(ArchiveCorrupted, match=error):
        _check_rows(Section(data, cut=CUT, rows=rows))
