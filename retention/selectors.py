"""Read-only queries over retention policies and legal holds."""

from __future__ import annotations

from retention.models import LegalHold


def users_under_legal_hold() -> set[int]:
    """Return the ids of users with an active legal hold of their own."""
    return set(
        LegalHold.objects.filter(LegalHold.active_q(), user__isnull=False).values_list(
            "user_id", flat=True
        )
    )


def has_active_legal_hold(*, user_id: int) -> bool:
    return LegalHold.objects.filter(LegalHold.active_q(), user_id=user_id).exists()
