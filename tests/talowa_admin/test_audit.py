from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import RequestFactory

from talowa_admin.audit import record_audit_event, verify_audit_chain
from talowa_admin.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(django_user_model):
    actor = django_user_model.objects.create_user("auditor", password="x" * 12)
    for n in range(5):
        record_audit_event(
            actor=actor,
            action="backup.create",
            target=("backups.backup", f"backup_{n}"),
            details={"n": n, "text": "తెలుగు हिन्दी 🙂"},
        )
    return actor


def test_entries_chain_and_verify(trail):
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.id for e in events] == [1, 2, 3, 4, 5]
    for before, after in zip(events, events[1:], strict=False):
        assert after.previous_hash == before.entry_hash
    result = verify_audit_chain()
    assert result.ok
    assert result.checked == 5


def test_request_supplies_actor_and_source_address(django_user_model):
    user = django_user_model.objects.create_user("web", password="x" * 12)
    request = RequestFactory().post("/admin/", REMOTE_ADDR="203.0.113.9")
    request.user = user
    event = record_audit_event(action="export.download", request=request)
    assert event.actor == user
    assert event.actor_label == "web"
    assert event.source_address == "203.0.113.9"


def test_actor_label_survives_user_deletion(trail):
    trail.delete()
    assert AuditEvent.objects.filter(actor_label="auditor").count() == 5
    assert verify_audit_chain().ok


def _sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_raw_sql_edit_is_caught(trail):
    _sql("UPDATE talowa_admin_auditevent SET action = %s WHERE id = 3", ["x.y"])
    result = verify_audit_chain()
    assert not result.ok
    assert result.broken_at == 3
    assert "altered" in result.reason


def test_raw_sql_delete_in_the_middle_is_caught(trail):
    _sql("DELETE FROM talowa_admin_auditevent WHERE id = 2")
    result = verify_audit_chain()
    assert not result.ok
    assert "entry 2 is missing" in result.reason


def test_raw_sql_delete_of_newest_is_caught(trail):
    _sql("DELETE FROM talowa_admin_auditevent WHERE id = 5")
    result = verify_audit_chain()
    assert not result.ok
    assert "newest entries were deleted" in result.reason


def test_raw_sql_insert_is_caught(trail):
    newest = AuditEvent.objects.get(id=5)
    _sql(
        "INSERT INTO talowa_admin_auditevent (id, created_at, actor_label, action,"
        " target_type, target_id, details, previous_hash, entry_hash)"
        " VALUES (6, %s, 'mallory', 'restore.run', '', '', '{}', %s, %s)",
        [newest.created_at, newest.entry_hash, "f" * 64],
    )
    _sql("UPDATE talowa_admin_auditchainhead SET last_event_id = 6")
    result = verify_audit_chain()
    assert not result.ok
    assert result.broken_at == 6


def test_verify_command_reports_the_break(trail):
    _sql("UPDATE talowa_admin_auditevent SET details = %s WHERE id = 4", ['{"n": 9}'])
    out = io.StringIO()
    with pytest.raises(CommandError, match="broken at entry 4"):
        call_command("verify_audit_log", "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["ok"] is False
    assert payload["broken_at"] == 4


def test_verify_command_on_an_intact_trail(trail):
    out = io.StringIO()
    call_command("verify_audit_log", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {
        "ok": True,
        "checked": 5,
        "broken_at": None,
        "reason": "",
        "anchor": None,
        "missing": None,
    }
