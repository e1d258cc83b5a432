from __future__ import annotations

from django.core.management.base import CommandError

from recovery.services.maintenance import STEPS, perform_system_maintenance
from talowa_admin.cli import TalowaCommand

ACTOR = "command:run_maintenance"


class Command(TalowaCommand):
    help = (
        "System maintenance: expire backups by the keep rules, clean up messages "
        "past retention, optimize the storage (orphaned objects past the grace "
        "period, unfinished writes, expired exports, a leftover staging schema, "
        "VACUUM/PRAGMA optimize) and validate the data. No step flag: all four. "
        "Each step's result is printed and recorded (Maintenance runs)."
    )

    def add_arguments(self, parser):
        for step in STEPS:
            flag = {"validate_data_integrity": "validate_integrity"}.get(step, step)
            parser.add_argument(
                f"--{flag.replace('_', '-')}", action="store_true", dest=step
            )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be done."
        )

    def handle(self, *args, **options):
        chosen = {step: options[step] for step in STEPS}
        if not any(chosen.values()):
            chosen = dict.fromkeys(STEPS, True)
        result = perform_system_maintenance(
            **chosen, dry_run=options["dry_run"], actor=ACTOR
        )
        lines = [
            f"Maintenance run {result['run']}"
            + (" (dry run)" if result["dry_run"] else "")
            + f": {result['status']}"
        ]
        for name, step in result["steps"].items():
            lines.append(f"  {name}: {step['status']} in {step['seconds']} s")
        self.emit(result, *lines)
        if result["status"] == "failed":
            failed = [n for n, s in result["steps"].items() if s["status"] == "failed"]
            raise CommandError(
                f"maintenance run {result['run']} failed: "
                + "; ".join(
                    f"{n}: {result['steps'][n]['result']['error']}" for n in failed
                )
            )
