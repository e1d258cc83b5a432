"""Read-only queries over the messaging data."""

from __future__ import annotations

from django.db.models import Q

from messaging.models import CallRecord, Conversation, MediaFile, Message


def user_data_counts(*, user) -> dict[str, int]:
    """Count what the platform holds about one user, per export data type."""
    return {
        "messages": Message.objects.filter(sender=user).count(),
        "conversations": Conversation.objects.filter(participants__user=user).count(),
        "call_history": CallRecord.objects.filter(
            Q(caller=user) | Q(callee=user)
        ).count(),
        "media_files": MediaFile.objects.filter(owner=user).count(),
    }
