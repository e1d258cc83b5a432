from __future__ import annotations

import argparse
import re
from datetime import timedelta

from django.core.management.base import CommandError

from backups.services import cleanup_expired_backups
from backups.services.expiry import DEFAULT_KEEP
from talowa_admin.cli import TalowaCommand, non_negative_int

DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?")


def parse_duration(text: str) -> timedelta:
    """A duration like 30d, 12h or 1d12h (an argument type)."""
    match = DURATION.fullmatch(text)
    if not text or not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration like 30d, 12h or 1d12h"
        )
    days, hours = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours)


class Command(TalowaCommand):
    help = (
        "Expire backups that no keep rule keeps (like restic forget). Chains of "
        "kept incrementals and users under legal hold are always kept. Without "
        f"rules: {', '.join(f'{k}={v}' for k, v in DEFAULT_KEEP.items())}."
    )

    def add_arguments(self, parser):
        for name in ("last", "daily", "weekly", "monthly"):
            parser.add_argument(f"--keep-{name}", type=non_negative_int, metavar="N")
        parser.add_argument("--keep-within", type=parse_duration, metavar="DURATION")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="List what would expire; change nothing.",
        )
        self.add_noinput_argument(parser)

    def handle(self, *args, **options):
        rules = {
            f"keep_{n}": options[f"keep_{n}"]
            for n in ("last", "daily", "weekly", "monthly", "within")
        }
        try:
            preview = cleanup_expired_backups(**rules, dry_run=True)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        doomed = preview["would_expire"]
        if options["dry_run"] or not doomed:
            self.emit(
                preview,
                *(f"would expire {i}" for i in doomed),
                f"{len(doomed)} backup(s) would expire.",
            )
            return
        if options["interactive"] and not self.json_output:
            answer = input(
                f"Expire {len(doomed)} backup(s)? Their archives are "
                "deleted. Type 'yes' to continue: "
            )
            if answer != "yes":
                raise CommandError("expiry cancelled")
        result = cleanup_expired_backups(**rules, actor="command:expire_backups")
        self.emit(
            result,
            *(f"expired {i}" for i in result["expired"]),
            f"{len(result['expired'])} backup(s) expired.",
        )
