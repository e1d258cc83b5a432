"""The audit log's "Verify the chain" button: who may press it and what it shows."""

from __future__ import annotations

import pytest
from django.urls import reverse

from talowa_admin.audit import record_audit_event
from talowa_admin.models import AuditEvent
from talowa_admin.roles import BACKUP_OPERATOR, BACKUP_VIEWER, RECOVERY_ADMIN

pytestmark = pytest.mark.django_db

VERIFY = "admin:talowa_admin_auditevent_verify"


@pytest.mark.parametrize("role", [BACKUP_OPERATOR, RECOVERY_ADMIN])
def test_the_chain_is_verified_from_the_audit_log(client, role_user, role):
    for _ in range(3):
        record_audit_event(action="backup.create")
    client.force_login(role_user(role))
    listing = client.get(reverse("admin:talowa_admin_auditevent_changelist"))
    assert b'id="verify-audit-chain"' in listing.content
    page = client.post(reverse(VERIFY))
    content = page.content.decode()
    assert page.status_code == 200
    assert 'data-ok="true"' in content
    assert "3 entries checked" in content
    event = AuditEvent.objects.get(action="audit.verify")
    assert event.details == {"ok": True, "checked": 3, "broken_at": None}


def test_a_tampered_entry_is_shown_as_broken(client, role_user):
    for _ in range(3):
        record_audit_event(action="backup.create")
    second = AuditEvent.objects.order_by("id")[1]
    AuditEvent.objects.filter(pk=second.pk).update(action="backup.restore")
    client.force_login(role_user(BACKUP_OPERATOR))
    content = client.post(reverse(VERIFY)).content.decode()
    assert 'data-ok="false"' in content
    assert f"broken at entry {second.pk}" in content


def test_viewers_cannot_verify_the_chain(client, role_user):
    client.force_login(role_user(BACKUP_VIEWER))
    assert client.post(reverse(VERIFY)).status_code == 403
    assert not AuditEvent.objects.filter(action="audit.verify").exists()
