from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from messaging.models import (
    CallRecord,
    Conversation,
    MediaFile,
    Message,
    Participant,
    Tombstone,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(django_user_model):
    return (
        django_user_model.objects.create_user("asha", password="x" * 12),
        django_user_model.objects.create_user("ravi", password="x" * 12),
    )


@pytest.fixture
def chat(people):
    chat = Conversation.objects.create(kind="direct")
    for user in people:
        Participant.objects.create(
            conversation=chat, user=user, joined_at=timezone.now()
        )
    return chat


def refused(**fields):
    model = fields.pop("model")
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(**fields)


def test_timestamps_are_set_and_updated_at_moves(chat, people):
    message = Message.objects.create(
        conversation=chat, sender=people[0], kind="regular", body="నమస్కారం"
    )
    assert message.created_at == message.updated_at
    first = message.updated_at
    message.body = "नमस्ते"
    message.is_edited = True
    message.save(update_fields=["body", "is_edited"])
    message.refresh_from_db()
    assert message.updated_at > first
    assert message.created_at < message.updated_at
    assert message.body == "नमस्ते"


def test_constraints(chat, people):
    asha, ravi = people
    now = timezone.now()
    refused(model=Conversation, kind="channel")
    refused(model=Message, conversation=chat, sender=asha, kind="sticker")
    refused(model=Message, conversation=chat, sender=None, kind="regular")
    refused(model=Participant, conversation=chat, user=asha, joined_at=now)
    refused(model=CallRecord, caller=asha, callee=asha, status="missed", started_at=now)
    refused(
        model=CallRecord,
        caller=asha,
        callee=ravi,
        status="missed",
        started_at=now,
        duration_seconds=30,
    )
    refused(
        model=CallRecord, caller=asha, callee=ravi, status="dropped", started_at=now
    )
    refused(
        model=MediaFile,
        owner=asha,
        name="a.png",
        content_type="image/png",
        size=1,
        sha256="not-a-hash",
        file="x",
    )
    Message.objects.create(conversation=chat, sender=None, kind="system", body="joined")
    CallRecord.objects.create(
        caller=asha,
        callee=ravi,
        status="completed",
        started_at=now,
        duration_seconds=30,
    )


def tombstones():
    return sorted(Tombstone.objects.values_list("model", "object_id", "owner_id"))


def test_every_delete_path_leaves_a_tombstone(chat, people):
    asha, ravi = people
    messages = [
        Message.objects.create(
            conversation=chat, sender=asha, kind="regular", body=str(n)
        )
        for n in range(4)
    ]
    ids = [m.id for m in messages]
    messages[0].delete()
    Message.objects.filter(id=messages[1].id).delete()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM messaging_message WHERE id = %s", [messages[2].id])
    assert tombstones() == [("messaging.message", i, asha.id) for i in ids[:3]]
    assert all(t.deleted_at <= timezone.now() for t in Tombstone.objects.all())


def test_cascades_leave_tombstones_for_every_row(chat, people):
    asha, ravi = people
    message = Message.objects.create(conversation=chat, sender=ravi, kind="regular")
    participants = list(chat.participants.values_list("id", "user_id"))
    chat_id = chat.id
    chat.delete()
    assert tombstones() == sorted(
        [
            ("messaging.conversation", chat_id, None),
            ("messaging.message", message.id, ravi.id),
        ]
        + [("messaging.participant", pid, uid) for pid, uid in participants]
    )


def test_deleting_a_user_tombstones_their_data(chat, people):
    asha, ravi = people
    call = CallRecord.objects.create(
        caller=asha, callee=ravi, status="missed", started_at=timezone.now()
    )
    media = MediaFile.objects.create(
        owner=asha,
        name="a.txt",
        content_type="text/plain",
        size=1,
        sha256="a" * 64,
        file="aa/" + "a" * 64,
    )
    asha_id = asha.id
    asha.delete()
    found = tombstones()
    assert ("messaging.callrecord", call.id, asha_id) in found
    assert ("messaging.mediafile", media.id, asha_id) in found


@pytest.mark.django_db(transaction=True)
def test_migrate_puts_back_a_tombstone_trigger_that_a_migration_dropped(chat, people):
    from django.core.management import call_command

    from messaging.triggers import missing_tombstone_triggers

    assert missing_tombstone_triggers(connection) == []
    with connection.cursor() as cursor:  # as SQLite's table rebuild does
        if connection.vendor == "postgresql":
            cursor.execute(
                "DROP TRIGGER messaging_message_tombstone ON messaging_message"
            )
        else:
            cursor.execute("DROP TRIGGER messaging_message_tombstone")
    assert missing_tombstone_triggers(connection) == ["messaging_message"]

    call_command("migrate", verbosity=0)

    assert missing_tombstone_triggers(connection) == []
    message = Message.objects.create(
        conversation=chat, sender=people[0], kind="regular"
    )
    message_id = message.id
    message.delete()
    # (earlier transactional tests may leave tombstones: flush deletes rows)
    assert ("messaging.message", message_id, people[0].id) in tombstones()
