"""Retiring a key cannot strand a backup: every sidecar is stored twice.

After ``rotate_keys --retire``, archives written with the retired key are
readable only through their sidecar. These tests lose one copy and check
that the backup still verifies, is found and restores from the storage
alone, and that retiring is refused while a copy is missing or damaged.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from backups.models import Backup
from backups.services import create_full_backup, expire_backup, verify_backup
from backups.services.sidecars import copy_name, primary_name
from backups.storage import object_store
from tests.backups.test_storage_s3 import BUCKET, moto_endpoint, s3_backups  # noqa: F401
from tests.recovery.conftest import ROOT, Scratch, table_state

pytestmark = pytest.mark.django_db(transaction=True)

OLD = ("k-old", os.urandom(32))
NEW = ("k-new", os.urandom(32))


@pytest.fixture
def empty_database(tmp_path, data_dir):
    """A database of this test's engine that never saw the backups."""
    made = Scratch(tmp_path, data_dir)
    yield made
    made.drop()


def _use_storage(request, storage: str) -> str | None:
    """Point the backups storage at ``storage``; return the S3 endpoint if any."""
    if storage == "s3":
        return request.getfixturevalue("s3_backups")
    return None


def _written_with_old_key_then_rotated(settings) -> Backup:
    settings.TALOWA_BACKUP_KEYS = [OLD]
    backup = Backup.objects.get(pk=create_full_backup())
    settings.TALOWA_BACKUP_KEYS = [NEW, OLD]
    call_command("rotate_keys", stdout=io.StringIO())
    return backup


def _retire(key_id: str) -> dict:
    out = io.StringIO()
    call_command("rotate_keys", "--retire", key_id, "--json", stdout=out)
    return json.loads(out.getvalue())


def _manage(scratch: Scratch, url: str, endpoint: str | None, *args: str):
    """Run manage.py against ``url`` with only the new key configured."""
    env = scratch.env(url)
    env["TALOWA_BACKUP_KEYS"] = f"{NEW[0]}:{base64.b64encode(NEW[1]).decode()}"
    if endpoint:
        env.update(
            TALOWA_BACKUP_STORAGE="s3",
            AWS_STORAGE_BUCKET_NAME=BUCKET,
            AWS_S3_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_S3_REGION_NAME="us-east-1",
            AWS_LOCATION="backups",
        )
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize(
    ("storage", "lost"),
    [("file", "primary"), ("file", "copy"), ("s3", "primary")],
)
def test_backup_of_a_retired_key_survives_one_lost_sidecar_copy(
    request, world, settings, empty_database, storage, lost
):
    endpoint = _use_storage(request, storage)
    backup = _written_with_old_key_then_rotated(settings)
    expected = json.loads(json.dumps(table_state()))
    scratch = empty_database
    store = object_store()
    names = {
        "primary": primary_name(backup.object_key),
        "copy": copy_name(backup.object_key),
    }
    assert all(store.exists(name) for name in names.values())

    verdict = _retire("k-old")  # asked while the key is still configured
    assert verdict["can_retire"] and verdict["depending_on_sidecars"] == 1
    settings.TALOWA_BACKUP_KEYS = [NEW]  # the old key leaves the ring
    store.delete(names[lost])

    assert verify_backup(backup).ok
    # A new, empty database: the catalog is rebuilt from the storage alone.
    url = scratch.url(connection.vendor, migrated=True)
    listed = json.loads(
        _manage(
            scratch, url, endpoint, "list_backups", "--from-storage", "--json"
        ).stdout
    )
    assert backup.id in {b["id"] for b in listed["backups"]}
    restored = _manage(
        scratch,
        url,
        endpoint,
        "restore_backup",
        backup.id,
        "--noinput",
        "--json",
        "--no-pre-restore-backup",
    )
    assert json.loads(restored.stdout)["status"] == "completed"
    assert scratch.state(url) == {
        table: [tuple(row) for row in rows] for table, rows in expected.items()
    }
    _manage(scratch, url, endpoint, "verify_backup", backup.id)


@pytest.mark.parametrize("storage", ["file", "s3"])
@pytest.mark.parametrize("damage", ["missing", "damaged"])
def test_retiring_is_refused_until_both_copies_are_intact(
    request, world, settings, storage, damage
):
    _use_storage(request, storage)
    backup = _written_with_old_key_then_rotated(settings)
    store = object_store()
    name = copy_name(backup.object_key)
    if damage == "missing":
        store.delete(name)
    else:
        document = json.loads(store.get(name))
        document["wrapped_key"] = base64.b64encode(bytes(60)).decode()
        store.put(name, json.dumps(document).encode())

    out = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("rotate_keys", "--retire", "k-old", "--json", stdout=out)
    reason = str(refused.value)
    assert "lack an intact pair" in reason and backup.id in reason
    assert "run rotate_keys" in reason and "\n" not in reason
    verdict = json.loads(out.getvalue())
    assert not verdict["can_retire"]
    assert name in verdict["unpaired"][backup.id]

    out = io.StringIO()
    call_command("rotate_keys", "--json", stdout=out)
    assert json.loads(out.getvalue())["repaired"] == [backup.id]
    assert store.get(name) == store.get(primary_name(backup.object_key))
    assert _retire("k-old")["can_retire"]


def test_retire_counts_the_backups_that_depend_on_sidecars(world, settings):
    settings.TALOWA_BACKUP_KEYS = [OLD]
    create_full_backup()
    create_full_backup(note="second")
    settings.TALOWA_BACKUP_KEYS = [NEW, OLD]
    create_full_backup(note="written with the new key")
    call_command("rotate_keys", stdout=io.StringIO())

    verdict = _retire("k-old")
    assert verdict["can_retire"] and verdict["depending_on_sidecars"] == 2
    out = io.StringIO()
    call_command("rotate_keys", "--retire", "k-old", stdout=out)
    assert "2 backup(s) were written with key k-old" in out.getvalue()


def test_the_primary_key_cannot_be_retired(world, settings):
    settings.TALOWA_BACKUP_KEYS = [NEW, OLD]
    create_full_backup()
    with pytest.raises(CommandError, match="is the primary key"):
        call_command("rotate_keys", "--retire", "k-new", stdout=io.StringIO())


def test_expiry_deletes_both_sidecar_copies(world):
    backup = Backup.objects.get(pk=create_full_backup())
    store = object_store()
    names = (
        backup.object_key,
        primary_name(backup.object_key),
        copy_name(backup.object_key),
    )
    assert all(store.exists(name) for name in names)
    expire_backup(backup, reason="test")
    assert not any(store.exists(name) for name in names)
