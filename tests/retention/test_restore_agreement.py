"""A restore of a backup older than a cleanup does not quietly bring back
what retention deleted since: the preview counts it, the restore archives it."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from backups.services import create_full_backup
from messaging.models import Message
from recovery.models import RecoveryRun
from recovery.services.plans import execute_disaster_recovery
from recovery.services.restoring import restore_from_backup
from retention.models import ArchiveBatch
from retention.services import cleanup_expired_messages, restore_archive_batch
from talowa_admin.roles import RECOVERY_ADMIN
from tests.recovery.test_recovery_admin import hidden_fields, restore_url, start_dry_run
from tests.retention.conftest import aged_message

pytestmark = pytest.mark.django_db(transaction=True)


def _older_backup_then_cleanup(world):
    old = [
        aged_message(world.group, None, kind="system", days=40 + i) for i in range(3)
    ]
    backup_id = create_full_backup()
    result = cleanup_expired_messages()
    assert result["deleted"]["system_messages"] == 3
    return backup_id, {m.pk for m in old}


@pytest.mark.parametrize("scope", ["system", "user"])
def test_the_preview_counts_restored_rows_past_retention(world, scope):
    backup_id, _ = _older_backup_then_cleanup(world)
    user = world.asha if scope == "user" else None
    preview = restore_from_backup(backup_id, user=user, dry_run=True)
    expected = 3 if scope == "system" else 0  # system messages have no sender
    assert preview["retention"]["past_retention"]["system_messages"] == expected


def test_the_restore_archives_them_again_and_that_batch_is_undoable(world):
    backup_id, old_ids = _older_backup_then_cleanup(world)
    kept = set(Message.objects.values_list("id", flat=True))
    result = restore_from_backup(backup_id, create_pre_restore_backup=False)
    retention = result["retention"]
    assert retention["past_retention"]["system_messages"] == 3
    assert retention["archived"] == {"system_messages": 3}
    assert set(Message.objects.values_list("id", flat=True)) == kept
    batch = ArchiveBatch.objects.get(pk=retention["batch"])
    assert batch.reason == "restore"
    restore_archive_batch(batch_id=batch.pk)
    assert set(Message.objects.values_list("id", flat=True)) == kept | old_ids


def test_a_recovery_run_archives_them_in_a_step_after_the_restore_step(world):
    backup_id, old_ids = _older_backup_then_cleanup(world)
    kept = set(Message.objects.values_list("id", flat=True))
    run = execute_disaster_recovery(
        backup_id=backup_id, create_pre_restore_backup=False, actor="test"
    )
    assert run["status"] == "completed", run
    actions = [step["action"] for step in run["steps"]]
    restore, retention = run["steps"][actions.index("restore") :][:2]
    # The restore step ends with the data applied; the archiving follows it.
    assert (restore["status"], retention["action"]) == ("completed", "retention")
    assert restore["applied"]["tables"] and "retention" not in restore["result"]
    assert retention["status"] == "completed"
    assert retention["result"]["archived"] == {"system_messages": 3}
    batch = ArchiveBatch.objects.get(pk=retention["result"]["batch"])
    assert batch.reason == "restore"
    assert set(Message.objects.values_list("id", flat=True)) == kept


def test_the_operator_can_keep_them(world):
    backup_id, old_ids = _older_backup_then_cleanup(world)
    result = restore_from_backup(
        backup_id, create_pre_restore_backup=False, keep_past_retention=True
    )
    assert result["retention"]["archived"] == {}
    assert result["retention"]["past_retention"]["system_messages"] == 3
    assert old_ids <= set(Message.objects.values_list("id", flat=True))
    assert timezone.now() - timedelta(days=1) > min(
        Message.objects.filter(pk__in=old_ids).values_list("created_at", flat=True)
    )


@pytest.mark.parametrize("keep", [False, True])
def test_restore_backup_archives_them_unless_told_to_keep_them(world, keep):
    backup_id, old_ids = _older_backup_then_cleanup(world)
    kept = set(Message.objects.values_list("id", flat=True))
    flags = ["--keep-past-retention"] if keep else []
    call_command("restore_backup", backup_id, "--noinput", *flags, stdout=io.StringIO())
    restored = set(Message.objects.values_list("id", flat=True))
    assert restored == (kept | old_ids if keep else kept)
    batches = ArchiveBatch.objects.filter(reason="restore")
    assert batches.exists() is not keep


@pytest.mark.parametrize("keep", [False, True])
def test_the_admin_restore_shows_them_and_offers_to_keep_them(
    client, role_user, world, sync_tasks, keep
):
    backup_id, old_ids = _older_backup_then_cleanup(world)
    kept = set(Message.objects.values_list("id", flat=True))
    client.force_login(role_user(RECOVERY_ADMIN))
    page = client.get(start_dry_run(client, backup_id)).content.decode()
    assert "3 of the restored rows" in page
    assert "<td>System messages</td><td>3</td>" in page
    assert 'name="keep_past_retention"' in page
    assert "from Archive batches for 30 days" in page

    confirm = hidden_fields(page)
    if keep:
        confirm["keep_past_retention"] = ["yes"]
    client.post(restore_url(backup_id), confirm)
    run = RecoveryRun.objects.get()
    assert run.status == "completed"
    assert run.options["keep_past_retention"] is keep
    restored = set(Message.objects.values_list("id", flat=True))
    assert restored == (kept | old_ids if keep else kept)
    assert ArchiveBatch.objects.filter(reason="restore").exists() is not keep
