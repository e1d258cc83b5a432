"""Real backups read by the independent decoder written from the format page.

``reference_decoder`` knows only docs/archive-format.md. These tests decode a
full, an incremental (with tombstones) and a one-user archive (with media
blobs) from the backup storage, the way the page says, and compare every row
and every blob with the database: the page is then complete and true for
what TALOWA writes, on the engine the tests run on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core.files.storage import storages
from django.db.models import Q

from backups.keyring import load_keyring
from backups.models import Backup
from backups.services import create_full_backup, create_incremental_backup
from backups.services.sidecars import primary_name
from backups.storage import object_store
from messaging.models import CallRecord, MediaFile, Message, Participant
from tests.backups import reference_decoder

pytestmark = pytest.mark.django_db(transaction=True)

SPEC = Path(django_settings.BASE_DIR) / "docs" / "archive-format.md"
TOMBSTONE = "messaging.tombstone"


def _keys() -> dict[str, bytes]:
    ring = load_keyring()
    return {key_id: ring.get(key_id) for key_id in ring.ids}


def _decode(backup_id: str) -> reference_decoder.DecodedArchive:
    """Decode a stored backup with its sidecar copies, as section 8.1 says."""
    root = object_store().root
    return reference_decoder.read_from_storage(root, backup_id, keys=_keys())


def _db_rows(label: str, condition: Q | None = None) -> dict[int, dict[str, Any]]:
    """Return a table's rows from the database, by id, keyed by column."""
    model = apps.get_model(label)
    fields = model._meta.concrete_fields
    query = model.objects.filter(condition or Q())
    rows = {}
    for values in query.values_list(*[f.attname for f in fields]):
        row = {f.column: value for f, value in zip(fields, values, strict=True)}
        rows[row["id"]] = row
    return rows


