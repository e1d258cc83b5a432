from __future__ import annotations

from pathlib import Path

from recovery.services.data_migration import migrate_data
from talowa_admin.cli import TalowaCommand, output_path

ACTOR = "command:migrate_data"


class Command(TalowaCommand):
    help = (
        "Move the data of the backup chain ending at ID into another, empty "
        "database (sqlite:// or postgres://; migrated first) or into an export, "
        "transformed by a rules file (docs/migration.md). Counts and fingerprints "
        "of every table are reported before and after."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from-backup", required=True, metavar="ID")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--to-database", metavar="URL")
        target.add_argument("--to-export", metavar="FORMAT")
        parser.add_argument("--output", type=output_path, metavar="PATH")
        parser.add_argument("--rules", type=Path, metavar="FILE")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Apply the rules and report; write no target.",
        )

    def handle(self, *args, **options) -> None:
        result = migrate_data(
            backup_id=options["from_backup"],
            to_database=options["to_database"],
            to_export=options["to_export"],
            output=options["output"],
            rules_path=options["rules"],
            dry_run=options["dry_run"],
            actor=ACTOR,
        )
        lines = [
            f"{result['status']}: backup {result['backup_id']} (chain of "
            f"{len(result['chain'])}), {result['rules']} rule(s)"
        ]
        for label, table in result["tables"].items():
            was, now = table["before"], table["after"]
            lines.append(
                f"  {label}: {was['rows']} -> {now['rows']} rows"
                + (" (dropped)" if table["dropped"] else "")
                + (", fingerprint equal" if table["equal"] else ", transformed")
            )
        self.emit(result, *lines)
