"""Property: any data, backed up, then changed anyhow, restores to the backup."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backups.services import create_full_backup, create_incremental_backup
from messaging.models import CallRecord, Conversation, Message, Participant
from recovery.services.restoring import restore_from_backup
from tests.recovery.conftest import table_state

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
MESSAGES = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 2),
        TEXT,
        st.sampled_from(["regular", "group", "anonymous", "voice", "system"]),
    ),
    max_size=12,
)
CALLS = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.integers(0, 2),
        st.sampled_from(["completed", "missed", "rejected"]),
        st.integers(0, 5000),
    ),
    max_size=5,
)
CHANGES = st.lists(
    st.one_of(
        st.tuples(st.just("edit"), st.integers(0, 50), TEXT),
        st.tuples(st.just("delete_message"), st.integers(0, 50)),
        st.tuples(st.just("delete_conversation"), st.integers(0, 3)),
        st.tuples(st.just("add"), st.integers(0, 3), TEXT),
        st.tuples(st.just("delete_call"), st.integers(0, 10)),
    ),
    max_size=8,
)


def build(people, messages, calls) -> None:
    now = timezone.now()
    conversations = [
        Conversation.objects.create(kind="group", title=f"c{n}") for n in range(4)
    ]
    for conversation in conversations:
        for person in people:
            Participant.objects.create(
                conversation=conversation, user=person, joined_at=now
            )
    for conv, sender, body, kind in messages:
        Message.objects.create(
            conversation=conversations[conv],
            sender=None if kind == "system" else people[sender],
            kind=kind,
            body=body,
            metadata={"k": body[:5]},
        )
    for caller, callee, status, seconds in calls:
        if caller != callee:
            CallRecord.objects.create(
                caller=people[caller],
                callee=people[callee],
                status=status,
                started_at=now,
                duration_seconds=seconds if status == "completed" else 0,
            )


def change(people, changes) -> None:
    for step in changes:
        messages = list(Message.objects.order_by("id"))
        conversations = list(Conversation.objects.order_by("id"))
        if step[0] == "edit" and messages:
            target = messages[step[1] % len(messages)]
            target.body = step[2]
            target.save()
        elif step[0] == "delete_message" and messages:
            messages[step[1] % len(messages)].delete()
        elif step[0] == "delete_conversation" and conversations:
            conversations[step[1] % len(conversations)].delete()
        elif step[0] == "add" and conversations:
            Message.objects.create(
                conversation=conversations[step[1] % len(conversations)],
                sender=people[0],
                kind="regular",
                body=step[2],
            )
        elif step[0] == "delete_call":
            calls = list(CallRecord.objects.order_by("id"))
            if calls:
                calls[step[1] % len(calls)].delete()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    messages=MESSAGES,
    calls=CALLS,
    between=CHANGES,
    after=CHANGES,
    incremental=st.booleans(),
)
def test_restore_returns_to_the_backed_up_state(
    data_dir, messages, calls, between, after, incremental
):
    for model in (Message, CallRecord, Participant, Conversation):
        model.objects.all().delete()
    users = get_user_model().objects
    people = [users.get_or_create(username=f"p{n}")[0] for n in range(3)]
    build(people, messages, calls)
    backup_id = create_full_backup()
    if incremental:
        change(people, between)
        backup_id = create_incremental_backup()
    expected = table_state()
    change(people, after)
    restore_from_backup(
        backup_id, create_pre_restore_backup=False, validate_before_restore=False
    )
    assert table_state() == expected
