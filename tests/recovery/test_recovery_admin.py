"""The restore flow in the admin: a queued dry run to confirm, the run, rollback."""

from __future__ import annotations

import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.urls import reverse

from backups.services import create_full_backup
from messaging.models import Message
from recovery.models import RecoveryRun
from talowa_admin.models import AuditEvent
from talowa_admin.roles import BACKUP_OPERATOR, BACKUP_VIEWER, RECOVERY_ADMIN
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
    queued = client.get(confirm_url)  # queues the dry run, which runs inline here
    assert queued.status_code == 302
    assert queued["Location"].startswith(f"{confirm_url}?preview=")
    confirm = client.get(queued["Location"]).content.decode()
    assert backup_id in confirm and 'id="dry-run-report"' in confirm
    assert "messaging.message" in confirm
    assert table_state() == changed  # the dry run wrote nothing

    done = client.post(queued["Location"], {"confirmed": "yes"}, follow=True)
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


@pytest.mark.parametrize("role", [BACKUP_VIEWER, BACKUP_OPERATOR])
def test_viewers_and_operators_cannot_roll_back(
    client, role_user, world, sync_tasks, role
):
    backup_id = create_full_backup()
    Message.objects.filter(body=TELUGU).update(body="changed")
    call_command("restore_backup", backup_id, "--noinput", stdout=io.StringIO())
    run = RecoveryRun.objects.get()
    assert run.status == "completed" and run.pre_restore_backup_id  # undoable
    restored = table_state()
    client.force_login(role_user(role))

    page = client.get(reverse("admin:recovery_recoveryrun_change", args=[run.pk]))
    assert page.status_code == 200 and 'id="roll-back"' not in page.content.decode()
    url = reverse("admin:recovery_recoveryrun_rollback", args=[run.pk])
    confirm = client.get(url)
    assert confirm.status_code == 403 and b"Yes, roll back" not in confirm.content
    # Queued tasks run inline here: a roll-back let through would happen now.
    assert client.post(url, {"confirmed": "yes"}).status_code == 403
    run.refresh_from_db()
    assert run.status == "completed"
    assert table_state() == restored
    assert not AuditEvent.objects.filter(action__startswith="recovery.rollback")


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


def test_the_dry_run_waits_in_the_queue_and_its_report_is_only_for_its_admin(
    client, role_user, world
):
    from django_q.brokers import get_broker
    from django_q.tasks import _sync

    backup_id = create_full_backup()
    admin = role_user(RECOVERY_ADMIN)
    client.force_login(admin)
    url = reverse("admin:recovery_recoveryrun_restore", args=[backup_id])
    preview_url = client.get(url)["Location"]

    waiting = client.get(preview_url).content.decode()
    assert 'id="dry-run-waiting"' in waiting
    assert '<meta http-equiv="refresh" content="2">' in waiting
    assert "confirm-restore" not in waiting

    # A worker takes the task from the queue and runs it as the cluster would.
    broker = get_broker()
    ((ack_id, package),) = broker.dequeue()
    _sync(package)
    broker.acknowledge(ack_id)
    ready = client.get(preview_url).content.decode()
    assert 'id="dry-run-report"' in ready and "confirm-restore" in ready
    assert '<meta http-equiv="refresh"' not in ready

    client.force_login(role_user(RECOVERY_ADMIN))  # another admin, same address
    other = client.get(preview_url).content.decode()
    assert "made for another backup or admin" in other
    assert "dry-run-report" not in other and "confirm-restore" not in other
    forged = client.get(preview_url[:-3] + "abc").content.decode()
    assert "address is not valid" in forged and "confirm-restore" not in forged


def test_a_dry_run_that_finds_a_damaged_archive_says_why(
    client, role_user, world, sync_tasks
):
    from backups.models import Backup
    from backups.storage import object_store

    backup = Backup.objects.get(pk=create_full_backup())
    path = object_store().root / backup.object_key
    data = bytearray(path.read_bytes())
    data[-30] ^= 1
    path.write_bytes(bytes(data))
    client.force_login(role_user(RECOVERY_ADMIN))
    page = client.get(
        reverse("admin:recovery_recoveryrun_restore", args=[backup.id]), follow=True
    ).content.decode()
    assert 'id="restore-problem"' in page and "failed verification" in page
    assert 'id="new-dry-run"' in page and "confirm-restore" not in page
    assert not RecoveryRun.objects.exists()
