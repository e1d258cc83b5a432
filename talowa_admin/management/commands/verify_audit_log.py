from __future__ import annotations

from django.core.management.base import CommandError

from talowa_admin.cli import TalowaCommand
from talowa_admin.services import verify_audit_log


class Command(TalowaCommand):
    help = (
        "Check the audit trail's hash chain, and that it still reaches the head "
        "the newest backup recorded; exit non-zero if it was tampered with or "
        "cut short."
    )

    def handle(self, *args, **options):
        payload = verify_audit_log()
        anchor = payload["anchor"]
        if payload["ok"]:
            anchored = (
                f", reaching entry {anchor['event_id']} recorded by backup "
                f"{anchor['backup']}"
                if anchor
                else ""
            )
            self.emit(
                payload,
                f"Audit trail intact: {payload['checked']} entries checked{anchored}.",
            )
            return
        self.emit(payload)
        raise CommandError(
            f"audit trail broken at entry {payload['broken_at']}: "
            f"{payload['reason']} ({payload['checked']} entries before it are intact)"
        )
