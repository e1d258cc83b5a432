from __future__ import annotations

from django.core.management.base import CommandError

from backups.exceptions import BackupError
from backups.management.commands._options import find_user, parse_types
from backups.models import Backup
from backups.selectors import describe_backup
from backups.services import create_full_backup, create_incremental_backup
from talowa_admin.cli import TalowaCommand


class Command(TalowaCommand):
    help = "Take a full (or --incremental) backup of the system or of one user."
    progress_label = "backing up"

    def add_arguments(self, parser):
        parser.add_argument(
            "--incremental",
            action="store_true",
            help="Only what changed since the scope's latest backup.",
        )
        parser.add_argument("--user", help="Back up only this user's data.")
        parser.add_argument(
            "--types",
            help="Comma-separated data types (full only): "
            "messages,conversations,call_history,media_files.",
        )
        parser.add_argument("--note", default="", help="A note kept with the backup.")

    def handle(self, *args, **options):
        user = find_user(options["user"])
        types = parse_types(options["types"])
        actor = "command:create_backup"
        try:
            if options["incremental"]:
                if types is not None:
                    raise CommandError(
                        "--types applies to full backups; an "
                        "incremental keeps the types of its chain"
                    )
                backup_id = create_incremental_backup(
                    user=user, note=options["note"], actor=actor
                )
            else:
                wanted = set(
                    types
                    or ["messages", "conversations", "call_history", "media_files"]
                )
                backup_id = create_full_backup(
                    include_messages="messages" in wanted,
                    include_conversations="conversations" in wanted,
                    include_call_history="call_history" in wanted,
                    include_media_files="media_files" in wanted,
                    user=user,
                    note=options["note"],
                    actor=actor,
                )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        backup = Backup.objects.select_related("owner").get(pk=backup_id)
        self.emit(describe_backup(backup), backup.id)
