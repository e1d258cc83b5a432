from __future__ import annotations

import sys

from recovery.services.health import check_system_health, exit_code
from talowa_admin.cli import TalowaCommand


class Command(TalowaCommand):
    help = (
        "Check every component (database, backup storage, workers, backups, "
        "verification, restore drills, keys, space, retention, failed tasks, "
        "audit trail), "
        "store the result and send the alerts that are due. Exit status: 0 "
        "healthy, 1 degraded, 2 unhealthy."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-record",
            action="store_false",
            dest="record",
            help="Do not store the result or send alerts.",
        )

    def handle(self, *args, **options):
        result = check_system_health(record=options["record"])
        lines = [f"Overall: {result['overall']}"]
        for name, component in result["components"].items():
            lines.append(f"  {name}: {component['status']}: {component['detail']}")
        lines += [f"- {advice}" for advice in result["recommendations"]]
        self.emit(result, *lines)
        code = exit_code(result["overall"])
        if code:
            unwell = [
                f"{name} {c['status']}"
                for name, c in result["components"].items()
                if c["status"] != "healthy"
            ]
            self.stderr.write(f"system is {result['overall']}: {', '.join(unwell)}")
            sys.exit(code)
