"""Key rotation re-wraps data keys without touching archives."""

from __future__ import annotations

import base64
import io
import json
import os
import stat

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backups.models import Backup
from backups.services import create_full_backup, keys_in_use, rotate_keys, verify_backup
from backups.storage import object_store

pytestmark = pytest.mark.django_db(transaction=True)

OLD = ("k-old", os.urandom(32))
NEW = ("k-new", os.urandom(32))


def test_rotation_rewraps_then_the_old_key_can_retire(world, settings):
    settings.TALOWA_BACKUP_KEYS = [OLD]
    backup = Backup.objects.get(pk=create_full_backup())
    archive_before = object_store().get(backup.object_key)
    assert keys_in_use() == {"k-old": [backup.id]}

    settings.TALOWA_BACKUP_KEYS = [NEW, OLD]
    with pytest.raises(CommandError, match="still wraps 1 backup"):
        call_command("rotate_keys", "--retire", "k-old", stdout=io.StringIO())
    out = io.StringIO()
    call_command("rotate_keys", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["rewrapped"] == [backup.id]
    assert result["in_use"] == {"k-new": [backup.id]}
    assert object_store().get(backup.object_key) == archive_before  # not re-encrypted
    backup.refresh_from_db()
    assert backup.key_id == "k-new"

    call_command("rotate_keys", "--retire", "k-old", stdout=io.StringIO())
    settings.TALOWA_BACKUP_KEYS = [NEW]  # the old key is gone
    assert verify_backup(backup).ok


def test_retiring_a_key_that_is_not_configured_is_refused(world, settings):
    settings.TALOWA_BACKUP_KEYS = [NEW]
    with pytest.raises(CommandError, match="'k-old' is not in TALOWA_BACKUP_KEYS"):
        call_command("rotate_keys", "--retire", "k-old", stdout=io.StringIO())


def test_rotation_dry_run_changes_nothing(world, settings):
    settings.TALOWA_BACKUP_KEYS = [OLD]
    backup = Backup.objects.get(pk=create_full_backup())
    sidecar = object_store().get(backup.sidecar_key)
    settings.TALOWA_BACKUP_KEYS = [NEW, OLD]
    assert rotate_keys(dry_run=True)["rewrapped"] == [backup.id]
    assert object_store().get(backup.sidecar_key) == sidecar


def test_new_key_file_is_private_and_never_printed(tmp_path):
    path = tmp_path / "new.key"
    out = io.StringIO()
    call_command(
        "rotate_keys", "--new-key-file", str(path), "--key-id", "k2", stdout=out
    )
    spec = path.read_text().strip()
    key_id, encoded = spec.split(":")
    assert key_id == "k2" and len(base64.b64decode(encoded)) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert encoded not in out.getvalue()
    with pytest.raises(CommandError, match="exists"):
        call_command("rotate_keys", "--new-key-file", str(path), stdout=out)
