from __future__ import annotations

from backups.services.scheduling import DEFAULT_SCHEDULES, ensure_default_schedules
from talowa_admin.audit import record_audit_event
from talowa_admin.cli import TalowaCommand


class Command(TalowaCommand):
    help = "Register the default django-q2 schedules (idempotent: run at every deploy)."

    def handle(self, *args, **options):
        outcome = ensure_default_schedules()
        changed = {k: v for k, v in outcome.items() if v != "ok"}
        if changed:
            record_audit_event(
                actor="command:setup_schedules",
                action="schedules.setup",
                details=changed,
            )
        described = {d.name: d.description for d in DEFAULT_SCHEDULES}
        self.emit(
            {"schedules": outcome},
            *(
                f"{name}: {state} ({described[name]})"
                for name, state in outcome.items()
            ),
        )
