from __future__ import annotations

from django.core.management.base import CommandError

from talowa_admin.audit import verify_audit_chain
from talowa_admin.cli import TalowaCommand


class Command(TalowaCommand):
    help = "Check the audit trail's hash chain; exit non-zero if it was tampered with."

    def handle(self, *args, **options):
        result = verify_audit_chain()
        payload = {
            "ok": result.ok,
            "checked": result.checked,
            "broken_at": result.broken_at,
            "reason": result.reason,
        }
        if result.ok:
            self.emit(payload, f"Audit trail intact: {result.checked} entries checked.")
            return
        self.emit(payload)
        raise CommandError(
            f"audit trail broken at entry {result.broken_at}: {result.reason} "
            f"({result.checked} entries before it are intact)"
        )
