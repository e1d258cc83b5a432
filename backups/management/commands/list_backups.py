from __future__ import annotations

from django.template.defaultfilters import filesizeformat

from backups.management.commands._options import find_user
from backups.selectors import describe_backup, get_backup_history
from talowa_admin.cli import TalowaCommand


class Command(TalowaCommand):
    help = "List backups, newest first."

    def add_arguments(self, parser):
        parser.add_argument("--user", help="Only this user's backups.")
        parser.add_argument(
            "--limit",
            type=int,
            default=50,
            help="At most this many (0: all). Default 50.",
        )

    def handle(self, *args, **options):
        user = find_user(options["user"])
        backups = get_backup_history(user=user, limit=options["limit"] or None)
        described = [describe_backup(b) for b in backups]
        lines = [
            f"{'ID':34} {'KIND':11} {'STATUS':9} {'SCOPE':14} {'SIZE':>10}  CREATED"
        ] + [
            f"{b['id']:34} {b['kind']:11} {b['status']:9} "
            f"{(b['user'] or 'system')[:14]:14} "
            f"{filesizeformat(b['size_bytes']):>10}  {b['created_at'][:19]}"
            for b in described
        ]
        self.emit({"backups": described}, *(lines if described else ["No backups."]))
