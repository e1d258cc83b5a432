"""The restore flow in the admin: confirmation with a dry run, the run, rollback."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from backups.services import create_full_backup
from messaging.models import Message
from recovery.models import RecoveryRun
from talowa_admin.roles import BACKUP_OPERATOR, RECOVERY_ADMIN
from tests.backups.conftest import TELUGU
from tests.recovery.conftest import table_state

pytestmark = pytest.mark.django_db(transaction=True)


def test_recovery_admin_restores_and_rolls_back(client, role_user, world, sync_tasks):
    backup_id = create_full_backup()
    expected = table_state()
    Message.objects.filter(body=TELUGU).update(body="changed")
    changed = table_state()
    admin = role_user(RECOVERY_ADMIN)
    client.force_login(admin)

    action = client.post(
        reverse("admin:backups_backup_changelist"),
        {"action": "restore_selected", ACTION_CHECKBOX_NAME: [backup_id]},
    )
    confirm_url = reverse("admin:recovery_recoveryrun_restore", args=[backup_id])
    assert action["Location"] == confirm_url
    confirm = client.get(confirm_url).content.decode()
    assert backup_id in confirm and 'id="dry-run-report"' in confirm
    assert table_state() == changed  # the dry run wrote nothing

    done = client.post(confirm_url, {"confirmed": "yes"}, follow=True)
    run = RecoveryRun.objects.get()
    assert run.status == "completed" and run.requested_by == admin
    assert table_state() == expected
    page = done.content.decode()
    assert 'data-status="completed"' in page and 'id="roll-back"' in page

    rollback_url = reverse("admin:recovery_recoveryrun_rollback", args=[run.pk])
    assert b"Yes, roll back" in client.get(rollback_url).content
    client.post(rollback_url, {"confirmed": "yes"})
    run.refresh_from_db()
    assert run.status == "rolled_back"
    assert table_state() == changed


def test_operators_cannot_restore(client, role_user, world):
    backup_id = create_full_backup()
    client.force_login(role_user(BACKUP_OPERATOR))
    url = reverse("admin:recovery_recoveryrun_restore", args=[backup_id])
    assert client.get(url).status_code == 403
    assert client.post(url, {"confirmed": "yes"}).status_code == 403
    assert not RecoveryRun.objects.exists()


def test_a_backup_that_cannot_be_restored_says_why(client, role_user, world):
    from backups.models import Backup

    backup_id = create_full_backup()
    Backup.objects.filter(pk=backup_id).update(status="expired")
    client.force_login(role_user(RECOVERY_ADMIN))
    page = client.get(reverse("admin:recovery_recoveryrun_restore", args=[backup_id]))
    assert b'id="restore-problem"' in page.content
    assert b"is expired" in page.content
    assert b"confirm-restore" not in page.content
