"""Export one user's data to a local file (DESIGN "Command-line contract")."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from backups.exports import DEFAULT_SCOPE, FORMATS, SCOPES, ExportError
from backups.management.commands._options import find_user, parse_types
from backups.services.exporting import export_user_data
from talowa_admin.cli import TalowaCommand, output_path


class Command(TalowaCommand):
    help = (
        "Export one user's data (their messages, conversations, calls and media) "
        "as a ZIP archive in the chosen format, with a manifest of checksums. "
        "docs/export-format.md describes each format."
    )
    progress_label = "exporting"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--user", required=True, help="Whose data to export.")
        parser.add_argument(
            "--format",
            required=True,
            choices=list(FORMATS),
            help="json (one document), csv (a table per data type), ndjson (a "
            "record per line) or html (an offline viewer).",
        )
        parser.add_argument(
            "--types",
            help="Comma-separated data types (default: all): "
            "messages,conversations,call_history,media_files.",
        )
        parser.add_argument(
            "--scope",
            choices=SCOPES,
            default=DEFAULT_SCOPE,
            help="Which messages: sent (default: only those the user sent) or "
            "conversations (whole conversations the user takes part in, other "
            "members' messages since the user joined included).",
        )
        parser.add_argument(
            "--no-metadata",
            action="store_false",
            dest="include_metadata",
            help="Leave out change times, message metadata and the field guide.",
        )
        parser.add_argument(
            "--output",
            required=True,
            type=output_path,
            help="The ZIP file to write (it must not exist); a folder gets a "
            "file named after the user, the day and the format.",
        )

    def handle(self, *args, **options) -> None:
        user = find_user(options["user"])
        types = parse_types(options["types"])
        output = options["output"]
        if output.is_dir():
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            name = f"talowa-export-{user.get_username()}-{stamp}-{options['format']}"
            output = output / f"{name}.zip"
        try:
            result = export_user_data(
                user,
                data_types=types,
                format=options["format"],
                include_metadata=options["include_metadata"],
                scope=options["scope"],
                output=output,
                actor="command:export_data",
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        written = result.files[0]
        counts = ", ".join(f"{n} {name}" for name, n in result.counts.items())
        self.emit(
            {"user": user.get_username(), **result.as_dict()},
            f"Exported {user.get_username()}'s data ({counts}) to {written['name']}",
            f"{filesizeformat(written['size'])}, sha256 {written['sha256']}",
        )
