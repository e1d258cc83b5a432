"""Recovery plans and runs, rollback, integrity validation, the command."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from backups.services import create_full_backup
from messaging.models import Message
from recovery.models import RecoveryPlan, RecoveryRun
from recovery.services.integrity import validate_data_integrity
from recovery.services.plans import execute_disaster_recovery, rollback_restore
from talowa_admin.models import AuditEvent
from tests.backups.conftest import SECRET_BODY, TELUGU
from tests.recovery.conftest import table_state

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_default_plan_comes_with_a_migration():
    plan = RecoveryPlan.objects.get(is_default=True)
    assert [s["action"] for s in plan.steps] == [
        "verify_chain",
        "pre_restore_backup",
        "restore",
        "validate_integrity",
        "notify",
    ]


def test_disaster_recovery_runs_every_step_and_can_be_rolled_back(world):
    backup_id = create_full_backup()
    expected = table_state()
    Message.objects.filter(body=TELUGU).update(body="changed later")
    Message.objects.create(
        conversation=world.group, sender=world.asha, kind="group", body="new later"
    )
    changed = table_state()
    result = execute_disaster_recovery(backup_id=backup_id, actor="test")
    assert result["status"] == "completed", result
    assert [(s["action"], s["status"]) for s in result["steps"]] == [
        ("verify_chain", "completed"),
        ("pre_restore_backup", "completed"),
        ("restore", "completed"),
        ("retention", "completed"),
        ("validate_integrity", "completed"),
        ("notify", "completed"),
    ]
    assert result["steps"][4]["result"]["status"] in {"ok", "warning"}
    assert table_state() == expected
    run = RecoveryRun.objects.get(pk=result["run_id"])
    assert run.pre_restore_backup_id == result["pre_restore_backup"]
    assert "Validate the restored data: completed" in run.log
    rollback_restore(run, actor="test")
    assert table_state() == changed
    run.refresh_from_db()
    assert run.status == "rolled_back"
    assert AuditEvent.objects.filter(action="recovery.rollback").exists()


def test_failed_step_stops_the_run_and_says_why(world):
    from backups.models import Backup
    from backups.storage import object_store

    backup = Backup.objects.get(pk=create_full_backup())
    path = object_store().root / backup.object_key
    data = bytearray(path.read_bytes())
    data[-30] ^= 1
    path.write_bytes(bytes(data))
    result = execute_disaster_recovery(backup_id=backup.id)
    assert result["status"] == "failed"
    assert [s["status"] for s in result["steps"]] == ["failed"] + ["pending"] * 5
    assert "failed verification" in result["error"]


def test_integrity_validation_finds_broken_references_and_media(world):
    from django.core.files.storage import storages

    report = validate_data_integrity()
    assert report["status"] in {"ok", "warning"}
    photo = world.asha.id
    from messaging.models import MediaFile

    media = MediaFile.objects.filter(owner_id=photo).first()
    storages["media"].delete(media.file.name)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_keys = OFF")
            cursor.execute(
                "UPDATE messaging_message SET conversation_id = 99999 WHERE body = %s",
                [SECRET_BODY],
            )
            cursor.execute("PRAGMA foreign_keys = ON")
        expect = {"media", "references:messaging.message.conversation"}
    else:  # a validated foreign key rules it out; one added NOT VALID does not
        repair = _break_reference_under_an_unvalidated_key()
        expect = {"media", "references:messaging.message.conversation"}
    report = validate_data_integrity()
    assert report["status"] == "error"
    failing = {c["name"] for c in report["checks"] if c["status"] == "error"}
    assert failing == expect
    if connection.vendor == "postgresql":
        repair()


def _break_reference_under_an_unvalidated_key():
    """Point a message at a missing conversation; return how to undo it."""
    message = Message.objects.get(body=SECRET_BODY)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE "
            "conrelid = 'messaging_message'::regclass AND contype = 'f' AND "
            "pg_get_constraintdef(oid) LIKE 'FOREIGN KEY (conversation_id)%%'"
        )
        name, definition = cursor.fetchone()
        cursor.execute(f'ALTER TABLE messaging_message DROP CONSTRAINT "{name}"')
        cursor.execute(
            "UPDATE messaging_message SET conversation_id = 99999 WHERE body = %s",
            [SECRET_BODY],
        )
        cursor.execute(
            f'ALTER TABLE messaging_message ADD CONSTRAINT "{name}" {definition} '
            "NOT VALID"
        )

    def repair() -> None:
        Message.objects.filter(pk=message.pk).update(
            conversation_id=message.conversation_id
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f'ALTER TABLE messaging_message VALIDATE CONSTRAINT "{name}"'
            )

    return repair


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_restore_command_runs_a_recorded_recovery(world):
    backup_id = create_full_backup()
    expected = table_state()
    Message.objects.all().delete()
    result = json.loads(run("restore_backup", backup_id, "--noinput", "--json"))
    assert result["status"] == "completed"
    assert table_state() == expected
    preview = json.loads(run("restore_backup", backup_id, "--dry-run", "--json"))
    assert preview["status"] == "dry_run"
    assert preview["changes"]["messaging.message"] == {
        "inserted": 0,
        "updated": 0,
        "deleted": 0,
    }
    text = run("restore_backup", "--rollback", str(result["run_id"]), "--noinput")
    assert "Rolled back" in text
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backup_nope", "--noinput"], "neither in the catalog"),
        ([], "give the ID"),
        (["--rollback", "999"], "no recovery run 999"),
        (["x", "--user", "nobody"], "no user named"),
    ],
)
def test_restore_command_bad_input(world, args, message):
    with pytest.raises(CommandError, match=message):
        run("restore_backup", *args)


def test_restore_command_asks_first(world, monkeypatch):
    backup_id = create_full_backup()
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="cancelled"):
        run("restore_backup", backup_id)
    assert not RecoveryRun.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="staging is PostgreSQL's")
def test_integrity_validation_reports_staged_tables_left_behind(world):
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA talowa_restore")
        cursor.execute("CREATE TABLE talowa_restore.messaging_message (id int)")
    try:
        report = validate_data_integrity(check_media=False)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA talowa_restore CASCADE")
    staging = next(c for c in report["checks"] if c["name"] == "staging")
    assert staging["status"] == "warning"
    assert "DROP SCHEMA talowa_restore CASCADE" in staging["message"]
    assert staging["examples"] == ["messaging_message"]
    after = validate_data_integrity(check_media=False)["checks"]
    assert next(c for c in after if c["name"] == "staging")["status"] == "ok"
