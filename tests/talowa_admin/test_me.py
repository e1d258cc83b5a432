from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import CallRecord, Conversation, Message, Participant

pytestmark = pytest.mark.django_db


def test_login_required(client):
    response = client.get(reverse("me"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_user_sees_only_their_own_counts(client, django_user_model):
    asha = django_user_model.objects.create_user("asha", password="x" * 12)
    ravi = django_user_model.objects.create_user("ravi", password="x" * 12)
    chat = Conversation.objects.create(kind="direct")
    for user in (asha, ravi):
        Participant.objects.create(
            conversation=chat, user=user, joined_at=timezone.now()
        )
    for n in range(3):
        Message.objects.create(
            conversation=chat, sender=asha, kind="regular", body=f"{n}"
        )
    Message.objects.create(conversation=chat, sender=ravi, kind="regular", body="hi")
    CallRecord.objects.create(
        caller=ravi, callee=asha, status="missed", started_at=timezone.now()
    )
    client.force_login(asha)
    page = client.get(reverse("me"))
    assert page.status_code == 200
    counts = page.context["counts"]
    assert counts == {
        "messages": 3,
        "conversations": 1,
        "call_history": 1,
        "media_files": 0,
    }
    assert b'data-type="messages">3<' in page.content


def test_root_redirects_to_my_data(client):
    assert client.get("/").headers["Location"] == reverse("me")


def test_counts_are_those_the_orm_gives_for_every_user(django_user_model):
    from django.db.models import Q

    from messaging.models import MediaFile
    from messaging.selectors import user_data_counts

    asha, ravi, meena, idle = (
        django_user_model.objects.create_user(name)
        for name in ["asha", "ravi", "meena", "idle"]
    )
    now = timezone.now()
    chats = [Conversation.objects.create(kind="group") for _ in range(3)]
    for chat, members in zip(
        chats, [(asha, ravi), (asha, meena), (asha, ravi, meena)], strict=True
    ):
        for user in members:
            Participant.objects.create(conversation=chat, user=user, joined_at=now)
        for n, user in enumerate(members):
            Message.objects.create(
                conversation=chat, sender=user, kind="regular", body=f"{n}"
            )
    for caller, callee in [(asha, ravi), (ravi, asha), (meena, ravi)]:
        CallRecord.objects.create(
            caller=caller, callee=callee, status="missed", started_at=now
        )
    MediaFile.objects.create(
        owner=meena,
        name="a.png",
        content_type="image/png",
        size=1,
        sha256="0" * 64,
        file="x",
    )
    for user in (asha, ravi, meena, idle):
        assert user_data_counts(user=user) == {
            "messages": Message.objects.filter(sender=user).count(),
            "conversations": Conversation.objects.filter(
                participants__user=user
            ).count(),
            "call_history": CallRecord.objects.filter(
                Q(caller=user) | Q(callee=user)
            ).count(),
            "media_files": MediaFile.objects.filter(owner=user).count(),
        }
    assert user_data_counts(user=asha) == {
        "messages": 3,
        "conversations": 3,
        "call_history": 2,
        "media_files": 0,
    }
    assert set(user_data_counts(user=idle).values()) == {0}
