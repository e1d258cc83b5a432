from __future__ import annotations

from backups.models import BackupSchedule
from backups.services.scheduling import DEFAULT_SCHEDULES, ensure_default_schedules
from backups.services.scheduling.schedules import next_run_of
from backups.services.scheduling.validation import schedule_timing
from talowa_admin.audit import record_audit_event
from talowa_admin.cli import TalowaCommand


class Command(TalowaCommand):
    help = (
        "Register the default schedules and bring every backup schedule's "
        "django-q2 schedule in step (idempotent: run at every deploy)."
    )

    def handle(self, *args, **options):
        outcome = ensure_default_schedules()
        changed = {
            k: v for k, v in outcome.items() if v != "ok" and not v.startswith("wait")
        }
        if changed:
            record_audit_event(
                actor="command:setup_schedules",
                action="schedules.setup",
                details=changed,
            )
        self.emit({"schedules": outcome}, *_lines(outcome))


def _lines(outcome: dict[str, str]) -> list[str]:
    described = {d.name: d.description for d in DEFAULT_SCHEDULES}
    for schedule in BackupSchedule.objects.all():
        when = schedule_timing(schedule).describe()
        next_run = next_run_of(schedule)
        described[schedule.name] = (
            f"{when}, next {next_run:%Y-%m-%d %H:%M %Z}" if next_run else "disabled"
        )
    return [
        f"{name}: {state}" + (f" ({described[name]})" if name in described else "")
        for name, state in outcome.items()
    ]
