"""How long data deleted now still lives in backups, under the current keep rules.

A backup's expiry is predicted from the keep rules that keep it today
(``backups.services.expiry.DEFAULT_KEEP``), assuming backups go on being taken
on schedule: a backup kept as a daily one leaves after ``keep_daily`` days, a
weekly one after ``keep_weekly`` weeks, a monthly one after ``keep_monthly``
months (31 days each). Kept only as one of the newest, under a legal hold or
for a kept incremental, its end cannot be predicted (None).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from backups.models import Backup
from backups.services.expiry import DEFAULT_KEEP, KeepRules, plan_expiry
from retention.types import BACKUP_DATA_TYPE, RETENTION_TYPES


def _rules() -> KeepRules:
    return KeepRules(**DEFAULT_KEEP)


def _spans(rules: KeepRules) -> dict[str, timedelta]:
    spans = {
        "daily": timedelta(days=rules.keep_daily),
        "weekly": timedelta(weeks=rules.keep_weekly),
        "monthly": timedelta(days=31 * rules.keep_monthly),
    }
    if rules.keep_within:
        spans["within"] = rules.keep_within
    return spans


def predicted_expiries(backups: list[Backup]) -> dict[str, datetime | None]:
    """Return when each completed backup leaves under the keep rules (None: unknown)."""
    rules = _rules()
    completed = list(Backup.objects.filter(status=Backup.Status.COMPLETED))
    plan = plan_expiry(completed, rules)
    spans = _spans(rules)
    now = timezone.now()
    result: dict[str, datetime | None] = {}
    for backup in backups:
        reasons = plan.keep.get(backup.id)
        if reasons is None:
            result[backup.id] = now  # the next expiry run removes it
            continue
        known = [spans[r] for r in reasons if r in spans]
        unknown = [r for r in reasons if r not in spans]
        if "legal hold" in unknown or not known:
            result[backup.id] = None
        else:
            result[backup.id] = backup.created_at + max(known)
    return result


def backups_holding_user_data(user: Any) -> list[dict]:
    """Return the completed backups that hold ``user``'s data and when each leaves."""
    backups = list(
        Backup.objects.filter(status=Backup.Status.COMPLETED)
        .filter(Q(scope=Backup.Scope.SYSTEM) | Q(scope=Backup.Scope.USER, owner=user))
        .order_by("-created_at")
    )
    expiries = predicted_expiries(backups)
    return [
        {
            "id": b.id,
            "created_at": b.created_at,
            "kind": b.kind,
            "scope": b.scope,
            "expires_at": expiries[b.id],
        }
        for b in backups
    ]


def backups_hold_until(holding: list[dict]) -> datetime | None:
    """Return when the last of ``holding`` leaves (None: none, or not predictable)."""
    if not holding or any(b["expires_at"] is None for b in holding):
        return None
    return max(b["expires_at"] for b in holding)


def backup_exposure() -> dict[str, dict]:
    """Per retention type: until when data deleted now still lives in backups."""
    backups = list(
        Backup.objects.filter(status=Backup.Status.COMPLETED).order_by("created_at")
    )
    expiries = predicted_expiries(backups)
    now = timezone.now()
    result = {}
    for rtype in RETENTION_TYPES:
        data_type = BACKUP_DATA_TYPE[rtype]
        holding = [b for b in backups if data_type in (b.data_types or [])]
        known = [expiries[b.id] for b in holding if expiries[b.id] is not None]
        until = max(known) if known else None
        result[rtype] = {
            "backups": len(holding),
            "oldest": holding[0].created_at if holding else None,
            "until": until,
            "days": max(0, (until - now).days) if until else None,
            "unpredictable": len(holding) - len(known),
        }
    return result
