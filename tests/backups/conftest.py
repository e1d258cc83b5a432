"""A small messaging world to back up, and helpers to read archives back."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from messaging.models import CallRecord, Conversation, MediaFile, Message, Participant

TELUGU = "భూమి హక్కుల సమావేశం రేపు ఉదయం పది గంటలకు"
HINDI = "ज़मीन के काग़ज़ात कल तक जमा करने हैं 🙏"
SECRET_BODY = "the-plaintext-canary-4f1c9e"
MEDIA_BYTES = b"\x89PNG\r\n\x1a\n" + b"media-canary-77aa" * 64


@dataclass
class World:
    asha: Any
    ravi: Any
    meena: Any
    direct: Conversation
    group: Conversation


def add_media(
    owner,
    data: bytes,
    *,
    name: str = "photo.png",
    content_type: str = "image/png",
    message=None,
) -> MediaFile:
    digest = hashlib.sha256(data).hexdigest()
    path = f"{digest[:2]}/{digest}"
    media = storages["media"]
    if not media.exists(path):
        media.save(path, ContentFile(data))
    return MediaFile.objects.create(
        owner=owner,
        message=message,
        name=name,
        content_type=content_type,
        size=len(data),
        sha256=digest,
        file=path,
    )


@pytest.fixture
def world(data_dir, make_user) -> World:
    asha, ravi, meena = make_user("asha"), make_user("ravi"), make_user("meena")
    now = timezone.now()
    direct = Conversation.objects.create(kind="direct")
    group = Conversation.objects.create(
        kind="group", title="Village council", created_by=asha
    )
    for user in (asha, ravi):
        Participant.objects.create(conversation=direct, user=user, joined_at=now)
    for user in (asha, ravi, meena):
        Participant.objects.create(conversation=group, user=user, joined_at=now)
    Message.objects.create(
        conversation=direct, sender=asha, kind="regular", body=TELUGU
    )
    Message.objects.create(
        conversation=direct,
        sender=ravi,
        kind="regular",
        body=SECRET_BODY,
        metadata={"client": "android"},
    )
    Message.objects.create(conversation=group, sender=meena, kind="group", body=HINDI)
    Message.objects.create(
        conversation=group, sender=None, kind="system", body="meena joined"
    )
    voice = Message.objects.create(conversation=group, sender=asha, kind="voice")
    add_media(asha, MEDIA_BYTES, message=voice)
    add_media(ravi, b"%PDF-1.4 tiny", name="deed.pdf", content_type="application/pdf")
    CallRecord.objects.create(
        caller=asha,
        callee=ravi,
        status="completed",
        started_at=now - timedelta(hours=1),
        duration_seconds=95,
    )
    CallRecord.objects.create(
        caller=ravi, callee=meena, status="missed", started_at=now
    )
    return World(asha, ravi, meena, direct, group)


def drain_queue() -> int:
    """Run every task waiting in the ORM broker's queue, as a worker would.

    For tests that let django-q2's real scheduler queue a task: the task runs
    through django-q2's own worker and monitor functions, in this process.
    """
    from django_q.brokers import get_broker
    from django_q.tasks import _sync

    broker = get_broker()
    done = 0
    while tasks := broker.dequeue():
        for ack_id, payload in tasks:
            _sync(payload)
            broker.acknowledge(ack_id)
            done += 1
    return done
