"""The restore flow in the admin: options, a queued dry run to confirm, the run.

Opening the page queues nothing; a dry run starts with a POST; the restore is
queued only against the token of this admin's completed dry run of the same
backup and options.
"""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.urls import reverse
from django_q.brokers import get_broker
from django_q.models import OrmQ, Task
from django_q.tasks import _sync

from backups.services import create_full_backup
from messaging.models import CallRecord, Message
from recovery.models import RecoveryRun
from talowa_admin.models import AuditEvent
from talowa_admin.roles import BACKUP_OPERATOR, BACKUP_VIEWER, RECOVERY_ADMIN
from tests.backups.conftest import HINDI, SECRET_BODY, TELUGU
from tests.recovery.conftest import table_state

pytestmark = pytest.mark.django_db(transaction=True)

ALL_TYPES = ["messages", "conversations", "call_history", "media_files"]


def restore_url(backup_id: str) -> str:
    return reverse("admin:recovery_recoveryrun_restore", args=[backup_id])


def hidden_fields(page: str) -> dict[str, list[str]]:
    """The hidden inputs of the page's confirmation form, as the browser posts them."""
    form = page[page.rindex("<form", 0, page.index('name="confirmed"')) :]
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form):
        fields.setdefault(name, []).append(value)
    return fields


