"""Full and incremental backups: what they hold, and what verification finds."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from backups.archive.rows import decode_fields
from backups.exceptions import BackupError, BackupInProgress
from backups.keyring import load_keyring
from backups.models import Backup
from backups.services import (
    create_full_backup,
    create_incremental_backup,
    verify_backup,
)
from backups.services.catalog import claim_backup, scope_lock_key
from backups.services.verifying import open_archive
from backups.storage import object_store
from messaging.models import Message
from talowa_admin.models import AuditEvent
from tests.backups.conftest import (
    HINDI,
    MEDIA_BYTES,
    SECRET_BODY,
    TELUGU,
)

pytestmark = pytest.mark.django_db(transaction=True)


def read_archive(backup: Backup) -> tuple[dict, dict]:
    """Return (rows per table label, blobs by sha256) and the manifest."""
    tables, blobs = {}, {}
    with open_archive(object_store(), backup.object_key, keyring=load_keyring()) as (
        reader,
        _counted,
    ):
        for section in reader.sections():
            data = section.read_all()
            if section.name.startswith("table:"):
                tables[section.name[6:]] = [
                    decode_fields(line) for line in data.splitlines()
                ]
            else:
                blobs[section.meta["sha256"]] = data
        manifest = reader.manifest
    return {"tables": tables, "blobs": blobs}, manifest


def newest_messaging_migration() -> str:
    """Return the name of messaging's newest migration, squashed ones aside."""
    disk = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    return max(
        name
        for (app, name), migration in disk.items()
        if app == "messaging" and not migration.replaces
    )


def test_full_backup_holds_every_row_and_media(world):
    backup = Backup.objects.get(pk=create_full_backup(actor="test"))
    assert backup.status == Backup.Status.COMPLETED
    assert backup.id.startswith("backup_")
    assert backup.counts["messages"] == 5
    assert backup.counts["conversations"] == 2
    assert backup.counts["call_history"] == 2
    assert backup.counts["media_files"] == 2
    assert backup.counts["participants"] == 5
    assert backup.counts["media_blobs"] == 2
    content, manifest = read_archive(backup)
    bodies = {row[6] for row in content["tables"]["messaging.message"]}
    assert {TELUGU, HINDI, SECRET_BODY} <= bodies
    assert MEDIA_BYTES in content["blobs"].values()
    assert manifest["scope"] == "system"
    assert manifest["source_engine"] == connection.vendor
    assert manifest["schema"] == f"messaging.{newest_messaging_migration()}"
    assert manifest["tables"]["messaging.message"]["rows"] == 5
    assert AuditEvent.objects.filter(
        action="backup.create", target_id=backup.id
    ).exists()


def test_stored_objects_hold_no_plaintext(world):
    backup = Backup.objects.get(pk=create_full_backup())
    store = object_store()
    for name in (backup.object_key, backup.sidecar_key):
        stored = store.get(name)
        for canary in (
            SECRET_BODY.encode(),
            TELUGU.encode(),
            b"media-canary-77aa",
            b"Village council",
        ):
            assert canary not in stored, name


def test_user_backup_holds_only_that_users_rows(world):
    backup = Backup.objects.get(pk=create_full_backup(user=world.ravi))
    assert backup.scope == "user" and backup.owner == world.ravi
    content, manifest = read_archive(backup)
    senders = {row[4] for row in content["tables"]["messaging.message"]}
    assert senders == {str(world.ravi.id)}
    calls = content["tables"]["messaging.callrecord"]
    assert len(calls) == 2  # made one, received one
    assert "auth.user" not in content["tables"]
    assert len(content["blobs"]) == 1
    assert manifest["owner"] == {"id": world.ravi.id, "username": "ravi"}


def test_selected_types_only(world):
    backup_id = create_full_backup(
        include_messages=False, include_call_history=False, include_media_files=False
    )
    content, manifest = read_archive(Backup.objects.get(pk=backup_id))
    assert set(content["tables"]) == {
        "auth.user",
        "messaging.conversation",
        "messaging.participant",
    }
    assert manifest["data_types"] == ["conversations"]


def account_rows(content: dict) -> dict[str, list]:
    """Return the accounts an archive carries, by username."""
    columns = [f.column for f in get_user_model()._meta.concrete_fields]
    at = columns.index("username")
    return {row[at]: row for row in content["tables"]["auth.user"]}


def test_incremental_after_no_change_carries_nothing(world, make_user):
    for n in range(17):
        make_user(f"member{n}")
    full = Backup.objects.get(pk=create_full_backup())
    assert full.counts["accounts"] == 20
    incremental = Backup.objects.get(pk=create_incremental_backup())
    assert {k: v for k, v in incremental.counts.items() if v} == {}
    content, _manifest = read_archive(incremental)
    assert account_rows(content) == {}


