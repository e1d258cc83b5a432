from __future__ import annotations

from django.core.management.base import CommandError
from django.template.defaultfilters import filesizeformat

from backups.exceptions import BackupError
from backups.models import StorageMigration
from backups.services.migrating import migrate_backups
from talowa_admin.cli import TalowaCommand


class Command(TalowaCommand):
    help = (
        "Copy every backup (archive and both sidecar copies; media travel inside "
        "archives) to the file or S3 storage, verify each copy's SHA-256 against "
        "the catalog, then switch the backup's location in the catalog. "
        "Resumable: run it again after a crash. Afterwards set "
        "TALOWA_BACKUP_STORAGE to the target."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--to",
            required=True,
            choices=["file", "s3"],
            help="file: TALOWA_DATA_DIR/backups; s3: the bucket AWS_* describe.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="List what would be moved; copy and change nothing.",
        )
        parser.add_argument(
            "--delete-source",
            action="store_true",
            help=(
                "Delete each source object once its copy is verified and "
                "switched; also the sources an earlier run to the same target "
                "kept, once the target's copy reads back intact."
            ),
        )

    def handle(self, *args, **options):
        try:
            result = migrate_backups(
                to=options["to"],
                dry_run=options["dry_run"],
                delete_source=options["delete_source"],
                actor="command:migrate_backups",
                progress=self._progress if self._on_terminal() else None,
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if self._on_terminal():
            self.stderr.write("")
        if result.get("dry_run"):
            self.emit(
                result,
                f"Would copy {result['backups_total']} backup(s), "
                f"{filesizeformat(result['bytes_total'])}, to {result['target']}"
                + (" and delete the sources" if result["delete_source"] else "")
                + (
                    f", and delete the sources of {len(result['sources_left'])} "
                    "backup(s) moved there before."
                    if result["sources_left"]
                    else "."
                ),
            )
            return
        self.emit(result, *self._lines(result))
        if result["status"] != StorageMigration.Status.COMPLETED:
            raise CommandError(
                f"migration run {result['run']} {result['status'].replace('_', ' ')}"
                f": {len(result['errors'])} backup(s) not moved, sources kept ("
                + "; ".join(
                    f"{e.get('backup', '?')}: {e['error']}"
                    for e in result["errors"][:3]
                )
                + ")"
            )

    def _on_terminal(self) -> bool:
        return self.verbosity >= 1 and self.stderr.isatty()

    def _progress(self, run: StorageMigration) -> None:
        self.stderr.write(
            f"\r{run.backups_done}/{run.backups_total} backups, "
            f"{filesizeformat(run.bytes_copied)} copied",
            ending="",
        )
        self.stderr.flush()

    @staticmethod
    def _lines(result: dict) -> list[str]:
        return [
            f"Migration run {result['run']} to {result['target']}: "
            f"{result['status'].replace('_', ' ')}.",
            f"{result['backups_done']}/{result['backups_total']} backup(s) moved; "
            f"{result['objects_copied']} object(s) copied, "
            f"{result['objects_skipped']} already there and verified; "
            f"{filesizeformat(result['bytes_copied'])} at "
            f"{filesizeformat(result['bytes_per_second'])}/s.",
            *(
                ["Sources deleted after verification."]
                if result["delete_source"]
                else []
            ),
            "Set TALOWA_BACKUP_STORAGE to the target's kind so new backups go there.",
        ]
