from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from messaging.models import (
    AccountChange,
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


def stored(model, pk) -> tuple[datetime, datetime]:
    return model.objects.values_list("created_at", "updated_at").get(pk=pk)


def recent(moment: datetime) -> bool:
    return abs(timezone.now() - moment) < timedelta(minutes=1)


# Each statement is its own transaction: PostgreSQL's now() moves between them.
@pytest.mark.django_db(transaction=True)
def test_the_database_stamps_updated_at_whatever_the_application_passes(chat, people):
    long_ago = timezone.now() - timedelta(days=30)
    message = Message.objects.create(
        conversation=chat,
        sender=people[0],
        kind="regular",
        body="నమస్కారం",
        created_at=long_ago,
        updated_at=long_ago,
    )
    created_at, inserted = stored(Message, message.pk)
    assert created_at == long_ago  # a creation time in the past is the app's
    assert recent(inserted)

    time.sleep(0.01)
    message.body = "नमस्ते"
    message.updated_at = long_ago
    message.save(update_fields=["body", "updated_at"])
    _, saved = stored(Message, message.pk)
    assert saved > inserted and recent(saved)

    time.sleep(0.01)
    Message.objects.filter(pk=message.pk).update(body="hello")  # updated_at untouched
    _, updated = stored(Message, message.pk)
    assert updated > saved and recent(updated)

    time.sleep(0.01)
    Message.objects.filter(pk=message.pk).update(updated_at=long_ago)
    _, rewound = stored(Message, message.pk)
    assert rewound > updated and recent(rewound)


@pytest.mark.django_db(transaction=True)
def test_every_messaging_table_takes_updated_at_from_the_database(chat, people):
    CallRecord.objects.create(
        caller=people[0], callee=people[1], status="missed", started_at=timezone.now()
    )
    MediaFile.objects.create(
        owner=people[0],
        name="a.txt",
        content_type="text/plain",
        size=1,
        sha256="a" * 64,
        file="aa/" + "a" * 64,
    )
    Message.objects.create(conversation=chat, sender=people[0], kind="regular")
    long_ago = timezone.now() - timedelta(days=30)
    for model in (Conversation, Participant, Message, CallRecord, MediaFile):
        assert model.objects.update(updated_at=long_ago) > 0
        assert not model.objects.filter(updated_at__lt=long_ago + timedelta(days=29))


@pytest.mark.django_db(transaction=True)
def test_a_new_row_is_not_created_after_the_database_stored_it(chat, people):
    ahead = timezone.now() + timedelta(hours=1)  # an application clock running fast
    message = Message.objects.create(
        conversation=chat, sender=people[0], kind="regular", created_at=ahead
    )
    created_at, updated_at = stored(Message, message.pk)
    assert created_at == updated_at and recent(updated_at)


@pytest.mark.django_db(transaction=True)
def test_account_changes_are_stamped_and_deletions_tombstoned(people):
    asha, ravi = people
    stamps = dict(AccountChange.objects.values_list("user_id", "updated_at"))
    assert set(stamps) >= {asha.id, ravi.id}
    time.sleep(0.01)
    get_user_model().objects.filter(pk=asha.pk).update(first_name="Asha")
    after = dict(AccountChange.objects.values_list("user_id", "updated_at"))
    assert after[asha.id] > stamps[asha.id] and recent(after[asha.id])
    assert after[ravi.id] == stamps[ravi.id]
    ravi_id = ravi.id
    ravi.delete()
    assert ("auth.user", ravi_id, ravi_id) in tombstones()


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
def test_migrate_puts_back_the_triggers_that_a_migration_dropped(chat, people):
    from django.core.management import call_command

    from messaging.triggers import missing_triggers

    assert missing_triggers(connection) == []
    postgresql = connection.vendor == "postgresql"
    dropped = {
        "messaging_message": "messaging_message_tombstone",
        "messaging_participant": (
            "messaging_participant_stamp"
            if postgresql
            else "messaging_participant_stamp_update"
        ),
        "auth_user": "auth_user_changed" if postgresql else "auth_user_changed_insert",
    }
    with connection.cursor() as cursor:  # as SQLite's table rebuild does
        for table, trigger in dropped.items():
            on = f" ON {table}" if postgresql else ""
            cursor.execute(f"DROP TRIGGER {trigger}{on}")
    assert {t.name for t in missing_triggers(connection)} == {
        "messaging_message_tombstone",
        "messaging_participant_stamp",
        "auth_user_changed",
    }

    call_command("migrate", verbosity=0)

    assert missing_triggers(connection) == []
    message = Message.objects.create(
        conversation=chat, sender=people[0], kind="regular"
    )
    message_id = message.id
    message.delete()
    # (earlier transactional tests may leave tombstones: flush deletes rows)
    assert ("messaging.message", message_id, people[0].id) in tombstones()
    long_ago = timezone.now() - timedelta(days=30)
    Participant.objects.update(updated_at=long_ago)
    assert not Participant.objects.filter(updated_at__lt=long_ago + timedelta(days=1))
    newcomer = get_user_model().objects.create_user("newcomer")
    assert AccountChange.objects.filter(user_id=newcomer.id).exists()