def test_incremental_carries_exactly_the_account_that_changed(world):
    create_full_backup()
    get_user_model().objects.filter(pk=world.ravi.pk).update(first_name="Ravi Kumar")
    incremental = Backup.objects.get(pk=create_incremental_backup())
    assert incremental.counts["accounts"] == 1
    content, _manifest = read_archive(incremental)
    accounts = account_rows(content)
    assert list(accounts) == ["ravi"]
    assert "Ravi Kumar" in accounts["ravi"]
    # And the next incremental does not carry it again.
    again = Backup.objects.get(pk=create_incremental_backup())
    assert again.counts["accounts"] == 0


def test_a_deleted_account_reaches_the_incremental(world, make_user):
    leaving = make_user("leaving")
    leaving_id = leaving.id
    create_full_backup()
    leaving.delete()
    incremental = Backup.objects.get(pk=create_incremental_backup())
    content, _manifest = read_archive(incremental)
    tombstones = [row[1:3] for row in content["tables"]["messaging.tombstone"]]
    assert ["auth.user", str(leaving_id)] in tombstones
    assert account_rows(content) == {}


def test_incremental_carries_changes_and_deletions(world):
    full = Backup.objects.get(pk=create_full_backup())
    edited = Message.objects.get(body=HINDI)
    edited.body = HINDI + " (edited)"
    edited.is_edited = True
    edited.save()
    gone = Message.objects.get(body=SECRET_BODY)
    gone_id = gone.id
    gone.delete()
    incremental = Backup.objects.get(pk=create_incremental_backup())
    assert incremental.kind == "incremental" and incremental.parent == full
    content, manifest = read_archive(incremental)
    bodies = {row[6] for row in content["tables"]["messaging.message"]}
    assert HINDI + " (edited)" in bodies
    tombstones = content["tables"]["messaging.tombstone"]
    assert ["messaging.message", str(gone_id)] in [row[1:3] for row in tombstones]
    assert manifest["parent"] == full.id and manifest["chain"] == [full.id]
    assert manifest["since"] == full.watermark.isoformat()
    # Only the changed rows travel, and unchanged media is not stored again.
    assert len(content["tables"]["messaging.message"]) == 1
    assert content["blobs"] == {}


def test_incremental_without_a_full_is_refused(world):
    with pytest.raises(BackupError, match="create a full backup first"):
        create_incremental_backup()
    backup_id = create_incremental_backup(full_if_missing=True)
    assert Backup.objects.get(pk=backup_id).kind == "full"


def test_second_backup_of_a_scope_is_refused_while_one_runs(world):
    running = claim_backup(
        kind="full", scope="system", owner=None, data_types=["messages"]
    )
    with pytest.raises(BackupInProgress, match=running.id):
        create_full_backup()
    # Another scope is not blocked.
    assert create_full_backup(user=world.asha)
    assert running.lock_key == scope_lock_key(None)


def test_verify_passes_and_is_recorded(world):
    backup = Backup.objects.get(pk=create_full_backup())
    result = verify_backup(backup)
    assert result.ok, result.error
    backup.refresh_from_db()
    assert backup.verify_ok is True and backup.verified_at is not None


def _corrupt(backup: Backup, offset: int) -> None:
    path = object_store().root / backup.object_key
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["header", "middle", "end"])
def test_verify_detects_a_flipped_byte(world, where):
    backup = Backup.objects.get(pk=create_full_backup())
    size = backup.stored_bytes
    _corrupt(backup, {"header": 20, "middle": size // 2, "end": size - 3}[where])
    result = verify_backup(backup)
    assert not result.ok
    assert "corrupt" in result.error.lower() or "tampered" in result.error.lower()
    if where != "header":
        assert "chunk" in result.error
    backup.refresh_from_db()
    assert backup.verify_ok is False


def test_verify_detects_truncation(world):
    backup = Backup.objects.get(pk=create_full_backup())
    path = object_store().root / backup.object_key
    path.write_bytes(path.read_bytes()[:-40])
    assert not verify_backup(backup).ok


def test_verify_detects_an_archive_swapped_for_another(world):
    first = Backup.objects.get(pk=create_full_backup())
    second = Backup.objects.get(pk=create_full_backup())
    root = object_store().root
    (root / first.object_key).write_bytes((root / second.object_key).read_bytes())
    result = verify_backup(first)
    assert not result.ok


@pytest.mark.parametrize(
    "watermark",
    ["2026-12-02 01:56:38.123000", "2026-12-02 01:56:38", "2026-12-02 01:56:38.1"],
)
def test_sqlite_stamps_compare_with_the_watermark_as_times_do(watermark):
    from datetime import UTC, datetime, timedelta

    from backups.engines import sqlite_text

    moment = datetime.fromisoformat(watermark).replace(tzinfo=UTC)
    since = sqlite_text(moment)

    def forms(at: datetime) -> set[str]:  # Django's text and the triggers'
        naive = at.replace(tzinfo=None)
        return {str(naive), naive.strftime("%Y-%m-%d %H:%M:%S.%f")} | (
            {naive.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]}
            if at.microsecond % 1000 == 0
            else set()
        )

    for offset in (-1000, -1, 0, 1, 1000):
        at = moment + timedelta(microseconds=offset)
        for text in forms(at):
            assert (text >= since) == (offset >= 0), (text, since)
