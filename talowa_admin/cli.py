"""The shared shape of TALOWA's management commands (DESIGN "Command-line contract").

Every command accepts ``--json``: exactly one JSON object on stdout and nothing
else there. A failure is a non-zero exit and a one-line reason on stderr,
never a traceback, whatever its source:

- a bad argument: argparse's message alone (no usage block), exit 2; the
  argument types below (``non_negative_int``, ``output_path``) say what
  a value must be;
- ``CommandError``: Django prints its reason, exit 1;
- an ``OperatorError`` (every app's exception tree) or an ``OSError`` (a file
  the command was told to read or write): translated into ``CommandError``;
- anything else is a bug: one line naming it, exit 1, and ``--traceback``
  shows the details.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from talowa_admin import progress
from talowa_admin.errors import OperatorError

logger = logging.getLogger(__name__)


class TalowaCommand(BaseCommand):
    """A command with ``--json`` output and one-line failures.

    A command that names a ``progress_label`` draws a progress line on
    stderr while it runs, when stderr is a terminal and neither ``--json``
    nor ``--verbosity 0`` is given (``talowa_admin.progress``).
    """

    progress_label: str | None = None
    # At start, check the configuration the command reads from the environment
    # (talowa.E0xx, tagged compatibility), not the whole project: the model,
    # URL, admin and template checks import every view and admin module, a
    # second or more of start-up for every run of every command. They are the
    # developer's and the deployment's (`manage.py check`, `migrate`,
    # `runserver`, the test suite), and do not change between runs.
    requires_system_checks = [Tags.compatibility]

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = _ReasonOnlyParser  # Django builds a CommandParser
        parser.add_argument(
            "--json",
            action="store_true",
            dest="json",
            help="Print one JSON object on stdout instead of text.",
        )
        return parser

    @staticmethod
    def add_noinput_argument(parser, *, help: str = "Do not ask for confirmation."):
        """Add Django's ``--noinput``/``--no-input`` (``interactive`` False)."""
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help=help,
        )

    def run_from_argv(self, argv):
        try:
            super().run_from_argv(argv)
        except CommandError as exc:  # from an argument type, while parsing
            if "--traceback" in argv:
                raise
            self.stderr.write(f"CommandError: {one_line(str(exc))}")
            sys.exit(exc.returncode)
        except Exception as exc:  # not an operator's error: a bug
            if "--traceback" in argv:
                raise
            logger.debug("%s failed", argv[1], exc_info=True)
            self.stderr.write(
                f"Error: {one_line(f'{type(exc).__name__}: {exc}')} (unexpected; "
                "run again with --traceback for the details)"
            )
            sys.exit(1)

    def execute(self, *args, **options):
        self.json_output = bool(options.get("json"))
        self.verbosity = int(options.get("verbosity", 1))
        stream = options.get("stderr") or sys.stderr
        live = (
            self.progress_label is not None
            and not self.json_output
            and self.verbosity >= 1
            and getattr(stream, "isatty", lambda: False)()
        )
        if live:
            options["stdout"] = progress.ClearFirst(options.get("stdout") or sys.stdout)
        try:
            with progress.watching(self.progress_label or "", stream, enabled=live):
                return super().execute(*args, **options)
        except OperatorError as exc:
            raise CommandError(one_line(str(exc))) from exc
        except OSError as exc:
            raise CommandError(describe_os_error(exc)) from exc

    def emit(self, payload: dict[str, Any], *lines: str) -> None:
        """Print ``payload`` as JSON with ``--json``, otherwise the text lines."""
        if self.json_output:
            self.stdout.write(
                json.dumps(payload, cls=DjangoJSONEncoder, ensure_ascii=False)
            )
            return
        for line in lines:
            self.stdout.write(line)

    def say(self, line: str, *, level: int = 1) -> None:
        """Print a progress line at ``--verbosity`` >= level (stderr with --json)."""
        if self.json_output and self.verbosity < 2:
            return
        if self.verbosity >= level:
            (self.stderr if self.json_output else self.stdout).write(line)


class _ReasonOnlyParser(CommandParser):
    """Report a bad argument in one line: the reason, then where help is."""

    def error(self, message):
        if self.called_from_command_line:
            self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
        super().error(message)  # raises CommandError for call_command


def one_line(text: str) -> str:
    """Return ``text`` with its whitespace, newlines included, collapsed."""
    return " ".join(text.split())


def describe_os_error(exc: OSError) -> str:
    """Return a one-line reason for a failed file operation."""
    reason = exc.strerror or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename else reason


# --- argument types: each raises ArgumentTypeError with the rule it checks ---


def non_negative_int(text: str) -> int:
    """A whole number, 0 or more."""
    return _bounded_int(text, minimum=0, rule="a whole number, 0 or more")


def _bounded_int(text: str, *, minimum: int, rule: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise argparse.ArgumentTypeError(f"{text!r} is not {rule}")
    return value


def output_path(text: str) -> Path:
    """A file to create, or a folder to create it in; the folder must exist."""
    path = Path(text).expanduser()
    folder = path if path.is_dir() else path.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {folder} does not exist")
    return path
