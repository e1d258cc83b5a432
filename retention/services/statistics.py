"""Cleanup statistics per retention type, for the brief and the admin."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Min
from django.utils import timezone

from messaging.models import CallRecord, MediaFile, Message
from retention.models import CleanupRun
from retention.services.cleanup import count_expired
from retention.types import CALL, MESSAGE, RETENTION_TYPES, TYPE_RULES


def _oldest(rtype: str):
    rule = TYPE_RULES[rtype]
    if rule.table == MESSAGE:
        qs = Message.objects.filter(kind__in=rule.values)
    elif rule.table == CALL:
        qs = CallRecord.objects.filter(status__in=rule.values)
    else:
        qs = MediaFile.objects.all()
    return qs.aggregate(oldest=Min(rule.age_column))["oldest"]


def get_cleanup_statistics() -> dict[str, Any]:
    """Return, per type: deleted in the last run, last 30 days, total, now
    eligible, oldest remaining; and the last run."""
    real = CleanupRun.objects.filter(dry_run=False)
    last = real.exclude(status=CleanupRun.Status.RUNNING).first()
    since = timezone.now() - timedelta(days=30)
    month = dict.fromkeys(RETENTION_TYPES, 0)
    total = dict.fromkeys(RETENTION_TYPES, 0)
    for started_at, counts in real.values_list("started_at", "counts"):
        for rtype, n in (counts or {}).items():
            if rtype in total:
                total[rtype] += n
                if started_at >= since:
                    month[rtype] += n
    eligible = count_expired()
    types = {
        rtype: {
            "last_run": (last.counts or {}).get(rtype, 0) if last else 0,
            "last_30_days": month[rtype],
            "total": total[rtype],
            "eligible_now": eligible[rtype],
            "oldest_remaining": _oldest(rtype),
        }
        for rtype in RETENTION_TYPES
    }
    return {
        "types": types,
        "last_run": (
            {
                "id": last.pk,
                "started_at": last.started_at,
                "status": last.status,
                "seconds": last.seconds,
            }
            if last
            else None
        ),
    }
