"""A progress line on a terminal, and nothing extra elsewhere."""

from __future__ import annotations

import io
import json
import os
import re
from contextlib import contextmanager

import pytest
from django.core.management import call_command

from talowa_admin.progress import Meter

pytestmark = pytest.mark.django_db(transaction=True)

ERASED = re.compile(r"\r +\r$")


@contextmanager
def terminal():
    """A real pseudo-terminal: yields (its writable end, a function reading it)."""
    master, slave = os.openpty()
    os.set_blocking(master, False)
    stream = os.fdopen(slave, "w", encoding="utf-8")
    received = bytearray()

    def read() -> str:
        stream.flush()
        while True:
            try:
                chunk = os.read(master, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            received.extend(chunk)
        return received.decode()

    try:
        yield stream, read
    finally:
        stream.close()
        os.close(master)


def run(*args: str, stderr) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=stderr)
    return out.getvalue()


def test_create_backup_draws_a_line_on_a_terminal_and_erases_it(world):
    with terminal() as (tty, read):
        assert tty.isatty()
        printed = run("create_backup", stderr=tty)
        shown = read()
    assert re.match(r"^backup_\w+\n$", printed), printed
    assert shown.startswith("\rbacking up: ")
    assert re.search(r"[\d,]+ rows, [\d.,]+ (B|KiB|MiB), [\d.,]+ (B|KiB|MiB)/s", shown)
    assert ERASED.search(shown), repr(shown[-80:])


def test_verify_and_export_show_their_line_with_an_estimate(world, tmp_path):
    backup_id = run("create_backup", stderr=io.StringIO()).strip()
    with terminal() as (tty, read):
        run("verify_backup", backup_id, stderr=tty)
        shown = read()
    assert "\rverifying: " in shown and " left" in shown
    with terminal() as (tty, read):
        run(
            "export_data",
            "--user",
            world.asha.username,
            "--format",
            "json",
            "--output",
            str(tmp_path / "asha.zip"),
            stderr=tty,
        )
        shown = read()
    assert "\rexporting: " in shown and " rows" in shown


def test_restore_dry_run_shows_its_line(world):
    backup_id = run("create_backup", stderr=io.StringIO()).strip()
    with terminal() as (tty, read):
        run("restore_backup", backup_id, "--dry-run", stderr=tty)
        shown = read()
    assert "\rrestoring: " in shown


def test_nothing_extra_with_json_or_off_a_terminal(world):
    with terminal() as (tty, read):
        printed = run("create_backup", "--json", stderr=tty)
        shown = read()
    assert shown == ""
    assert json.loads(printed)["id"].startswith("backup_")
    stderr = io.StringIO()
    printed = run("create_backup", "--incremental", stderr=stderr)
    assert stderr.getvalue() == ""
    assert printed.startswith("backup_")


def test_the_line_says_done_rate_and_time_left():
    now = [100.0]
    stream = io.StringIO()
    meter = Meter("verifying", stream, clock=lambda: now[0])
    meter.expect(bytes=4 * 1024 * 1024)
    now[0] += 2
    meter.advance(rows=1200, bytes=1024 * 1024)
    assert meter.line() == (
        "verifying: 1,200 rows, 1.0 MiB, 512.0 KiB/s, about 6 s left"
    )
    now[0] += 600
    meter.advance(bytes=2 * 1024 * 1024)
    assert meter.line().endswith("5.1 KiB/s, about 3 min 21 s left")
    meter.erase()
    assert stream.getvalue().endswith("\r" + " " * len(meter.line()) + "\r") or (
        ERASED.search(stream.getvalue())
    )
