from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from backups.exceptions import BackupError
from backups.keyring import KEY_ID_PATTERN, load_keyring
from backups.services import rotate_keys
from backups.services.keys import retirement_check, write_new_key_file
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
            help=(
                "Check whether KEY_ID can leave TALOWA_BACKUP_KEYS: no sidecar "
                "is wrapped by it and both copies of every sidecar are intact."
            ),
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
        dry = options["dry_run"]
        self.emit(
            result,
            f"Primary key {result['primary']}: "
            f"{'would re-wrap' if dry else 're-wrapped'} "
            f"{len(result['rewrapped'])} backup(s), "
            f"{'would repair' if dry else 'repaired'} the sidecar copies of "
            f"{len(result['repaired'])}, {result['unchanged']} already used it.",
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
        verdict = retirement_check(key_id)
        self.emit(verdict, *self._retire_lines(verdict))
        if verdict["primary"]:
            raise CommandError(
                f"key {key_id} is the primary key; put the new key first in "
                "TALOWA_BACKUP_KEYS and run rotate_keys before retiring it"
            )
        if verdict["backups"]:
            needing = verdict["backups"]
            raise CommandError(
                f"key {key_id} still wraps {len(needing)} backup(s) "
                f"({_first(needing)}); run rotate_keys first"
            )
        if verdict["unpaired"]:
            unpaired = verdict["unpaired"]
            raise CommandError(
                f"key {key_id} cannot be retired: {len(unpaired)} backup(s) lack "
                "an intact pair of sidecar copies ("
                + "; ".join(f"{k}: {v}" for k, v in list(unpaired.items())[:3])
                + ("; …" if len(unpaired) > 3 else "")
                + f"); run rotate_keys while {key_id} is still configured (it "
                "rewrites a missing or damaged copy from the intact one), then "
                "retire again; a backup with no intact copy left is readable "
                "only with the key its header names, so keep that key"
            )

    @staticmethod
    def _retire_lines(verdict: dict) -> list[str]:
        if not verdict["can_retire"]:
            return []
        key_id, count = verdict["key_id"], verdict["depending_on_sidecars"]
        return [
            f"No backup needs key {key_id}: it can be retired.",
            f"{count} backup(s) were written with key {key_id} and will be "
            "readable only through their sidecars; both copies of every "
            "sidecar are intact. Keep archives/ and sidecar-copies/ of the "
            "backup storage together.",
        ]


def _first(ids: list[str]) -> str:
    return ", ".join(ids[:5]) + ("…" if len(ids) > 5 else "")
