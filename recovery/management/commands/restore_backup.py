from __future__ import annotations

from django.core.management.base import CommandError

from backups.management.commands._options import find_user, parse_types
from recovery.exceptions import RecoveryError
from recovery.services.restoring import resolve_target, restore_from_backup
from talowa_admin.cli import TalowaCommand


class Command(TalowaCommand):
    help = (
        "Restore the backup chain that ends at ID: the whole system, one --user, "
        "or some --types. The chain is verified first and a backup of what is "
        "replaced is taken, unless told otherwise. Backups missing from the "
        "catalog are found in the backup storage."
    )

    def add_arguments(self, parser):
        parser.add_argument("backup_id", metavar="ID")
        parser.add_argument("--user", help="Restore only this user's data.")
        parser.add_argument("--types", help="Comma-separated data types to restore.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Report what would change; write nothing.",
        )
        parser.add_argument(
            "--no-pre-restore-backup",
            action="store_false",
            dest="pre_restore_backup",
            help="Do not back up what the restore replaces.",
        )
        parser.add_argument(
            "--no-verify",
            action="store_false",
            dest="verify",
            help="Skip verifying the chain first (not advised).",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )

    def handle(self, *args, **options):
        user = find_user(options["user"])
        types = parse_types(options["types"])
        try:
            target = resolve_target(options["backup_id"], user=user, data_types=types)
            if not options["dry_run"]:
                self._confirm(target, options)
            result = restore_from_backup(
                options["backup_id"],
                user=user,
                data_types=types,
                validate_before_restore=options["verify"],
                create_pre_restore_backup=options["pre_restore_backup"],
                dry_run=options["dry_run"],
                actor="command:restore_backup",
            )
        except RecoveryError as exc:
            raise CommandError(str(exc)) from exc
        self.emit(result, *self._describe(result))

    def _confirm(self, target, options) -> None:
        if not options["interactive"] or self.json_output:
            return
        scope = (
            f"{target.user.get_username()}'s data"
            if target.user
            else "ALL messaging data"
        )
        safety = (
            "a backup of the current data is taken first"
            if options["pre_restore_backup"]
            else "NO backup is taken first"
        )
        self.stdout.write(
            f"This replaces {scope} ({', '.join(target.data_types)}) with backup "
            f"{target.backup.id} (chain of {len(target.chain)}); {safety}."
        )
        if input("Type 'yes' to continue: ") != "yes":
            raise CommandError("restore cancelled")

    def _describe(self, result) -> list[str]:
        verb = "Would restore" if result["status"] == "dry_run" else "Restored"
        lines = [
            f"{verb} {result['backup_id']} ({result['scope']}"
            f"{': ' + result['user'] if result['user'] else ''})"
        ]
        changes = result.get("changes") or {}
        for label, tally in result["tables"].items():
            if label in changes:
                c = changes[label]
                lines.append(
                    f"  {label}: {c['inserted']} inserted, {c['updated']} "
                    f"updated, {c['deleted']} deleted"
                )
            else:
                lines.append(
                    f"  {label}: {tally['loaded']} rows loaded, "
                    f"{tally['cleared']} replaced, {tally['deleted']} deleted"
                )
        for row in changes.get("sample", {}).get("restored_messages", []):
            lines.append(
                f"    e.g. message {row['id']} ({row['created_at'][:16]}): "
                f"{row['body']}"
            )
        if result.get("pre_restore_backup"):
            lines.append(
                f"Pre-restore backup: {result['pre_restore_backup']} "
                "(restore it to undo)"
            )
        return lines
