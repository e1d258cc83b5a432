from __future__ import annotations

from django.core.management.base import CommandError

from backups.management.commands._options import find_user, parse_types
from recovery.exceptions import RecoveryError
from recovery.models import RecoveryRun
from recovery.services.plans import execute_disaster_recovery, rollback_restore
from recovery.services.restoring import resolve_target, restore_from_backup
from talowa_admin.cli import TalowaCommand

ACTOR = "command:restore_backup"


class Command(TalowaCommand):
    help = (
        "Restore the backup chain that ends at ID: the whole system, one --user, "
        "or some --types. The chain is verified first and a backup of what is "
        "replaced is taken, unless told otherwise. Backups missing from the "
        "catalog are found in the backup storage. The run is recorded (Recovery "
        "runs in the admin); --rollback RUN puts back what a run replaced."
    )
    progress_label = "restoring"

    def add_arguments(self, parser):
        parser.add_argument("backup_id", metavar="ID", nargs="?")
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
            "--keep-past-retention",
            action="store_true",
            help="Keep restored rows that are already past their retention "
            "(by default they are archived again, restorable for the grace window).",
        )
        parser.add_argument(
            "--rollback",
            type=int,
            metavar="RUN",
            help="Roll back recovery run RUN from its pre-restore backup.",
        )
        self.add_noinput_argument(parser)

    def handle(self, *args, **options):
        if options["rollback"] is not None:
            self._rollback(options)
            return
        if not options["backup_id"]:
            raise CommandError("give the ID of the backup to restore (or --rollback)")
        user = find_user(options["user"])
        types = parse_types(options["types"])
        try:
            target = resolve_target(options["backup_id"], user=user, data_types=types)
            if options["dry_run"]:
                result = restore_from_backup(
                    options["backup_id"],
                    user=user,
                    data_types=types,
                    validate_before_restore=options["verify"],
                    dry_run=True,
                    actor=ACTOR,
                )
                self.emit(result, *describe_restore(result))
                return
            self._confirm(target, options)
            run = execute_disaster_recovery(
                backup_id=options["backup_id"],
                user=user,
                data_types=types,
                validate_before_restore=options["verify"],
                create_pre_restore_backup=options["pre_restore_backup"],
                keep_past_retention=options["keep_past_retention"],
                actor=ACTOR,
            )
        except RecoveryError as exc:
            raise CommandError(str(exc)) from exc
        self.emit(run, *describe_run(run))
        if run["status"] != RecoveryRun.Status.COMPLETED:
            raise CommandError(
                f"recovery run {run['run_id']} {run['status']}: {run['error']}"
            )

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
            f"{target.backup.id} (a chain of {len(target.chain)}); {safety}."
        )
        if input("Type 'yes' to continue: ") != "yes":
            raise CommandError("restore cancelled")

    def _rollback(self, options) -> None:
        run = RecoveryRun.objects.filter(pk=options["rollback"]).first()
        if run is None:
            raise CommandError(f"no recovery run {options['rollback']}")
        if options["interactive"] and not self.json_output:
            answer = input(
                f"Put back the data recovery run {run.pk} replaced, from backup "
                f"{run.pre_restore_backup_id}? Type 'yes' to continue: "
            )
            if answer != "yes":
                raise CommandError("rollback cancelled")
        try:
            result = rollback_restore(run, actor=ACTOR)
        except RecoveryError as exc:
            raise CommandError(str(exc)) from exc
        self.emit(
            result, f"Rolled back run {run.pk}: restored {run.pre_restore_backup_id}."
        )


def describe_restore(result: dict) -> list[str]:
    verb = "Would restore" if result["status"] == "dry_run" else "Restored"
    who = f": {result['user']}" if result["user"] else ""
    lines = [f"{verb} {result['backup_id']} ({result['scope']}{who})"]
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
            f"    e.g. message {row['id']} ({row['created_at'][:16]}): {row['body']}"
        )
    return lines


def describe_run(run: dict) -> list[str]:
    lines = [f"Recovery run {run['run_id']} of {run['backup_id']}: {run['status']}"]
    for step in run["steps"]:
        seconds = f" ({step['seconds']:.1f} s)" if "seconds" in step else ""
        lines.append(
            f"  {step.get('title', step['action'])}: {step['status']}{seconds}"
        )
    if run.get("pre_restore_backup"):
        lines.append(
            f"Pre-restore backup {run['pre_restore_backup']}; undo with "
            f"restore_backup --rollback {run['run_id']}"
        )
    if run.get("error"):
        lines.append(f"Error: {run['error']}")
    return lines
