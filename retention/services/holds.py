"""Legal holds and legal bounds: placed, changed and released, always audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from retention.models import LegalBound, LegalHold
from talowa_admin.audit import record_audit_event

HOLD_FIELDS = ("user", "conversation", "reason", "until", "released_at")


def save_legal_hold(
    *, hold: LegalHold, actor: Any = None, request: Any = None
) -> LegalHold:
    """Validate and save a new or changed hold; record who did what."""
    is_new = hold.pk is None
    before = {}
    if not is_new:
        old = LegalHold.objects.get(pk=hold.pk)
        before = {f: str(getattr(old, f)) for f in HOLD_FIELDS}
    if is_new and hasattr(actor, "get_username"):
        hold.created_by = actor
    hold.full_clean()
    with transaction.atomic():
        hold.save()
    after = {f: str(getattr(hold, f)) for f in HOLD_FIELDS}
    record_audit_event(
        actor=actor,
        action="retention.hold_place" if is_new else "retention.hold_change",
        target=hold,
        details={"from": before, "to": after} if before else after,
        request=request,
    )
    return hold


def release_legal_hold(
    *, hold: LegalHold, actor: Any = None, request: Any = None
) -> LegalHold:
    """End a hold now."""
    hold.released_at = timezone.now()
    return save_legal_hold(hold=hold, actor=actor, request=request)


def save_legal_bound(
    *, bound: LegalBound, actor: Any = None, request: Any = None
) -> LegalBound:
    """Validate and save a type's legal minimum and maximum; audited."""
    bound.full_clean()
    bound.updated_at = timezone.now()
    if hasattr(actor, "get_username"):
        bound.updated_by = actor
    bound.save()
    record_audit_event(
        actor=actor,
        action="retention.bound_change",
        target=bound,
        details={
            "type": bound.retention_type,
            "min_days": bound.min_days,
            "max_days": bound.max_days,
        },
        request=request,
    )
    return bound
