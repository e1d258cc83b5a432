"""Erasure on request, the preview of a policy change, and backups holding data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import storages
from django.utils import timezone

from messaging.models import CallRecord, MediaFile, Message
from retention.exceptions import InvalidRetentionPolicy, LegalHoldActive
from retention.models import ArchiveBatch, LegalBound, LegalHold
from retention.services import (
    backups_holding_user_data,
    erase_user_data,
    preview_policy_change,
)
from talowa_admin.models import AuditEvent
from tests.retention.conftest import add_media, aged_call, aged_message

pytestmark = pytest.mark.django_db


def test_erasure_of_call_history_removes_calls_made_and_received(people):
    w = people
    made = aged_call(w.asha, w.ravi)
    received = aged_call(w.meena, w.asha)
    missed = aged_call(w.ravi, w.asha, status="missed")
    others = aged_call(w.ravi, w.meena)
    result = erase_user_data(user=w.asha, retention_types=["call_history"])
    assert result["deleted"] == {"call_history": 2}
    left = set(CallRecord.objects.values_list("id", flat=True))
    assert left == {missed.pk, others.pk}
    batch = ArchiveBatch.objects.get(pk=result["batch"])
    assert batch.reason == "erasure" and batch.purged_at is not None
    assert AuditEvent.objects.filter(action="retention.erasure").exists()
    assert made.pk not in left and received.pk not in left


def test_erasure_of_media_deletes_the_bytes_nobody_else_names(people):
    w = people
    mine = add_media(w.asha, b"asha-only")
    shared = add_media(w.asha, b"both-have")
    theirs = add_media(w.ravi, b"both-have")
    erase_user_data(user=w.asha, retention_types=["media_files"])
    assert set(MediaFile.objects.values_list("id", flat=True)) == {theirs.pk}
    media = storages["media"]
    assert not media.exists(mine.file.name)
    assert media.exists(shared.file.name)


def test_erasure_is_refused_under_a_legal_hold(people):
    w = people
    aged_message(w.direct, w.asha)
    LegalHold.objects.create(user=w.asha, reason="court order")
    with pytest.raises(LegalHoldActive, match="legal hold"):
        erase_user_data(user=w.asha, retention_types=["regular_messages"])
    assert Message.objects.count() == 1


def test_erasure_keeps_what_the_law_must_keep_and_held_conversations(people):
    w = people
    aged_message(w.direct, w.asha, days=2)
    old = aged_message(w.direct, w.asha, days=20)
    in_held = aged_message(w.group, w.asha, kind="group", days=20)
    LegalBound.objects.create(retention_type="regular_messages", min_days=7)
    LegalHold.objects.create(conversation=w.group, reason="inquiry")
    result = erase_user_data(
        user=w.asha, retention_types=["regular_messages", "group_messages"]
    )
    assert result["deleted"] == {"regular_messages": 1, "group_messages": 0}
    assert not Message.objects.filter(pk=old.pk).exists()
    assert Message.objects.filter(pk=in_held.pk).exists()


def test_erasure_refuses_unknown_types(people):
    with pytest.raises(InvalidRetentionPolicy, match="unknown: messages"):
        erase_user_data(user=people.asha, retention_types=["messages"])


def test_preview_counts_what_saving_would_delete_now(people):
    w = people
    for days in (5, 15, 25):
        aged_message(w.direct, w.asha, days=days)
    aged_message(w.direct, w.ravi, days=25)
    counts = preview_policy_change(
        entity_id=w.asha.pk,
        entity_type="user",
        retention_periods={"regular_messages": 10},
    )
    assert counts["regular_messages"] == 2
    assert sum(counts.values()) == 2
    assert Message.objects.count() == 4
    with pytest.raises(InvalidRetentionPolicy):
        preview_policy_change(
            entity_id=w.asha.pk,
            entity_type="user",
            retention_periods={"regular_messages": 0},
        )


def test_backups_holding_user_data_lists_system_and_own_backups(people, data_dir):
    from backups.models import Backup

    w = people
    now = timezone.now()
    system = Backup.objects.create(
        kind="full", scope="system", status="completed", created_at=now
    )
    own = Backup.objects.create(
        kind="full",
        scope="user",
        owner=w.asha,
        status="completed",
        created_at=now - timedelta(days=1),
    )
    Backup.objects.create(kind="full", scope="user", owner=w.ravi, status="completed")
    holding = backups_holding_user_data(w.asha)
    assert [b["id"] for b in holding] == [system.id, own.id]
    assert all(b["expires_at"] is None or b["expires_at"] > now for b in holding)
