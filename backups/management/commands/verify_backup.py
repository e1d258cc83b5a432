from __future__ import annotations

from django.core.management.base import CommandError

from backups.exceptions import BackupError
from backups.models import Backup
from backups.selectors import get_backup
from backups.services import verify_backup
from backups.services.verifying import VerifyResult
from talowa_admin.cli import TalowaCommand


class Command(TalowaCommand):
    help = "Read, decrypt and check backups completely; exit non-zero if any fails."
    progress_label = "verifying"

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", metavar="ID")
        parser.add_argument(
            "--all", action="store_true", help="Verify every completed backup."
        )

    def handle(self, *args, **options):
        if options["all"] == bool(options["ids"]):
            raise CommandError("give backup ids or --all (not both)")
        try:
            backups = (
                list(
                    Backup.objects.filter(status=Backup.Status.COMPLETED).order_by(
                        "created_at"
                    )
                )
                if options["all"]
                else [get_backup(i) for i in options["ids"]]
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        results = [verify_backup(b, actor="command:verify_backup") for b in backups]
        failed = [r for r in results if r.checked and not r.ok]
        unchecked = [r for r in results if not r.checked]
        self.emit(
            {
                "ok": not failed and not unchecked,
                "results": [r.as_json() for r in results],
            },
            *[f"{r.backup_id}: {_outcome(r)}" for r in results],
        )
        problems = []
        if failed:
            problems.append(
                f"{len(failed)} of {len(results)} backup(s) failed verification: "
                + "; ".join(f"{r.backup_id}: {r.error}" for r in failed)
            )
        if unchecked:
            # One reason, usually shared by all (a key, the storage's access).
            problems.append(
                f"{len(unchecked)} of {len(results)} backup(s) were not checked "
                f"and keep their last verification; {unchecked[0].error}"
            )
        if problems:
            raise CommandError("; ".join(problems))


def _outcome(result: VerifyResult) -> str:
    if result.ok:
        return "OK"
    return result.error if not result.checked else f"FAILED: {result.error}"
