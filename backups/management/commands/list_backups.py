from __future__ import annotations

from django.core.management.base import CommandError
from django.template.defaultfilters import filesizeformat

from backups.exceptions import BackupError
from backups.management.commands._options import find_user
from backups.models import Backup
from backups.selectors import describe_backup
from backups.services import get_backup_history
from backups.services.discovery import rebuild_catalog, stored_manifests
from talowa_admin.cli import TalowaCommand, non_negative_int


class Command(TalowaCommand):
    help = "List backups, newest first."

    def add_arguments(self, parser):
        parser.add_argument("--user", help="Only this user's backups.")
        parser.add_argument(
            "--limit",
            type=non_negative_int,
            default=50,
            help="At most this many (0: all). Default 50.",
        )
        parser.add_argument(
            "--from-storage",
            action="store_true",
            help="List what the backup storage holds, read from the archives "
            "themselves (works without a catalog).",
        )
        parser.add_argument(
            "--rebuild-catalog",
            action="store_true",
            help="With --from-storage: add stored backups missing from the catalog.",
        )

    def handle(self, *args, **options):
        if options["from_storage"]:
            self._from_storage(rebuild=options["rebuild_catalog"])
            return
        if options["rebuild_catalog"]:
            raise CommandError("--rebuild-catalog goes with --from-storage")
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

    def _from_storage(self, *, rebuild: bool) -> None:
        try:
            manifests = stored_manifests()
            rebuilt = rebuild_catalog(actor="command:list_backups") if rebuild else None
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        known = set(Backup.objects.values_list("id", flat=True))
        entries = [_stored_entry(m, known) for m in reversed(manifests)]
        lines = [f"{'ID':34} {'KIND':11} {'SCOPE':14} {'IN CATALOG':10}  CREATED"] + [
            f"{e['id']:34} {e.get('kind') or '?':11} "
            f"{(e.get('user') or e.get('scope') or '?')[:14]:14} "
            f"{'yes' if e['in_catalog'] else 'no':10}  "
            f"{(e.get('created_at') or e.get('error') or '')[:60]}"
            for e in entries
        ]
        if rebuilt:
            lines.append(f"Added {len(rebuilt['added'])} backup(s) to the catalog.")
        self.emit(
            {"backups": entries, "rebuilt": rebuilt},
            *(lines if entries else ["The backup storage holds no backups."]),
        )


def _stored_entry(manifest: dict, known: set[str]) -> dict:
    if "_error" in manifest:
        return {
            "id": manifest["backup_id"],
            "error": manifest["_error"],
            "in_catalog": manifest["backup_id"] in known,
        }
    return {
        "id": manifest["backup_id"],
        "kind": manifest["kind"],
        "scope": manifest["scope"],
        "user": (manifest.get("owner") or {}).get("username"),
        "parent": manifest.get("parent"),
        "counts": manifest.get("counts"),
        "size_bytes": manifest["_stored"]["bytes"],
        "key_id": manifest["_key_id"],
        "created_at": manifest.get("created_at"),
        "in_catalog": manifest["backup_id"] in known,
    }
