from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from backups.exceptions import BackupError
from backups.keyring import KEY_ID_PATTERN, load_keyring
from backups.services import keys_in_use, rotate_keys
from backups.services.keys import write_new_key_file
from talowa_admin.cli import TalowaCommand, output_path


class Command(TalowaCommand):
    help = (
        "Re-wrap every backup's data key with the primary (first) key of "
        "TALOWA_BACKUP_KEYS. To rotate: --new-key-file writes a new key; put it "
        "first in TALOWA_BACKUP_KEYS, run rotate_keys, then --retire the old id "
        "once no backup needs it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Report what would be re-wrapped; change nothing.",
        )
        parser.add_argument(
            "--new-key-file",
            type=output_path,
            metavar="PATH",
            help="Write a new key (id:base64) to PATH (mode 0600) and stop.",
        )
        parser.add_argument(
            "--key-id", default=None, help="Id of the key --new-key-file makes."
        )
        parser.add_argument(
            "--retire",
            metavar="KEY_ID",
            help="Check whether KEY_ID can leave TALOWA_BACKUP_KEYS.",
        )

    def handle(self, *args, **options):
        try:
            if options["new_key_file"]:
                return self._new_key(options["new_key_file"], options["key_id"])
            if options["retire"]:
                return self._retire(options["retire"])
            result = rotate_keys(
                actor="command:rotate_keys", dry_run=options["dry_run"]
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        verb = "would re-wrap" if options["dry_run"] else "re-wrapped"
        self.emit(
            result,
            f"Primary key {result['primary']}: {verb} "
            f"{len(result['rewrapped'])} backup(s), {result['unchanged']} "
            "already used it.",
        )
        if result["failed"]:
            raise CommandError(
                f"{len(result['failed'])} backup(s) could not be re-wrapped: "
                + "; ".join(f"{k}: {v}" for k, v in sorted(result["failed"].items()))
            )
        return None

    def _new_key(self, path: Path, key_id: str | None) -> None:
        from django.utils import timezone

        key_id = key_id or timezone.now().strftime("k%Y%m%d%H%M")
        if not KEY_ID_PATTERN.fullmatch(key_id):
            raise CommandError("a key id is 1-64 letters, digits, '.', '_' or '-'")
        try:
            write_new_key_file(path, key_id=key_id)
        except FileExistsError:
            raise CommandError(f"{path} exists; choose a new file") from None
        self.emit(
            {"key_id": key_id, "file": str(path)},
            f"Wrote key {key_id} to {path} (readable by you only). Put its "
            "contents first in TALOWA_BACKUP_KEYS, restart, and run "
            "rotate_keys.",
        )

    def _retire(self, key_id: str) -> None:
        configured = load_keyring().ids
        if key_id not in configured:
            raise CommandError(
                f"key {key_id!r} is not in TALOWA_BACKUP_KEYS (configured: "
                f"{', '.join(configured)}); check the id of the key to retire"
            )
        needing = keys_in_use().get(key_id, [])
        payload = {"key_id": key_id, "can_retire": not needing, "backups": needing}
        if needing:
            self.emit(payload)
            raise CommandError(
                f"key {key_id} still wraps {len(needing)} backup(s) "
                f"({', '.join(needing[:5])}{'…' if len(needing) > 5 else ''}); "
                "run rotate_keys first"
            )
        self.emit(payload, f"No backup needs key {key_id}: it can be retired.")
