"""The audit trail's anchor: every backup records its head, verification checks it.

Deleting the newest entries and rewinding the chain head leaves a consistent,
only shorter chain; the head recorded by the newest backup gives it away.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from backups.models import Backup
from backups.services import create_full_backup
from backups.services.discovery import stored_manifests
from talowa_admin.audit import record_audit_event, verify_audit_chain
from talowa_admin.models import AuditEvent

# Backups refuse to run inside a test's transaction on SQLite.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def trail(django_user_model):
    actor = django_user_model.objects.create_user("auditor", password="x" * 12)
    for n in range(5):
        record_audit_event(actor=actor, action="settings.change", details={"n": n})
    return actor


def _sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def anchored(trail, data_dir) -> Backup:
    """The five-entry trail, then a backup that records its head."""
    return Backup.objects.get(pk=create_full_backup())


def _cut_trail(*, keep: int) -> None:
    """Delete the entries after ``keep`` and rewind the head, as a forger would."""
    kept = AuditEvent.objects.get(id=keep)
    _sql("DELETE FROM talowa_admin_auditevent WHERE id > %s", [keep])
    _sql(
        "UPDATE talowa_admin_auditchainhead SET last_event_id = %s, last_hash = %s",
        [keep, kept.entry_hash],
    )


def _stored_manifest(backup_id: str) -> dict:
    (manifest,) = [m for m in stored_manifests() if m["backup_id"] == backup_id]
    return manifest


def test_a_backup_records_the_head_in_its_manifest_and_the_catalog(anchored):
    head = AuditEvent.objects.get(id=anchored.audit_head_event_id)
    expected = {"event_id": head.id, "hash": head.entry_hash}
    assert anchored.audit_head == expected
    assert _stored_manifest(anchored.id)["audit_head"] == expected
    # The backup's own entry comes after the head it recorded.
    created = AuditEvent.objects.get(action="backup.create", target_id=anchored.id)
    assert created.id > head.id


def test_a_backup_of_an_empty_trail_records_no_head(data_dir):
    backup = Backup.objects.get(pk=create_full_backup())
    assert backup.audit_head is None
    assert _stored_manifest(backup.id)["audit_head"] is None
    assert verify_audit_chain().ok
    call_command("verify_audit_log", stdout=io.StringIO())


def test_deleting_the_newest_entries_and_rewinding_the_head_is_caught(anchored):
    anchor = anchored.audit_head_event_id
    _cut_trail(keep=3)
    assert verify_audit_chain().ok  # the chain alone is consistent, only shorter

    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit_log", "--json", stdout=out)
    message = str(caught.value)
    assert f"backup {anchored.id} recorded entry {anchor}" in message
    assert f"entries 4-{anchor} ({anchor - 3}) are missing" in message
    assert "ends at entry 3" in message
    payload = json.loads(out.getvalue())
    assert payload["ok"] is False and payload["broken_at"] == 4
    assert payload["missing"] == {"first": 4, "last": anchor, "count": anchor - 3}
    assert payload["anchor"] == {"backup": anchored.id, **anchored.audit_head}


def test_a_trail_cut_and_written_anew_past_the_anchor_is_caught(anchored, trail):
    anchor = anchored.audit_head_event_id
    _cut_trail(keep=3)
    for n in range(anchor):  # new entries take the ids of the deleted ones
        record_audit_event(actor=trail, action="settings.change", details={"n": n})
    assert verify_audit_chain().ok

    with pytest.raises(CommandError, match=f"entry {anchor} is not the one backup"):
        call_command("verify_audit_log", stdout=io.StringIO())


def test_an_intact_trail_reaches_the_anchor(anchored):
    record_audit_event(action="settings.change")
    out = io.StringIO()
    call_command("verify_audit_log", stdout=out)
    assert f"reaching entry {anchored.audit_head_event_id}" in out.getvalue()


def test_the_catalog_rebuilt_from_storage_gets_the_anchor_back(anchored):
    head = anchored.audit_head
    Backup.objects.filter(pk=anchored.pk).delete()
    call_command(
        "list_backups", "--from-storage", "--rebuild-catalog", stdout=io.StringIO()
    )
    assert Backup.objects.get(pk=anchored.pk).audit_head == head

    _cut_trail(keep=3)
    with pytest.raises(CommandError, match=f"backup {anchored.id} recorded"):
        call_command("verify_audit_log", stdout=io.StringIO())
