"""Restore drills: the newest chain restores into a scratch copy, and matches."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from backups.models import Backup
from backups.services import create_full_backup, create_incremental_backup
from messaging.models import Message
from recovery.models import RestoreDrill
from recovery.services.applying import Applier
from recovery.services.drills import run_restore_drill
from recovery.staging import SCHEMA
from talowa_admin.models import AuditEvent
from talowa_admin.roles import BACKUP_VIEWER
from tests.backups.conftest import HINDI, SECRET_BODY
from tests.recovery.conftest import table_state

pytestmark = pytest.mark.django_db(transaction=True)


def make_chain(world) -> tuple[str, str]:
    """A full backup and an incremental carrying an edit, a deletion, an addition."""
    full = create_full_backup()
    Message.objects.filter(body=HINDI).update(body="edited", updated_at=timezone.now())
    Message.objects.get(body=SECRET_BODY).delete()
    Message.objects.create(
        conversation=world.direct, sender=world.asha, kind="regular", body="new"
    )
    return full, create_incremental_backup()


def scratch_left(data_dir) -> list:
    leftovers = (
        list((data_dir / "drills").glob("*")) if (data_dir / "drills").exists() else []
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname = %s", [SCHEMA]
            )
            leftovers += cursor.fetchall()
    return leftovers


def test_drill_restores_the_newest_chain_and_matches_the_archives(world, data_dir):
    full, incremental = make_chain(world)
    live = table_state()
    drill = run_restore_drill(actor="test")
    assert drill.status == RestoreDrill.Status.PASSED, drill.error
    assert drill.backup_id == incremental
    assert drill.chain == [full, incremental]
    assert drill.rto_seconds > 0
    assert drill.rto_seconds == pytest.approx(
        drill.verify_seconds + drill.load_seconds, abs=0.01
    )
    messages = drill.tables["messaging.message"]
    assert messages["restored"] == messages["expected"]
    assert messages["restored"]["rows"] == Message.objects.count()
    assert set(drill.tables) == {
        "messaging.conversation",
        "messaging.participant",
        "messaging.message",
        "messaging.callrecord",
        "messaging.mediafile",
    }
    assert table_state() == live  # the live data was not touched
    assert scratch_left(data_dir) == []
    event = AuditEvent.objects.get(action="restore_drill.run")
    assert event.details["status"] == "passed"
    assert RestoreDrill.objects.get(pk=drill.pk).finished_at is not None


def test_drill_over_a_tampered_archive_fails_and_says_why(world, data_dir):
    full, incremental = make_chain(world)
    archive = data_dir / "backups" / Backup.objects.get(pk=full).object_key
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    drill = run_restore_drill(actor="test")
    assert drill.status == RestoreDrill.Status.FAILED
    assert f"backup {full} in the chain failed verification" in drill.error
    assert drill.rto_seconds is None
    assert scratch_left(data_dir) == []
    assert AuditEvent.objects.get(action="restore_drill.run").details["status"] == (
        "failed"
    )


def test_drill_notices_a_restored_copy_that_differs(world, data_dir, monkeypatch):
    make_chain(world)
    live = table_state()
    apply_chain = Applier.run

    def faulty_run(self):  # a restorer that gets one row wrong
        tallies = apply_chain(self)
        with self.rows.db.cursor() as cursor:
            cursor.execute(
                "UPDATE messaging_message SET body = 'wrong' "
                "WHERE id = (SELECT min(id) FROM messaging_message)"
            )
        return tallies

    monkeypatch.setattr(Applier, "run", faulty_run)
    drill = run_restore_drill()
    assert drill.status == RestoreDrill.Status.FAILED
    assert "messaging.message: the rows' content differs" in drill.error
    assert drill.tables["messaging.message"]["match"] is False
    assert drill.tables["messaging.conversation"]["match"] is True
    assert table_state() == live
    assert scratch_left(data_dir) == []


def test_a_drills_page_shows_its_chain_and_each_tables_comparison(
    world, data_dir, client, role_user
):
    full, incremental = make_chain(world)
    drill = run_restore_drill()
    client.force_login(role_user(BACKUP_VIEWER))

    page = client.get(reverse("admin:recovery_restoredrill_change", args=[drill.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    chain = re.findall(r'<li><a href="([^"]+)"><code>([^<]+)</code>', html)
    assert [backup for _, backup in chain] == [full, incremental]
    assert all(client.get(link).status_code == 200 for link, _ in chain)
    rows = re.findall(
        r"<tr><td><code>([a-z_.]+)</code></td><td class=\"num\">([\d,]+)</td>"
        r"<td class=\"num\">([\d,]+)</td><td><span [^>]+>(\w+)</span>",
        html,
    )
    assert {table for table, *_ in rows} == set(drill.tables)
    messages = next(row for row in rows if row[0] == "messaging.message")
    expected = drill.tables["messaging.message"]["expected"]["rows"]
    assert messages[1:] == (f"{expected:,}", f"{expected:,}", "Equal")
    assert '{"' not in html  # no raw JSON on the page


def test_command_prints_the_drill_as_json(world):
    make_chain(world)
    out = StringIO()
    call_command("run_restore_drill", "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["status"] == "passed"
    assert payload["rto_seconds"] > 0


def test_command_fails_with_a_reason_without_backups(db):
    with pytest.raises(CommandError, match="no completed system backup"):
        call_command("run_restore_drill", "--json", stdout=StringIO())
    assert RestoreDrill.objects.get().status == RestoreDrill.Status.FAILED


def test_setup_schedules_registers_the_weekly_drill(db):
    from django_q.models import Schedule

    from backups.services.scheduling import ensure_default_schedules

    assert ensure_default_schedules()["talowa: restore drill"] == "created"
    Schedule.objects.filter(name="talowa: restore drill").update(schedule_type="D")
    assert ensure_default_schedules()["talowa: restore drill"] == "updated"
    assert ensure_default_schedules()["talowa: restore drill"] == "ok"
    schedule = Schedule.objects.get(name="talowa: restore drill")
    assert (schedule.func, schedule.schedule_type) == (
        "recovery.tasks.restore_drill",
        Schedule.WEEKLY,
    )


def test_scheduled_drill_task_passes_and_raises_on_failure(world, data_dir):
    from recovery.exceptions import RecoveryError
    from recovery.tasks import restore_drill

    with pytest.raises(RecoveryError, match="no completed system backup"):
        restore_drill()
    make_chain(world)
    assert "passed" in restore_drill()
