"""The shared shape of TALOWA's management commands (DESIGN "Command-line contract").

Every command accepts ``--json``: exactly one JSON object on stdout and nothing
else there. Failures raise ``CommandError``: Django prints its one-line reason
on stderr and exits non-zero.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder


class TalowaCommand(BaseCommand):
    """A command with ``--json`` output for scripts and monitoring."""

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
