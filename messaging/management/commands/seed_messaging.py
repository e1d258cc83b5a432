"""Fill the messaging tables with deterministic synthetic data (see --help)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from messaging.seeding import (
    Progress,
    SeedError,
    SeedPlan,
    SeedResult,
    messaging_row_counts,
    parse_anchor,
    seed_messaging,
)
from messaging.seeding.timeline import WINDOW_DAYS
from talowa_admin.audit import record_audit_event
from talowa_admin.cli import TalowaCommand

# option -> (default, what it counts)
COUNTS = {
    "users": (100, "seed users (seed_user_00001, ...; existing ones are reused)"),
    "conversations": (500, "conversations, about 30%% of them groups of 3 to 50"),
    "messages": (20_000, "messages"),
    "calls": (2_000, "call records"),
    "media": (1_000, "media files (mostly attached to messages)"),
}


class Command(TalowaCommand):
    help = (
        "Fill the empty messaging tables with deterministic synthetic data: users, "
        "direct and group conversations, messages of every kind in English, Telugu "
        "and Hindi, calls, and media files with real bytes. The same --seed and "
        "--anchor always give the same rows, ids and bytes, on SQLite as on "
        f"PostgreSQL. Timestamps spread over the {WINDOW_DAYS} days ending on the "
        "--anchor day (default: yesterday, UTC, so that nothing lies in the future), "
        "busier towards it, so retention rules "
        "of 30 to 365 days find data to act on. Progress goes to stderr on a "
        "terminal or with -v 2."
    )

    def add_arguments(self, parser) -> None:
        for name, (default, counted) in COUNTS.items():
            parser.add_argument(
                f"--{name}",
                type=int,
                default=default,
                metavar="N",
                help=f"How many {counted} (default {default:,}).",
            )
        parser.add_argument(
            "--seed", type=int, default=1, help="Random seed (default 1)."
        )
        parser.add_argument(
            "--anchor",
            metavar="YYYY-MM-DD",
            help="The day of the newest data (default: today, UTC); the data "
            f"covers the {WINDOW_DAYS} days ending on it, so with today's date "
            "some timestamps lie later today.",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Delete all existing messaging data (tombstones included) first, "
            "in the same transaction. Seed users are kept and reused.",
        )
        self.add_noinput_argument(
            parser, help="Do not ask before deleting data with --replace."
        )

    def handle(self, *args, **options) -> None:
        try:
            anchor = (
                parse_anchor(options["anchor"]) if options["anchor"] else yesterday()
            )
            plan = SeedPlan(
                **{name: options[name] for name in COUNTS},
                seed=options["seed"],
                anchor=anchor,
            )
            if options["replace"] and options["interactive"]:
                self._confirm_replace()
            result = seed_messaging(
                plan=plan, replace=options["replace"], progress=self._progress()
            )
        except SeedError as exc:
            raise CommandError(str(exc)) from exc
        record_audit_event(
            actor="command:seed_messaging",
            action="messaging.seed",
            details={
                "seed": plan.seed,
                "anchor": plan.anchor.isoformat(),
                "replace": options["replace"],
                "counts": result.counts,
            },
        )
        self._report(plan, result)

    def _confirm_replace(self) -> None:
        held = {name: n for name, n in messaging_row_counts().items() if n}
        if not held:
            return
        listed = ", ".join(
            f"{n:,} {name.replace('_', ' ')}" for name, n in held.items()
        )
        database = connections[DEFAULT_DB_ALIAS].settings_dict["NAME"]
        self.stderr.write(
            f"This deletes ALL messaging data in the database {database!r} "
            f"({listed}) and replaces it with seeded data."
        )
        self.stderr.write("Type 'yes' to continue, or 'no' to cancel: ", ending="")
        self.stderr.flush()
        try:
            answer = input()
        except EOFError:
            answer = ""
        if answer.strip().lower() != "yes":
            raise CommandError(
                "Seeding cancelled: nothing was changed (use --noinput to replace "
                "without asking)."
            )

    def _progress(self) -> Progress:
        if self.stderr.isatty() and self.verbosity >= 1:
            return TerminalProgress(self.stderr, live=True)
        if self.verbosity >= 2:
            return TerminalProgress(self.stderr, live=False)
        return Progress()

    def _report(self, plan: SeedPlan, result: SeedResult) -> None:
        counts = result.counts
        payload = {
            "seed": plan.seed,
            "anchor": plan.anchor.isoformat(),
            "counts": counts,
            "users_created": result.users_created,
            "media_objects_written": result.media_objects_written,
            "seconds": round(result.seconds, 3),
            "table_seconds": result.table_seconds,
        }
        if self.verbosity < 1 and not self.json_output:
            return
        self.emit(
            payload,
            f"Seeded {counts['users']:,} users ({result.users_created:,} new), "
            f"{counts['conversations']:,} conversations, "
            f"{counts['participants']:,} participants, {counts['messages']:,} "
            f"messages, {counts['call_history']:,} calls and "
            f"{counts['media_files']:,} media files "
            f"({result.media_objects_written:,} new objects in media storage) "
            f"in {result.seconds:.1f} s (seed {plan.seed}, anchor {plan.anchor}).",
        )


def yesterday() -> date:
    """Return yesterday's date in UTC: the last whole day in the past."""
    return datetime.now(UTC).date() - timedelta(days=1)


class TerminalProgress(Progress):
    """Progress on stderr: one updating line on a terminal, else a line a table."""

    def __init__(self, stream, *, live: bool) -> None:
        self.stream, self.live = stream, live  # plain text, not error red
        self.table, self.total, self.done = "", 0, 0
        self.started = self.shown = time.monotonic()

    def start(self, table: str, total: int) -> None:
        self.table, self.total, self.done = table, total, 0
        self.started = time.monotonic()
        if not total:
            self._finished()

    def advance(self, table: str, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        if self.live and now - self.shown > 0.2:
            self.shown = now
            line = f"\r{self.table}: {self.done:,} / {self.total:,}"
            self.stream.write(line, style_func=_plain, ending="")
            self.stream.flush()
        if self.done >= self.total:
            self._finished()

    def note(self, text: str) -> None:
        self.stream.write(f"{text}...", style_func=_plain)

    def _finished(self) -> None:
        seconds = time.monotonic() - self.started
        prefix = "\r\033[K" if self.live else ""
        line = f"{prefix}{self.table}: {self.done:,} rows in {seconds:.1f} s"
        self.stream.write(line, style_func=_plain)


def _plain(text: str) -> str:
    return text
