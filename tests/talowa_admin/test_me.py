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
