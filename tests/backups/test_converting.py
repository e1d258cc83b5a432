"""convert_backups: archives rewritten, compared, and still restoring the same."""

from __future__ import annotations

import io
import json
import os

import pytest
from django.core.management import CommandError, call_command

from backups.archive import open_sidecar, read_archive_header
from backups.archive.crypto import ChunkCipher
from backups.keyring import load_keyring
from backups.models import Backup
from backups.services import converting as converting_module
from backups.services import create_full_backup, create_incremental_backup
from backups.services.sidecars import read_sidecar_copies
from backups.storage import object_store
from messaging.models import Message
from recovery.services.restoring import restore_from_backup
from tests.backups.conftest import add_media
from tests.recovery.conftest import table_state

pytestmark = pytest.mark.django_db(transaction=True)


def a_chain(world) -> list[str]:
    full = create_full_backup()
    add_media(world.meena, os.urandom(50_000), name="clip.bin")
    Message.objects.create(
        conversation=world.group, sender=world.ravi, kind="group", body="later"
    )
    return [full, create_incremental_backup()]


def convert(*args: str) -> dict:
    out = io.StringIO()
    call_command("convert_backups", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def data_key_of(backup: Backup) -> bytes:
    store = object_store(backup.storage)
    with store.open_read(backup.object_key) as stream:
        header = read_archive_header(stream)
    sidecar = read_sidecar_copies(store, backup.object_key)[0].data
    _parsed, key, _manifest = open_sidecar(
        sidecar,
        keyring=load_keyring(),
        archive_id=backup.id,
        header_sha256=header.sha256,
    )
    return key


def opens_first_chunk(backup: Backup, data_key: bytes) -> bool:
    """Tell whether ``data_key`` decrypts the archive's first chunk."""
    with object_store(backup.storage).open_read(backup.object_key) as stream:
        header = read_archive_header(stream)
        rest = stream.read()
    cipher = ChunkCipher(
        data_key=data_key, header_sha256=header.sha256, archive_id=backup.id
    )
    sealed = rest[: header.chunk_size + 16]
    try:
        cipher.open(sealed, index=0, final=len(rest) <= header.chunk_size + 16)
    except Exception:
        return False
    return True


def test_reencrypt_gives_fresh_data_keys_and_restores_the_same(world):
    ids = a_chain(world)
    expected = table_state()
    before = {b.id: b for b in Backup.objects.filter(pk__in=ids)}
    old_keys = {backup_id: data_key_of(b) for backup_id, b in before.items()}
    assert all(opens_first_chunk(before[i], old_keys[i]) for i in ids)

    result = convert("--all", "--reencrypt")

    assert sorted(result["converted"]) == sorted(ids)
    for backup_id in ids:
        after = Backup.objects.get(pk=backup_id)
        assert after.sha256 != before[backup_id].sha256
        assert not opens_first_chunk(after, old_keys[backup_id])
        assert opens_first_chunk(after, data_key_of(after))
        assert after.parent_id == before[backup_id].parent_id
        assert after.counts == before[backup_id].counts
    call_command("verify_backup", *ids, stdout=io.StringIO())
    assert object_store("backups").list("converting") == []

    Message.objects.all().delete()
    restore_from_backup(ids[-1], create_pre_restore_backup=False)
    assert table_state() == expected


def test_another_compression_level_is_written_and_same_level_skipped(world):
    ids = a_chain(world)

    first = convert("--ids", ids[0], "--compression-level", "9")
    again = convert("--ids", ids[0], "--compression-level", "9")

    assert (first["converted"], again["unchanged"]) == ([ids[0]], [ids[0]])
    backup = Backup.objects.get(pk=ids[0])
    with object_store().open_read(backup.object_key) as stream:
        assert read_archive_header(stream).fields["compression_level"] == 9
    assert backup.metadata["converted"]["compression_level"] == 9
    call_command("verify_backup", ids[0], stdout=io.StringIO())


def test_a_difference_found_on_comparison_keeps_the_original(world, monkeypatch):
    ids = a_chain(world)
    backup = Backup.objects.get(pk=ids[0])
    original = object_store().get(backup.object_key)
    real_decode = converting_module._decode

    def one_row_short(*args, **kwargs):
        decoded = real_decode(*args, **kwargs)
        decoded["sections"][1]["rows"] -= 1
        return decoded

    monkeypatch.setattr(converting_module, "_decode", one_row_short)

    with pytest.raises(CommandError, match="differ from the original"):
        call_command("convert_backups", "--ids", ids[0], "--reencrypt")

    assert object_store().get(backup.object_key) == original
    backup.refresh_from_db()
    assert backup.sha256 and "converted" not in backup.metadata
    assert object_store().list("converting") == []


def test_a_corrupted_original_is_not_converted(world):
    ids = a_chain(world)
    backup = Backup.objects.get(pk=ids[1])
    path = object_store().root / backup.object_key
    data = bytearray(path.read_bytes())
    data[-40] ^= 0x01
    path.write_bytes(bytes(data))

    with pytest.raises(CommandError, match="not converted"):
        call_command("convert_backups", "--ids", ids[1], "--reencrypt")

    assert path.read_bytes() == bytes(data)


def test_inputs_are_checked(world):
    with pytest.raises(CommandError, match="format version 2 only"):
        call_command("convert_backups", "--all", "--format-version", "1")
    with pytest.raises(CommandError, match="between -7 and 19"):
        call_command("convert_backups", "--all", "--compression-level", "40")
    with pytest.raises(CommandError, match="no completed backup backup_nope"):
        call_command("convert_backups", "--ids", "backup_nope")


def test_a_conversion_stopped_before_its_sidecars_is_finished_by_the_next(
    world, monkeypatch
):
    from backups.exceptions import StorageUnavailable

    ids = a_chain(world)
    real_write = converting_module.write_sidecars

    def storage_gone(*args, **kwargs):
        raise StorageUnavailable("the backup storage went away")

    monkeypatch.setattr(converting_module, "write_sidecars", storage_gone)
    with pytest.raises(CommandError, match="went away"):
        call_command("convert_backups", "--ids", ids[0], "--reencrypt")
    assert object_store().list("converting")  # the new sidecar waits there

    monkeypatch.setattr(converting_module, "write_sidecars", real_write)
    result = convert("--ids", ids[0])

    assert result["converted"] == [ids[0]]
    assert object_store().list("converting") == []
    call_command("verify_backup", *ids, stdout=io.StringIO())
