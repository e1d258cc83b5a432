from __future__ import annotations

from django.core.management.base import CommandError

from backups.services.discovery import find_backup
from recovery.models import RestoreDrill
from recovery.services.drills import run_restore_drill
from talowa_admin.cli import TalowaCommand

ACTOR = "command:run_restore_drill"


class Command(TalowaCommand):
    help = (
        "Restore the newest completed system backup chain (or the chain ending "
        "at ID) into a scratch copy, compare every table with the archives, "
        "record the measured time to restore and drop the copy. Exits non-zero "
        "when the drill fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("backup_id", metavar="ID", nargs="?")

    def handle(self, *args, **options):
        if options["backup_id"]:
            find_backup(options["backup_id"])  # a typo is refused, not drilled
        drill = run_restore_drill(backup_id=options["backup_id"], actor=ACTOR)
        if drill.status != RestoreDrill.Status.PASSED:
            raise CommandError(f"restore drill {drill.pk} failed: {drill.error}")
        tables = drill.tables
        lines = [
            f"Restore drill {drill.pk} passed: {drill.backup_id} "
            f"(chain of {len(drill.chain)}) restored in {drill.rto_seconds} s "
            f"(verify {drill.verify_seconds} s, load {drill.load_seconds} s)."
        ]
        lines += [
            f"  {label}: {report['restored']['rows']} rows, checksums match"
            for label, report in tables.items()
            if isinstance(report, dict)
        ]
        self.emit(drill.as_json(), *lines)
