"""The shared shape of TALOWA's management commands (DESIGN "Command-line contract").

Every command accepts ``--json``: exactly one JSON object on stdout and nothing
else there. Failures raise ``CommandError``: Django prints its one-line reason
on stderr and exits non-zero.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder

from talowa_admin import progress


class TalowaCommand(BaseCommand):
    """A command with ``--json`` output for scripts and monitoring.

    A command that names a ``progress_label`` draws a progress line on
    stderr while it runs, when stderr is a terminal and neither ``--json``
    nor ``--verbosity 0`` is given (``talowa_admin.progress``).
    """

    progress_label: str | None = None

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
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
        with progress.watching(self.progress_label or "", stream, enabled=live):
            return super().execute(*args, **options)

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