def _by_id(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    found = {row["id"]: row for row in rows}
    assert len(found) == len(rows), "a row appears twice in one section"
    return found


def _tables(archive) -> dict[str, reference_decoder.DecodedSection]:
    return {s.name: s for s in archive.sections if s.name.startswith("table:")}


def _media_bytes(sha256: str) -> bytes:
    media = MediaFile.objects.filter(sha256=sha256).first()
    with storages["media"].open(media.file.name, "rb") as handle:
        return handle.read()


def _awkward_values(world) -> None:
    """Rows whose values exercise section 9's forms."""
    message = Message.objects.create(
        conversation=world.group,
        sender=world.asha,
        kind="group",
        body="tab\there\nnew line \\ backslash \r\x08\x0c\x0b end",
        metadata={"zeta": 1, "a": [1, "x", None], "ü": "ö\n", "nested": {"k": True}},
    )
    whole_second = datetime(2026, 11, 26, 7, 20, 38, tzinfo=UTC)
    Message.objects.filter(pk=message.pk).update(created_at=whole_second)
    half_second = datetime(2026, 11, 26, 7, 20, 38, 500000, tzinfo=UTC)
    CallRecord.objects.filter(pk=CallRecord.objects.first().pk).update(
        started_at=half_second
    )


def test_full_archive_decodes_to_every_row_and_blob(world):
    _awkward_values(world)
    backup_id = create_full_backup()
    archive = _decode(backup_id)
    manifest = archive.manifest

    assert manifest["manifest_version"] == 1 and manifest["kind"] == "full"
    assert manifest["backup_id"] == backup_id and manifest["chain"] == []
    tables = _tables(archive)
    assert list(tables) == [
        "table:auth.user",
        "table:messaging.conversation",
        "table:messaging.participant",
        "table:messaging.message",
        "table:messaging.callrecord",
        "table:messaging.mediafile",
    ]
    for name, section in tables.items():
        label = name.removeprefix("table:")
        assert _by_id(reference_decoder.table_rows(section)) == _db_rows(label)
        assert manifest["tables"][label] == {
            "table": section.meta["table"],
            "rows": section.end["rows"],
            "bytes": section.end["bytes"],
            "xxh3_128": section.end["xxh3_128"],
            "columns": section.meta["columns"],
            "kinds": section.meta["kinds"],
        }
    blobs = [s for s in archive.sections if s.name.startswith("blob:")]
    assert [s.name for s in blobs] == sorted(
        f"blob:{sha}" for sha in set(MediaFile.objects.values_list("sha256", flat=True))
    )
    for section in blobs:
        assert section.meta["sha256"] == section.name[5:]
        assert section.data == _media_bytes(section.meta["sha256"])
        assert section.end["rows"] is None
    assert manifest["counts"]["media_blobs"] == len(blobs)
    assert manifest["counts"]["messages"] == Message.objects.count()


def test_incremental_archive_with_tombstones_rebuilds_the_database(world):
    full_id = create_full_backup()
    changed = Message.objects.get(body__startswith="meena")
    changed.body = "meena joined, then left"
    changed.save()
    Message.objects.create(
        conversation=world.direct, sender=world.ravi, kind="regular", body="new"
    )
    gone = Message.objects.get(sender=world.asha, kind="regular")
    gone_id = gone.pk
    gone.delete()
    gone_call = CallRecord.objects.get(status="missed")
    gone_call_id = gone_call.pk
    gone_call.delete()
    incremental_id = create_incremental_backup()

    full, incremental = _decode(full_id), _decode(incremental_id)
    manifest = incremental.manifest
    assert manifest["kind"] == "incremental" and manifest["parent"] == full_id
    assert manifest["chain"] == [full_id]
    assert manifest["since"] == full.manifest["watermark"]
    tables = _tables(incremental)
    carried = _by_id(reference_decoder.table_rows(tables["table:messaging.message"]))
    assert set(carried) < set(_db_rows("messaging.message")) | {gone_id}
    deleted = {
        (row["model"], row["object_id"])
        for row in reference_decoder.table_rows(tables[f"table:{TOMBSTONE}"])
    }
    assert ("messaging.message", gone_id) in deleted
    assert ("messaging.callrecord", gone_call_id) in deleted

    state = reference_decoder.reconstruct([full, incremental])
    for label in state.tables:
        assert state.tables[label] == _db_rows(label), label
    assert set(state.blobs) == set(MediaFile.objects.values_list("sha256", flat=True))


def test_one_user_archive_holds_their_rows_and_media(world):
    backup_id = create_full_backup(user=world.asha)
    archive = _decode(backup_id)
    asha = world.asha.pk
    manifest = archive.manifest
    assert manifest["scope"] == "user"
    assert manifest["owner"] == {"id": asha, "username": "asha"}

    theirs = {
        "messaging.conversation": Q(
            id__in=Participant.objects.filter(user_id=asha).values("conversation_id")
        ),
        "messaging.participant": Q(user_id=asha),
        "messaging.message": Q(sender_id=asha),
        "messaging.callrecord": Q(caller_id=asha) | Q(callee_id=asha),
        "messaging.mediafile": Q(owner_id=asha),
    }
    tables = _tables(archive)
    assert [name.removeprefix("table:") for name in tables] == list(theirs)
    for label, condition in theirs.items():
        rows = reference_decoder.table_rows(tables[f"table:{label}"])
        assert rows, label
        assert _by_id(rows) == _db_rows(label, condition), label

    blobs = {
        s.meta["sha256"]: s.data for s in archive.sections if s.name[:5] == "blob:"
    }
    owned = set(
        MediaFile.objects.filter(owner_id=asha).values_list("sha256", flat=True)
    )
    assert set(blobs) == owned and owned
    for sha256, data in blobs.items():
        assert data == _media_bytes(sha256)


def test_decoder_falls_back_to_the_second_sidecar_copy(world):
    backup = Backup.objects.get(pk=create_full_backup())
    store = object_store()
    store.put(primary_name(backup.object_key), b'{"format": "damaged"}')
    archive = _decode(backup.id)
    assert archive.manifest["backup_id"] == backup.id


def _documented_keys(heading: str, next_heading: str) -> set[str]:
    text = SPEC.read_text()
    part = text[text.index(heading) : text.index(next_heading)]
    return set(re.findall(r"^\| `(\w+)`", part, flags=re.MULTILINE))


def test_every_manifest_key_written_is_specified(world):
    create_full_backup()
    Message.objects.first().delete()
    archive = _decode(create_incremental_backup())
    documented = _documented_keys("### 13.2 Manifest", "### 13.3")
    written = set(archive.manifest) - {"archive"}
    assert written <= documented, written - documented
    assert {"table", "columns", "kinds", "encoding"} == set(archive.sections[0].meta)
    spec = SPEC.read_text()
    assert "placeholder" not in spec.lower() and "to be completed" not in spec.lower()


def test_row_values_are_written_in_the_forms_of_section_9(world):
    """The raw text of timestamps and JSON, as section 9 says per source."""
    _awkward_values(world)
    archive = _decode(create_full_backup())
    engine = archive.manifest["source_engine"]
    tables = _tables(archive)

    def raw(label: str, row_id: int, column: str) -> str:
        section = tables[f"table:{label}"]
        at = section.meta["columns"].index(column)
        for fields in reference_decoder.decode_copy_text(section.data):
            if int(fields[0]) == row_id:
                return fields[at]
        raise AssertionError(f"{label} {row_id} not in the archive")

    message = Message.objects.get(body__startswith="tab")
    # The whole instant: another call may start at second 38 of its own minute.
    call = CallRecord.objects.get(
        started_at=datetime(2026, 11, 26, 7, 20, 38, 500000, tzinfo=UTC)
    )
    assert raw("messaging.message", message.pk, "created_at") == (
        "2026-11-26 07:20:38+00"
    )
    half = raw("messaging.callrecord", call.pk, "started_at")
    metadata = raw("messaging.message", message.pk, "metadata")
    if engine == "postgresql":
        assert half == "2026-11-26 07:20:38.5+00"
        assert metadata == (
            '{"a": [1, "x", null], "ü": "ö\\n", "zeta": 1, "nested": {"k": true}}'
        )
    else:
        assert half == "2026-11-26 07:20:38.500000+00"
        assert metadata == (
            '{"zeta": 1, "a": [1, "x", null], "\\u00fc": "\\u00f6\\n", '
            '"nested": {"k": true}}'
        )
    assert raw("messaging.message", message.pk, "body") == message.body
