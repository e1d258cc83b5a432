from __future__ import annotations

from django.core.management.base import CommandError

from backups.selectors import newest_audit_anchor
from talowa_admin.audit import AuditAnchor, verify_audit_chain
from talowa_admin.cli import TalowaCommand


class Command(TalowaCommand):
    help = (
        "Check the audit trail's hash chain, and that it still reaches the head "
        "the newest backup recorded; exit non-zero if it was tampered with or "
        "cut short."
    )

    def handle(self, *args, **options):
        backup = newest_audit_anchor()
        anchor = None
        if backup is not None:
            anchor = AuditAnchor(
                event_id=backup.audit_head_event_id,
                hash=backup.audit_head_hash,
                source=f"backup {backup.id}",
            )
        result = verify_audit_chain(anchor)
        payload = {
            "ok": result.ok,
            "checked": result.checked,
            "broken_at": result.broken_at,
            "reason": result.reason,
            "anchor": _describe_anchor(backup),
            "missing": _describe_missing(result.missing),
        }
        if result.ok:
            anchored = (
                f", reaching entry {anchor.event_id} recorded by backup {backup.id}"
                if anchor
                else ""
            )
            self.emit(
                payload,
                f"Audit trail intact: {result.checked} entries checked{anchored}.",
            )
            return
        self.emit(payload)
        raise CommandError(
            f"audit trail broken at entry {result.broken_at}: {result.reason} "
            f"({result.checked} entries before it are intact)"
        )


def _describe_anchor(backup) -> dict | None:
    if backup is None:
        return None
    return {"backup": backup.id, **backup.audit_head}


def _describe_missing(missing: tuple[int, int] | None) -> dict | None:
    if missing is None:
        return None
    first, last = missing
    return {"first": first, "last": last, "count": last - first + 1}
