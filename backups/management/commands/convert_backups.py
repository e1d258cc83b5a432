from __future__ import annotations

from django.core.management.base import CommandError

from backups.exceptions import BackupError
from backups.services.converting import convert_backups
from talowa_admin.cli import TalowaCommand


class Command(TalowaCommand):
    help = (
        "Rewrite backup archives: another zstd level, the newest format, fresh "
        "data keys under the primary key (--reencrypt). Each converted archive "
        "is decoded and compared with the original, section by section, before "
        "it replaces it; ids and chains stay as they are."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--ids", nargs="+", metavar="ID", help="These backups.")
        which.add_argument("--all", action="store_true", help="Every backup.")
        parser.add_argument(
            "--compression-level",
            type=int,
            metavar="N",
            help="zstd level, -7 to 19 (default TALOWA_BACKUP_COMPRESSION_LEVEL).",
        )
        parser.add_argument(
            "--reencrypt",
            action="store_true",
            help="Rewrite even at the same level: fresh data keys (after a key "
            "compromise, re-wrapping with rotate_keys is not enough).",
        )
        parser.add_argument(
            "--format-version", type=int, metavar="V", help="Archive format version."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be rewritten."
        )

    def handle(self, *args, **options):
        level = options["compression_level"]
        if level is not None and not -7 <= level <= 19:
            raise CommandError("--compression-level must be between -7 and 19")
        try:
            result = convert_backups(
                ids=None if options["all"] else options["ids"],
                compression_level=level,
                reencrypt=options["reencrypt"],
                format_version=options["format_version"],
                dry_run=options["dry_run"],
                actor="command:convert_backups",
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if result["dry_run"]:
            self.emit(
                result,
                f"Would rewrite {len(result['backups'])} backup(s) at level "
                f"{result['level']}.",
            )
            return
        self.emit(
            result,
            f"Converted {len(result['converted'])} backup(s) at level "
            f"{result['level']}"
            + (" with fresh data keys" if result["reencrypt"] else "")
            + f"; {len(result['unchanged'])} already so.",
        )
        if result["failed"]:
            raise CommandError(
                f"{len(result['failed'])} backup(s) not converted, originals kept: "
                + "; ".join(f"{k}: {v}" for k, v in list(result["failed"].items())[:3])
            )
