from __future__ import annotations

from django.core.management.base import CommandError

from retention.exceptions import RetentionError
from retention.services import cleanup_expired_messages, restore_archive_batch
from talowa_admin.cli import TalowaCommand


class Command(TalowaCommand):
    help = (
        "Move expired messages, calls and media to the archive (restorable "
        "during the grace window, then purged), or put an archive batch back."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be archived; change nothing.",
        )
        parser.add_argument(
            "--restore-batch",
            type=int,
            metavar="ID",
            help="Put every row of archive batch ID back instead.",
        )

    def handle(self, *args, **options):
        actor = "command:apply_retention"
        try:
            if options["restore_batch"] is not None:
                if options["dry_run"]:
                    raise CommandError("--dry-run and --restore-batch do not combine")
                result = restore_archive_batch(
                    batch_id=options["restore_batch"], actor=actor
                )
                restored = sum(result["restored"].values())
                self.emit(
                    result,
                    f"Restored {restored} row(s) of archive batch {result['batch']}.",
                )
                return
            result = cleanup_expired_messages(dry_run=options["dry_run"], actor=actor)
        except RetentionError as exc:
            raise CommandError(str(exc)) from exc
        verb = "would archive" if result["dry_run"] else "archived"
        self.emit(
            result,
            *(f"{verb} {n} {rtype}" for rtype, n in result["deleted"].items() if n),
            f"Run {result['run']}: {verb} {sum(result['deleted'].values())} row(s)"
            + (f" in batch {result['batch']}" if result["batch"] else "")
            + f" in {result['seconds']} s.",
            *(f"purged batch {b}" for b in result.get("purged", [])),
        )
