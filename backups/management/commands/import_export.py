from __future__ import annotations

from pathlib import Path

from backups.exports.importing import import_export
from talowa_admin.cli import TalowaCommand

ACTOR = "command:import_export"


class Command(TalowaCommand):
    help = (
        "Import a user's export (a JSON or NDJSON ZIP) as NAME's data in this "
        "deployment. Ids are remapped, existing rows kept: importing twice "
        "changes nothing (docs/export-format.md, 'Importing an export')."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, metavar="PATH")
        parser.add_argument("--user", required=True, metavar="NAME")
        parser.add_argument(
            "--dry-run", action="store_true", help="Report; write nothing."
        )

    def handle(self, *args, **options) -> None:
        result = import_export(
            options["path"],
            username=options["user"],
            dry_run=options["dry_run"],
            actor=ACTOR,
        )
        lines = [f"{result['status']}: {result['user']}'s data from {options['path']}"]
        for data_type in result["data_types"]:
            after = result["checksums"]["after"][data_type]
            lines.append(
                f"  {data_type}: {result['added'][data_type]} added, "
                f"{result['kept'][data_type]} kept, {result['skipped'][data_type]} "
                f"skipped; {after['rows']} rows, checksum {after['sha256'][:16]}"
            )
        lines.append("equal to the export" if result["equal"] else "NOT equal")
        self.emit(result, *lines)
