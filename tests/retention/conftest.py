from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import CallRecord, Conversation, Message, Participant
from tests.backups.conftest import World, add_media, world  # noqa: F401


def aged_message(conversation, sender, *, kind="regular", days=0, body="hello"):
    """Create a message written ``days`` days ago."""
    message = Message.objects.create(
        conversation=conversation, sender=sender, kind=kind, body=body
    )
    when = timezone.now() - timedelta(days=days)
    Message.objects.filter(pk=message.pk).update(created_at=when, updated_at=when)
    message.refresh_from_db()
    return message


def aged_call(caller, callee, *, status="completed", days=0):
    when = timezone.now() - timedelta(days=days)
    return CallRecord.objects.create(
        caller=caller,
        callee=callee,
        status=status,
        started_at=when,
        duration_seconds=30 if status == "completed" else 0,
    )


@pytest.fixture
def people(make_user, data_dir):
    """Three users, a direct and a group conversation, and no rows yet."""
    asha, ravi, meena = make_user("asha"), make_user("ravi"), make_user("meena")
    now = timezone.now()
    direct = Conversation.objects.create(kind="direct")
    group = Conversation.objects.create(kind="group", title="Council")
    for conv, users in ((direct, (asha, ravi)), (group, (asha, ravi, meena))):
        for user in users:
            Participant.objects.create(conversation=conv, user=user, joined_at=now)
    return World(asha, ravi, meena, direct, group)


__all__ = ["aged_call", "aged_message", "add_media", "people", "world"]
