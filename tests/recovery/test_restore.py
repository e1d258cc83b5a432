"""Backup, change, restore: the data is the backup's again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import storages
from django.db import connection
from django.utils import timezone

from backups.exceptions import BackupError, BackupInProgress
from backups.models import Backup
from backups.services import create_full_backup, create_incremental_backup
from messaging.models import (
    AccountChange,
    CallRecord,
    Conversation,
    MediaFile,
    Message,
    Participant,
    Tombstone,
)
from messaging.triggers import missing_triggers
from recovery.exceptions import RestoreRefused
from recovery.services.restoring import restore_from_backup
from talowa_admin.models import AuditEvent
from tests.backups.conftest import HINDI, MEDIA_BYTES, SECRET_BODY, TELUGU
from tests.recovery.conftest import MESSAGING_TABLES, account_state, table_state

pytestmark = pytest.mark.django_db(transaction=True)


def scramble(world) -> None:
    """Change the world in every way a restore must undo."""
    Message.objects.filter(body=TELUGU).update(body="overwritten")
    Message.objects.filter(body=SECRET_BODY).delete()
    Message.objects.create(
        conversation=world.group,
        sender=world.ravi,
        kind="group",
        body="added after the backup",
    )
    CallRecord.objects.all().delete()
    Conversation.objects.create(kind="direct", title="new")


def test_system_restore_returns_exactly_the_backup_state(world):
    backup_id = create_full_backup()
    expected = table_state()
    scramble(world)
    result = restore_from_backup(backup_id, actor="test")
    assert result["status"] == "completed"
    assert table_state() == expected
    assert result["pre_restore_backup"]
    pre = Backup.objects.get(pk=result["pre_restore_backup"])
    assert pre.metadata["pre_restore_for"] == backup_id
    assert AuditEvent.objects.filter(action="restore.run").exists()
    # New rows get fresh ids after the restore.
    fresh = Message.objects.create(
        conversation=world.group, sender=world.asha, kind="group", body="after"
    )
    assert fresh.id > max(row[0] for row in expected["messaging_message"])


def test_system_restore_adds_back_accounts_as_the_chain_last_saw_them(world, make_user):
    users = get_user_model().objects
    lone, gone = make_user("lone"), make_user("gone")
    gone_id = gone.pk
    create_full_backup()
    users.filter(pk=lone.pk).update(first_name="Changed after the full backup")
    gone.delete()
    last = create_incremental_backup()
    expected = account_state()
    users.filter(pk=lone.pk).delete()
    users.filter(pk=world.asha.pk).update(first_name="Asha, changed since")
    restore_from_backup(last, create_pre_restore_backup=False)
    restored = {row[0]: row for row in account_state()}
    # The missing account is back as the incremental had it; the deleted one
    # stays deleted; an account the database has is left as it is.
    assert restored[lone.pk] == next(row for row in expected if row[0] == lone.pk)
    assert gone_id not in restored
    assert users.get(pk=world.asha.pk).first_name == "Asha, changed since"
    # Change tracking is back on for the restored tables.
    assert missing_triggers(connection) == []
    a_minute_ago = timezone.now() - timedelta(minutes=1)
    users.filter(pk=lone.pk).update(first_name="After the restore")
    assert AccountChange.objects.get(user_id=lone.pk).updated_at > a_minute_ago
    Message.objects.update(updated_at=a_minute_ago - timedelta(days=1))
    assert not Message.objects.filter(updated_at__lt=a_minute_ago)


def test_restore_applies_the_whole_chain(world):
    create_full_backup()
    Message.objects.filter(body=HINDI).update(body="edited")
    Message.objects.get(body=SECRET_BODY).delete()
    Message.objects.create(
        conversation=world.direct,
        sender=world.asha,
        kind="regular",
        body="in the incremental",
    )
    incremental_id = create_incremental_backup()
    expected = table_state()
    scramble(world)
    restore_from_backup(incremental_id)
    assert table_state() == expected
    assert Message.objects.filter(body="in the incremental").exists()
    assert not Message.objects.filter(body=SECRET_BODY).exists()


def test_restore_brings_media_bytes_back(world):
    backup_id = create_full_backup()
    media = storages["media"]
    photo = MediaFile.objects.get(name="photo.png")
    media.delete(photo.file.name)
    restore_from_backup(backup_id, create_pre_restore_backup=False)
    with media.open(photo.file.name, "rb") as handle:
        assert handle.read() == MEDIA_BYTES


def test_dry_run_reports_and_writes_nothing(world):
    backup_id = create_full_backup()
    scramble(world)
    before = table_state()
    backups_before = Backup.objects.count()
    result = restore_from_backup(backup_id, dry_run=True)
    assert table_state() == before
    assert Backup.objects.count() == backups_before  # no pre-restore backup
    changes = result["changes"]
    assert changes["messaging.message"] == {"inserted": 1, "updated": 1, "deleted": 1}
    assert changes["messaging.callrecord"]["inserted"] == 2
    assert changes["messaging.conversation"]["deleted"] == 1


def test_user_restore_replaces_only_that_users_data(world):
    backup_id = create_full_backup(user=world.ravi)
    others = Message.objects.exclude(sender=world.ravi)
    others.filter(body=TELUGU).update(body="asha changed this")
    Message.objects.filter(sender=world.ravi).delete()
    Participant.objects.filter(user=world.ravi, conversation=world.group).delete()
    Message.objects.create(
        conversation=world.group, sender=world.ravi, kind="group", body="ravi later"
    )
    result = restore_from_backup(backup_id)
    assert result["scope"] == "user" and result["user"] == "ravi"
    ravi_bodies = set(
        Message.objects.filter(sender=world.ravi).values_list("body", flat=True)
    )
    assert ravi_bodies == {SECRET_BODY}
    assert Participant.objects.filter(
        user=world.ravi, conversation=world.group
    ).exists()
    # Other people's data is untouched.
    assert Message.objects.filter(body="asha changed this").exists()


def test_user_restore_from_a_system_backup(world):
    backup_id = create_full_backup()
    Message.objects.filter(sender=world.meena).delete()
    Message.objects.filter(sender=world.asha).update(body="asha now")
    restore_from_backup(backup_id, user=world.meena, data_types=["messages"])
    assert Message.objects.filter(sender=world.meena, body=HINDI).exists()
    assert Message.objects.filter(sender=world.asha, body="asha now").count() == 2


def test_user_restore_dry_run_has_a_sample(world):
    backup_id = create_full_backup(user=world.ravi)
    Message.objects.filter(sender=world.ravi).delete()
    result = restore_from_backup(backup_id, dry_run=True)
    assert result["changes"]["messaging.message"]["inserted"] == 1
    assert result["changes"]["sample"]["restored_messages"][0]["body"] == SECRET_BODY
    assert not Message.objects.filter(sender=world.ravi).exists()


def test_next_backup_after_a_restore_starts_a_new_chain(world):
    full = create_full_backup()
    Message.objects.create(
        conversation=world.group, sender=world.asha, kind="group", body="between"
    )
    create_incremental_backup()
    restore_from_backup(full, create_pre_restore_backup=False)
    # Restored rows are older than the last watermark: an incremental on the
    # old chain would miss them, so it is refused and a full one is taken.
    with pytest.raises(BackupError, match="since the last restore"):
        create_incremental_backup()
    expected = table_state()
    after = Backup.objects.get(pk=create_incremental_backup(full_if_missing=True))
    assert after.kind == "full"
    scramble(world)
    restore_from_backup(after.id, create_pre_restore_backup=False)
    assert table_state() == expected


@pytest.mark.parametrize("status", ["expired", "failed"])
def test_unrestorable_backups_are_refused(world, status):
    backup_id = create_full_backup()
    Backup.objects.filter(pk=backup_id).update(status=status)
    with pytest.raises(RestoreRefused, match=f"is {status}"):
        restore_from_backup(backup_id)


def test_user_who_no_longer_exists_is_refused(world):
    backup_id = create_full_backup(user=world.meena)
    world.meena.delete()
    with pytest.raises(RestoreRefused, match="no longer exists"):
        restore_from_backup(backup_id)


def test_unknown_backup_and_types_are_refused(world):
    with pytest.raises(RestoreRefused, match="neither in the catalog nor"):
        restore_from_backup("backup_19990101T000000_deadbeef")
    backup_id = create_full_backup(include_call_history=False)
    with pytest.raises(RestoreRefused, match="does not hold call_history"):
        restore_from_backup(backup_id, data_types=["call_history"])


def test_corrupted_incremental_mid_chain_is_refused_before_any_write(world):
    from backups.storage import object_store

    create_full_backup()
    Message.objects.create(
        conversation=world.group, sender=world.asha, kind="group", body="one"
    )
    middle = Backup.objects.get(pk=create_incremental_backup())
    Message.objects.create(
        conversation=world.group, sender=world.asha, kind="group", body="two"
    )
    last = create_incremental_backup()
    path = object_store().root / middle.object_key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    scramble(world)
    before = table_state()
    count = Backup.objects.count()
    with pytest.raises(RestoreRefused, match=f"{middle.id} in the chain failed"):
        restore_from_backup(last)
    assert table_state() == before
    assert Backup.objects.count() == count


def test_restore_refused_while_a_backup_runs(world):
    from backups.services.catalog import claim_backup

    backup_id = create_full_backup()
    claim_backup(kind="full", scope="user", owner=world.asha, data_types=["messages"])
    with pytest.raises(RestoreRefused, match="is running"):
        restore_from_backup(backup_id)


def test_backup_and_second_restore_refused_while_a_restore_runs(world):
    from talowa_admin.models import OperationLock

    backup_id = create_full_backup()
    OperationLock.objects.create(
        name="restore",
        holder="elsewhere:1",
        acquired_at=timezone.now(),
        heartbeat_at=timezone.now(),
        purpose="restore of x",
    )
    with pytest.raises(BackupInProgress, match="a restore is running"):
        create_full_backup()
    with pytest.raises(RestoreRefused, match="already running"):
        restore_from_backup(backup_id)


@pytest.mark.parametrize("verify_first", [True, False])
def test_backup_whose_key_was_retired_is_refused(world, settings, verify_first):
    import os

    settings.TALOWA_BACKUP_KEYS = [("k-old", os.urandom(32))]
    backup_id = create_full_backup()
    before = table_state()
    settings.TALOWA_BACKUP_KEYS = [("k-new", os.urandom(32))]
    with pytest.raises(RestoreRefused, match="'k-old' is not configured"):
        restore_from_backup(
            backup_id,
            validate_before_restore=verify_first,
            create_pre_restore_backup=False,
        )
    assert table_state() == before


# --- System restores on PostgreSQL: staged tables swapped in --------------------------

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="staging is PostgreSQL's path"
)


def _schema_of_messaging_tables() -> dict[str, list[tuple]]:
    """Names and definitions of the indexes, constraints and triggers."""
    tables = list(MESSAGING_TABLES)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE "
            "tablename = ANY(%s) ORDER BY 2",
            [tables],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), "
            "convalidated FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s) "
            "OR confrelid::regclass::text = ANY(%s) ORDER BY 2",
            [tables, tables],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT event_object_table, trigger_name FROM information_schema.triggers "
            "WHERE event_object_table = ANY(%s) ORDER BY 2",
            [tables],
        )
        triggers = cursor.fetchall()
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = 'talowa_restore'"
        )
        staging = cursor.fetchall()
    return {
        "indexes": indexes,
        "constraints": constraints,
        "triggers": triggers,
        "staging schema": staging,
    }


@needs_postgresql
def test_system_restore_keeps_the_tables_indexes_constraints_and_triggers(world):
    backup_id = create_full_backup()
    schema = _schema_of_messaging_tables()
    assert schema["triggers"] and schema["indexes"] and schema["constraints"]
    expected = table_state()
    scramble(world)
    highest_user = get_user_model().objects.order_by("-id").first().id
    restore_from_backup(backup_id, create_pre_restore_backup=False)
    assert table_state() == expected
    assert _schema_of_messaging_tables() == schema
    # The tombstone triggers work on the swapped-in tables.
    message_id = Message.objects.values_list("id", flat=True).first()
    Message.objects.filter(id=message_id).delete()
    assert Tombstone.objects.filter(
        model="messaging.message", object_id=message_id
    ).exists()
    # Accounts keep getting fresh ids.
    newcomer = get_user_model().objects.create_user("newcomer")
    assert newcomer.id > highest_user


@needs_postgresql
def test_dry_run_on_postgresql_leaves_no_staging_behind(world):
    backup_id = create_full_backup()
    scramble(world)
    schema, before = _schema_of_messaging_tables(), table_state()
    result = restore_from_backup(backup_id, dry_run=True)
    assert result["changes"]["messaging.message"]["deleted"] == 1
    assert table_state() == before
    assert _schema_of_messaging_tables() == schema


@needs_postgresql
def test_restore_refused_when_something_else_depends_on_the_tables(world):
    backup_id = create_full_backup()
    scramble(world)
    before = table_state()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE VIEW talowa_test_report AS SELECT id FROM messaging_message"
        )
    try:
        with pytest.raises(RestoreRefused, match="something else depends on them"):
            restore_from_backup(backup_id, create_pre_restore_backup=False)
        assert table_state() == before
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP VIEW talowa_test_report")
    assert _schema_of_messaging_tables()["staging schema"] == []


@needs_postgresql
def test_restore_refused_while_a_long_transaction_holds_the_tables(world, monkeypatch):
    from recovery import staging

    backup_id = create_full_backup()
    scramble(world)
    before = table_state()
    monkeypatch.setattr(staging, "LOCK_TIMEOUT", "1s")
    reader = staging.open_side_connection()
    try:
        reader.set_autocommit(False)
        with reader.cursor() as cursor:  # a report reading, in a transaction
            cursor.execute("SELECT count(*) FROM messaging_message")
        with pytest.raises(RestoreRefused, match="stayed in use for 1s"):
            restore_from_backup(backup_id, create_pre_restore_backup=False)
    finally:
        reader.rollback()
        reader.close()
    assert table_state() == before
    assert _schema_of_messaging_tables()["staging schema"] == []


@needs_postgresql
def test_writes_during_a_staged_restore_are_counted_and_replaced(world, monkeypatch):
    from recovery import staging

    backup_id = create_full_backup()
    expected = table_state()
    original = staging.copy_in_lanes
    written = []

    def load_while_someone_writes(*args, **kwargs):
        if not written:
            written.append(
                Message.objects.create(
                    conversation=world.group,
                    sender=world.ravi,
                    kind="group",
                    body="sent during the restore",
                )
            )
        return original(*args, **kwargs)

    monkeypatch.setattr(staging, "copy_in_lanes", load_while_someone_writes)
    result = restore_from_backup(backup_id, create_pre_restore_backup=False)
    assert result["tables"]["messaging.message"]["written_meanwhile"] == 1
    assert table_state() == expected


def test_system_restore_of_some_data_types_leaves_the_others(world):
    backup_id = create_full_backup()
    expected = table_state()
    scramble(world)
    after_scramble = table_state()
    result = restore_from_backup(
        backup_id, data_types=["messages"], create_pre_restore_backup=False
    )
    assert result["data_types"] == ["messages"]
    state = table_state()
    assert state["messaging_message"] == expected["messaging_message"]
    for table in ("messaging_conversation", "messaging_callrecord"):
        assert state[table] == after_scramble[table]


def test_restore_of_rows_whose_parents_are_gone_is_refused(world):
    backup_id = create_full_backup()
    world.group.delete()  # and, with it, its messages
    before = table_state()
    with pytest.raises(RestoreRefused, match="reference"):
        restore_from_backup(
            backup_id, data_types=["messages"], create_pre_restore_backup=False
        )
    assert table_state() == before