def start_dry_run(client, backup_id: str, **options) -> str:
    """Press "Run the dry run" with ``options``; return the page it leads to."""
    data = {"data_types": ALL_TYPES, "dry_run": "Run the dry run", **options}
    response = client.post(restore_url(backup_id), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def nothing_queued() -> bool:
    return not OrmQ.objects.exists() and not Task.objects.exists()


def run_queued_task() -> None:
    """Take one task from the queue and run it as the cluster would."""
    broker = get_broker()
    ((ack_id, package),) = broker.dequeue()
    _sync(package)
    broker.acknowledge(ack_id)


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
    assert action["Location"] == restore_url(backup_id)
    options = client.get(restore_url(backup_id)).content.decode()
    assert 'id="run-dry-run"' in options and "confirm-restore" not in options

    preview_url = start_dry_run(client, backup_id)  # runs inline here
    assert preview_url.startswith(f"{restore_url(backup_id)}?preview=")
    confirm = client.get(preview_url).content.decode()
    assert backup_id in confirm and 'id="dry-run-report"' in confirm
    assert "messaging.message" in confirm and "the whole system" in confirm
    assert table_state() == changed  # the dry run wrote nothing

    done = client.post(restore_url(backup_id), hidden_fields(confirm), follow=True)
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


def test_opening_the_restore_page_queues_nothing(client, role_user, world):
    backup_id = create_full_backup()
    client.force_login(role_user(RECOVERY_ADMIN))
    page = client.get(restore_url(backup_id))
    assert page.status_code == 200
    content = page.content.decode()
    assert "Run the dry run" in content and 'name="data_types"' in content
    assert nothing_queued()
    assert not AuditEvent.objects.filter(action__startswith="restore").exists()


def test_a_restore_without_a_completed_dry_run_is_refused(client, role_user, world):
    backup_id = create_full_backup()
    client.force_login(role_user(RECOVERY_ADMIN))
    url = restore_url(backup_id)

    bare = client.post(url, {"confirmed": "yes", "data_types": ALL_TYPES})
    assert bare.status_code == 400
    assert "Run a dry run first" in bare.content.decode()
    assert nothing_queued()

    preview_url = start_dry_run(client, backup_id)  # queued, not run yet
    token = parse_qs(urlsplit(preview_url).query)["preview"][0]
    early = client.post(
        url, {"confirmed": "yes", "preview": token, "data_types": ALL_TYPES}
    )
    assert early.status_code == 400
    assert "has not finished" in early.content.decode()
    assert OrmQ.objects.count() == 1  # only the dry run waits in the queue
    assert not RecoveryRun.objects.exists()


def test_a_token_for_another_admin_backup_or_options_is_refused(
    client, role_user, world, sync_tasks
):
    backup_id, other_backup_id = create_full_backup(), create_full_backup()
    admin = role_user(RECOVERY_ADMIN)
    client.force_login(admin)
    preview_url = start_dry_run(client, backup_id, data_types=["messages"])
    confirm = hidden_fields(client.get(preview_url).content.decode())
    assert confirm["data_types"] == ["messages"]

    def refused(url: str, data: dict) -> str:
        response = client.post(url, data)
        assert response.status_code == 400
        assert not RecoveryRun.objects.exists()
        return response.content.decode()

    url = restore_url(backup_id)
    assert "other options" in refused(url, {**confirm, "data_types": ALL_TYPES})
    with_user = {**confirm, "user": [str(world.asha.pk)]}
    assert "other options" in refused(url, with_user)
    assert "another backup or admin" in refused(restore_url(other_backup_id), confirm)
    forged = {**confirm, "preview": [confirm["preview"][0][:-3] + "abc"]}
    assert "address is not valid" in refused(url, forged)
    client.force_login(role_user(RECOVERY_ADMIN))
    assert "another backup or admin" in refused(url, confirm)
    assert AuditEvent.objects.filter(action="restore.refused").count() == 5

    client.force_login(admin)
    client.post(url, confirm)
    run = RecoveryRun.objects.get()
    assert run.options["data_types"] == ["messages"]
    again = client.post(url, confirm)
    assert again.status_code == 400
    assert f"already confirmed (recovery run {run.pk})" in again.content.decode()
    assert RecoveryRun.objects.count() == 1


def test_a_confirmation_waits_for_no_other(client, role_user, world, sync_tasks):
    from recovery.admin import CONFIRM_LOCK
    from talowa_admin import locks

    backup_id = create_full_backup()
    client.force_login(role_user(RECOVERY_ADMIN))
    page = client.get(start_dry_run(client, backup_id)).content.decode()
    confirm = hidden_fields(page)
    with locks.hold(CONFIRM_LOCK, purpose="a double click"):
        busy = client.post(restore_url(backup_id), confirm)
    assert busy.status_code == 400
    assert "Another restore is being confirmed" in busy.content.decode()
    assert not RecoveryRun.objects.exists()
    client.post(restore_url(backup_id), confirm)
    assert RecoveryRun.objects.get().status == "completed"


def test_one_users_restore_restores_only_that_user(
    client, role_user, world, sync_tasks
):
    backup_id = create_full_backup()
    Message.objects.filter(body__in=[TELUGU, SECRET_BODY]).update(body="changed")
    client.force_login(role_user(RECOVERY_ADMIN))

    preview_url = start_dry_run(client, backup_id, user=world.asha.pk)
    confirm = client.get(preview_url).content.decode()
    assert "asha's data only" in confirm and 'id="dry-run-report"' in confirm
    assert "conversations are shared" in confirm
    client.post(restore_url(backup_id), hidden_fields(confirm))

    run = RecoveryRun.objects.get()
    assert run.status == "completed"
    assert run.options["user"] == "asha" and run.options["data_types"] is None
    assert Message.objects.filter(body=TELUGU).exists()  # asha's
    assert not Message.objects.filter(body=SECRET_BODY).exists()  # ravi's
    assert Message.objects.filter(body=HINDI).exists()


def test_some_types_restore_only_those_types(client, role_user, world, sync_tasks):
    backup_id = create_full_backup()
    Message.objects.filter(body=TELUGU).update(body="changed")
    CallRecord.objects.filter(status="completed").update(duration_seconds=1)
    client.force_login(role_user(RECOVERY_ADMIN))

    preview_url = start_dry_run(client, backup_id, data_types=["call_history"])
    confirm = client.get(preview_url).content.decode()
    assert "the whole system" in confirm and "call_history" in confirm
    assert "messaging.callrecord" in confirm and "messaging.message<" not in confirm
    client.post(restore_url(backup_id), hidden_fields(confirm))

    run = RecoveryRun.objects.get()
    assert run.status == "completed" and run.options["data_types"] == ["call_history"]
    assert CallRecord.objects.filter(duration_seconds=95).exists()
    assert not Message.objects.filter(body=TELUGU).exists()


def test_bad_options_are_refused_before_anything_is_queued(client, role_user, world):
    backup_id = create_full_backup()
    client.force_login(role_user(RECOVERY_ADMIN))
    url = restore_url(backup_id)
    no_types = client.post(url, {"dry_run": "Run the dry run"})
    assert no_types.status_code == 400
    assert "Choose at least one data type" in no_types.content.decode()
    nobody = client.post(
        url, {"dry_run": "1", "data_types": ALL_TYPES, "user": "999999"}
    )
    assert nobody.status_code == 400
    assert "Select a valid choice" in nobody.content.decode()
    assert nothing_queued()


def test_a_user_backup_offers_types_but_no_user(client, role_user, world, sync_tasks):
    backup_id = create_full_backup(user=world.ravi)
    client.force_login(role_user(RECOVERY_ADMIN))
    page = client.get(restore_url(backup_id)).content.decode()
    assert "holds ravi's data only" in page and 'name="user"' not in page
    confirm = client.get(start_dry_run(client, backup_id)).content.decode()
    assert "ravi's data" in confirm and 'id="dry-run-report"' in confirm


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
    url = restore_url(backup_id)
    assert client.get(url).status_code == 403
    assert client.post(url, {"confirmed": "yes"}).status_code == 403
    assert client.post(url, {"dry_run": "1"}).status_code == 403
    assert not RecoveryRun.objects.exists() and nothing_queued()


def test_a_backup_that_cannot_be_restored_says_why(client, role_user, world):
    from backups.models import Backup

    backup_id = create_full_backup()
    Backup.objects.filter(pk=backup_id).update(status="expired")
    client.force_login(role_user(RECOVERY_ADMIN))
    page = client.get(restore_url(backup_id))
    assert b'id="restore-problem"' in page.content
    assert b"is expired" in page.content
    assert b"confirm-restore" not in page.content and b"run-dry-run" not in page.content


def test_the_dry_run_waits_in_the_queue_and_its_report_is_only_for_its_admin(
    client, role_user, world
):
    backup_id = create_full_backup()
    admin = role_user(RECOVERY_ADMIN)
    client.force_login(admin)
    preview_url = start_dry_run(client, backup_id)

    waiting = client.get(preview_url).content.decode()
    assert 'id="dry-run-waiting"' in waiting
    assert '<meta http-equiv="refresh" content="2">' in waiting
    assert "confirm-restore" not in waiting

    run_queued_task()
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
    preview_url = start_dry_run(client, backup.id)
    page = client.get(preview_url).content.decode()
    assert 'id="restore-problem"' in page and "failed verification" in page
    assert 'id="new-dry-run"' in page and "confirm-restore" not in page

    token = parse_qs(urlsplit(preview_url).query)["preview"][0]
    confirm = {"confirmed": "yes", "preview": token, "data_types": ALL_TYPES}
    refused = client.post(restore_url(backup.id), confirm)
    assert refused.status_code == 400
    assert "failed verification" in refused.content.decode()
    assert not RecoveryRun.objects.exists()
