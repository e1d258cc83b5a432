"""Health checks: each component driven into its failing state, history, alerts."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from backups.models import Backup
from backups.services import create_full_backup, verify_backup
from backups.services.sidecars import sidecar_names
from backups.storage import object_store
from recovery.models import HealthSnapshot
from recovery.services import check_system_health
from recovery.services.drills import run_restore_drill
from recovery.services.health_checks import CHECKS, Check, Component
from talowa_admin.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

K1 = ("k1", b"\x01" * 32)
K2 = ("k2", b"\x02" * 32)


def only(*names: str) -> tuple[Check, ...]:
    return tuple(check for check in CHECKS if check.name in names)


def component(name: str, **kwargs) -> dict:
    return check_system_health(checks=only(name), **kwargs)["components"][name]


def test_every_component_is_reported_with_value_threshold_and_detail(world):
    result = check_system_health()
    assert set(result["components"]) == {check.name for check in CHECKS}
    for name, state in result["components"].items():
        assert state["status"] in ("healthy", "degraded", "unhealthy"), name
        assert state["threshold"] and state["detail"], name
    assert result["components"]["database"]["status"] == "healthy"
    assert result["components"]["backup_storage"]["status"] == "healthy"
    assert HealthSnapshot.objects.count() == len(CHECKS)


def test_unreachable_storage_is_unhealthy(world, settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": blocker / "backups"},
        },
    }
    result = check_system_health(checks=only("backup_storage"))
    state = result["components"]["backup_storage"]
    assert state["status"] == "unhealthy"
    assert "TALOWA_BACKUP_STORAGE" in state["recommendation"]
    assert result["overall"] == "unhealthy"


def test_no_cluster_heartbeat_is_unhealthy(db):
    state = component("workers")
    assert state["status"] == "unhealthy"
    assert "`manage.py qcluster`" in state["recommendation"]


def test_stale_backup_is_degraded(world):
    backup_id = create_full_backup()
    assert component("backups")["status"] == "healthy"
    Backup.objects.filter(pk=backup_id).update(
        created_at=timezone.now() - timedelta(hours=30)
    )
    state = component("backups")
    assert state["status"] == "degraded"
    assert state["value"] == pytest.approx(30, abs=0.2)
    assert "run `create_backup`" in state["recommendation"]


def test_stale_verification_is_degraded_and_a_failed_one_unhealthy(world):
    backup_id = create_full_backup()
    verify_backup(Backup.objects.get(pk=backup_id))
    assert component("verification")["status"] == "healthy"
    Backup.objects.filter(pk=backup_id).update(
        verified_at=timezone.now() - timedelta(days=8)
    )
    state = component("verification")
    assert state["status"] == "degraded"
    assert state["recommendation"] == (
        "No verified backup for 8 days: run `verify_backup --all`."
    )
    Backup.objects.filter(pk=backup_id).update(verify_ok=False)
    assert component("verification")["status"] == "unhealthy"


def test_failed_drill_is_unhealthy_and_a_passed_one_proves_restorable(world, data_dir):
    backup_id = create_full_backup()
    drill = run_restore_drill()
    state = component("restore_drill")
    assert state["status"] == "healthy"
    assert state["detail"].startswith(f"last proven restorable: {backup_id}, ")
    assert f"RTO {drill.rto_seconds:g} s" in state["detail"]
    archive = data_dir / "backups" / Backup.objects.get(pk=backup_id).object_key
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    run_restore_drill()
    state = component("restore_drill")
    assert state["status"] == "unhealthy"
    assert "failed verification" in state["detail"]
    assert "`run_restore_drill`" in state["recommendation"]


def test_missing_key_is_unhealthy(world, settings):
    settings.TALOWA_BACKUP_KEYS = [K1]
    create_full_backup()
    assert component("encryption_keys")["status"] == "healthy"
    settings.TALOWA_BACKUP_KEYS = [K2]
    state = component("encryption_keys")
    assert state["status"] == "unhealthy"
    assert "Add key k1 back to TALOWA_BACKUP_KEYS" in state["recommendation"]


def test_missing_sidecar_copy_is_degraded(world):
    backup_id = create_full_backup()
    backup = Backup.objects.get(pk=backup_id)
    object_store().delete(sidecar_names(backup.object_key)[1])
    state = component("encryption_keys")
    assert state["status"] == "degraded"
    assert "`rotate_keys`" in state["recommendation"]


def test_disk_and_quota_thresholds_degrade(world, settings):
    assert component("space")["status"] == "healthy"
    settings.TALOWA_HEALTH_MIN_FREE_PERCENT = 99
    state = component("space")
    assert state["status"] == "degraded"
    assert "is free" in state["recommendation"]
    settings.TALOWA_HEALTH_MIN_FREE_PERCENT = 0
    settings.TALOWA_BACKUP_STORAGE_QUOTA_BYTES = 1
    create_full_backup()
    state = component("space")
    assert state["status"] == "degraded"
    assert "over the 1-byte quota" in state["recommendation"]


def test_failed_tasks_degrade(db):
    from django_q.brokers import get_broker
    from django_q.monitor import save_task

    assert component("failed_tasks")["status"] == "healthy"
    now = timezone.now()
    # What a cluster records when a task raised (django-q2's own recorder).
    failed = {
        "id": "a" * 32,
        "name": "nightly-backup",
        "func": "backups.tasks.run_schedule",
        "args": (),
        "kwargs": {},
        "started": now - timedelta(seconds=5),
        "stopped": now,
        "result": "storage unavailable",
        "success": False,
        "group": None,
        "attempt_count": 1,
    }
    save_task(failed, get_broker())
    state = component("failed_tasks")
    assert state["status"] == "degraded"
    assert state["value"] == 1
    assert "Failed tasks" in state["recommendation"]


def test_broken_audit_trail_is_unhealthy(world):
    create_full_backup()
    assert component("audit_trail")["status"] == "healthy"
    AuditEvent.objects.filter(pk=AuditEvent.objects.order_by("pk").first().pk).update(
        action="tampered"
    )
    state = component("audit_trail")
    assert state["status"] == "unhealthy"
    assert "`verify_audit_log`" in state["recommendation"]


def test_a_hung_component_cannot_hang_the_check(db, settings):
    settings.TALOWA_HEALTH_CHECK_TIMEOUT = 1
    release = threading.Event()

    def hangs() -> Component:
        release.wait(30)
        return Component("hung", "healthy", None, "-", "-")

    started = time.monotonic()
    try:
        result = check_system_health(
            checks=(Check("hung", hangs, "Look at it."), *only("database"))
        )
    finally:
        release.set()
    assert time.monotonic() - started < 5
    assert result["components"]["hung"]["status"] == "unhealthy"
    assert "did not answer within 1 s" in result["components"]["hung"]["detail"]
    assert result["components"]["database"]["status"] == "healthy"


# --- Alerts ----------------------------------------------------------------------


class Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers["Content-Length"])
        Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(settings):
    Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.TALOWA_ALERT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    yield Hook.received
    server.shutdown()


def break_storage(settings, tmp_path) -> dict:
    working = settings.STORAGES
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    settings.STORAGES = {
        **working,
        "backups": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": blocker / "backups"},
        },
    }
    return working


def test_one_alert_per_change_within_an_hour_and_one_on_recovery(
    world, settings, tmp_path, webhook
):
    settings.ADMINS = [("Ops", "ops@example.org")]
    storage = only("backup_storage")
    check_system_health(checks=storage)
    assert mail.outbox == [] and webhook == []  # healthy from the start
    working = break_storage(settings, tmp_path)
    check_system_health(checks=storage)
    check_system_health(checks=storage)  # still broken: no new alert
    assert [m.subject for m in mail.outbox] == [
        "[TALOWA] backup_storage is unhealthy (was healthy)"
    ]
    assert "ops@example.org" in mail.outbox[0].to
    assert [(h["component"], h["alert"], h["status"]) for h in webhook] == [
        ("backup_storage", "problem", "unhealthy")
    ]
    settings.STORAGES = working
    check_system_health(checks=storage)  # recovers: one alert
    break_storage(settings, tmp_path)
    check_system_health(checks=storage)  # broken again within the hour: silent
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject.endswith("backup_storage is healthy (was unhealthy)")
    assert [h["alert"] for h in webhook] == ["problem", "recovery"]
    alerts = HealthSnapshot.objects.exclude(alert="").values_list("alert", flat=True)
    assert sorted(alerts) == ["problem", "recovery"]
    # An hour later the next change alerts again.
    HealthSnapshot.objects.update(checked_at=timezone.now() - timedelta(hours=2))
    settings.STORAGES = working
    check_system_health(checks=storage)
    assert len(mail.outbox) == 3


def test_check_health_command_prints_json_and_exits_by_severity(db):
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("check_health", "--json", stdout=out, stderr=err)
    assert exit_info.value.code == 2  # no worker cluster, no backup
    payload = json.loads(out.getvalue())
    assert payload["overall"] == "unhealthy"
    assert payload["components"]["workers"]["status"] == "unhealthy"
    assert "No system backup exists" in " ".join(payload["recommendations"])
    assert err.getvalue().startswith("system is unhealthy: ")


def test_setup_schedules_registers_the_hourly_health_check(db):
    from django_q.models import Schedule

    from backups.services.scheduling import ensure_default_schedules

    assert ensure_default_schedules()["talowa: health check"] == "created"
    assert ensure_default_schedules()["talowa: health check"] == "ok"
    schedule = Schedule.objects.get(name="talowa: health check")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "recovery.tasks.check_system_health",
        Schedule.MINUTES,
        60,
    )


def test_the_scheduled_health_check_records_a_snapshot_per_component(db):
    from recovery.tasks import check_system_health as task

    assert task().startswith("health: ")
    assert HealthSnapshot.objects.count() == len(CHECKS)


def test_retention_without_runs_or_late_is_degraded_and_shows_the_backlog(world):
    from messaging.models import Message
    from retention.models import CleanupRun
    from retention.services import cleanup_expired_messages

    state = component("retention")
    assert state["status"] == "degraded"
    assert "run `apply_retention`" in state["recommendation"]
    cleanup_expired_messages()
    state = component("retention")
    assert (state["status"], state["value"]) == ("healthy", 0)
    old = Message.objects.create(
        conversation=world.group, sender=None, kind="system", body="old notice"
    )
    Message.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=400)
    )
    CleanupRun.objects.update(started_at=timezone.now() - timedelta(hours=50))
    state = component("retention")
    assert state["status"] == "degraded"
    assert state["value"] == 1
    assert "1 rows past retention: run `apply_retention`" in state["recommendation"]


def test_a_schedule_without_a_recent_successful_backup_is_degraded(world):
    from backups.models import BackupSchedule, BackupScheduleRun

    assert component("backup_schedules")["status"] == "healthy"
    schedule = BackupSchedule.objects.create(name="hourly", kind="hours", every=1)
    BackupSchedule.objects.filter(pk=schedule.pk).update(
        created_at=timezone.now() - timedelta(hours=3)
    )
    assert component("backup_schedules")["status"] == "degraded"
    BackupScheduleRun.objects.create(
        schedule=schedule,
        trigger="scheduled",
        result="failed",
        message="storage unavailable",
        finished_at=timezone.now(),
    )
    state = component("backup_schedules")
    assert state["status"] == "degraded"
    assert "last run failed: storage unavailable" in state["detail"]
    assert "Backup schedule 'hourly' is late" in state["recommendation"]
    backup = Backup.objects.get(pk=create_full_backup())
    BackupScheduleRun.objects.create(
        schedule=schedule,
        trigger="scheduled",
        result="succeeded",
        backup=backup,
        finished_at=timezone.now(),
    )
    assert component("backup_schedules")["status"] == "healthy"


def old_messages(world, count: int, *, kind: str = "group") -> None:
    from messaging.models import Message

    Message.objects.bulk_create(
        Message(
            conversation=world.group,
            sender=world.asha,
            kind=kind,
            body=f"old {n}",
            created_at=timezone.now() - timedelta(days=400, minutes=n),
            updated_at=timezone.now(),
        )
        for n in range(count)
    )


def test_a_large_retention_backlog_is_probed_not_counted_whole(world, monkeypatch):
    from django.db import connection

    from retention.services import backlog, cleanup_expired_messages

    cleanup_expired_messages()
    old_messages(world, 30)
    monkeypatch.setattr(backlog, "COUNT_LIMIT", 10)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE messaging_message")
    state = component("retention")
    assert state["status"] == "healthy"  # the daily run is recent
    if connection.vendor == "postgresql":
        # The planner's estimate of the candidates, all of them expired here.
        assert 20 <= state["value"] <= 45
        assert f"about {state['value']:,} rows (estimate) are past" in state["detail"]
    else:
        assert state["value"] == 10
        assert "at least 10 rows are past retention" in state["detail"]
    assert "the oldest (group messages) from " in state["detail"]
    monkeypatch.setattr(backlog, "COUNT_LIMIT", 1000)
    state = component("retention")
    assert state["value"] == 30
    assert "; 30 rows are past retention now, the oldest" in state["detail"]


def test_the_retention_backlog_leaves_out_rows_under_a_legal_hold(world):
    from retention.models import LegalHold
    from retention.services import cleanup_expired_messages

    cleanup_expired_messages()
    old_messages(world, 5)
    assert component("retention")["value"] == 5
    LegalHold.objects.create(user=world.asha, reason="litigation")
    assert component("retention")["value"] == 0


def test_an_escalation_alerts_within_the_hour_and_a_repeat_does_not(
    db, settings, webhook
):
    settings.ADMINS = [("Ops", "ops@example.org")]
    states = iter(["degraded", "unhealthy", "degraded", "unhealthy", "healthy"])

    def queue() -> Component:
        status = next(states)
        return Component("queue", status, None, "-", f"the queue is {status}")

    probe = (Check("queue", queue, "Look at the queue."),)
    for _ in range(5):
        check_system_health(checks=probe)
    assert [m.subject for m in mail.outbox] == [
        "[TALOWA] queue is degraded (was healthy)",
        "[TALOWA] queue is unhealthy (was degraded)",  # worse: at once
        # degraded, then unhealthy again within the hour: already said
        "[TALOWA] queue is healthy (was unhealthy)",
    ]
    assert [(h["alert"], h["status"], h["previous_status"]) for h in webhook] == [
        ("problem", "degraded", "healthy"),
        ("problem", "unhealthy", "degraded"),
        ("recovery", "healthy", "unhealthy"),
    ]


# --- The keys check reads a sidecar again only when it changed ----------------------

from tests.backups.test_storage_s3 import moto_endpoint, s3_backups  # noqa: E402, F401


@pytest.fixture(params=["file", "s3"])
def backup_storage(request, world):
    if request.param == "s3":
        request.getfixturevalue("s3_backups")
    return request.param


@pytest.fixture
def sidecar_reads(monkeypatch):
    """Count the reads of sidecar copies, of either storage."""
    from backups.storage import FileObjectStore, S3ObjectStore

    reads: list[str] = []
    for store_class in (FileObjectStore, S3ObjectStore):
        original = store_class.get

        def counting(self, name, original=original):
            if name.endswith(".key"):
                reads.append(name)
            return original(self, name)

        monkeypatch.setattr(store_class, "get", counting)
    return reads


def test_the_hourly_keys_check_reads_only_changed_sidecars(
    backup_storage, sidecar_reads, settings
):
    settings.TALOWA_BACKUP_KEYS = [K1]
    first, second = (Backup.objects.get(pk=create_full_backup()) for _ in range(2))
    assert component("encryption_keys")["status"] == "healthy"
    assert len(sidecar_reads) == 4  # both copies of both backups, read once
    sidecar_reads.clear()
    assert component("encryption_keys")["status"] == "healthy"
    assert sidecar_reads == []  # nothing changed: listed, not read
    # A copy written over with other bytes is read again and found damaged.
    store = object_store()
    damaged = sidecar_names(second.object_key)[1]
    data = bytearray(store.get(damaged))
    data[len(data) // 2] ^= 0x01
    store.put(damaged, bytes(data))
    sidecar_reads.clear()
    state = component("encryption_keys")
    assert state["status"] == "degraded"
    assert f"{damaged} (damaged)" in state["detail"]
    assert sorted(sidecar_reads) == sorted(sidecar_names(second.object_key))
    # A key no longer configured is seen without reading anything again.
    store.delete(damaged)
    settings.TALOWA_BACKUP_KEYS = [K2, K1]
    sidecar_reads.clear()
    component("encryption_keys")  # reads the damaged backup's good copy only
    settings.TALOWA_BACKUP_KEYS = [K2]
    sidecar_reads.clear()
    state = component("encryption_keys")
    assert state["status"] == "unhealthy"
    assert "needed by 2 backup(s)" in state["detail"]
    assert sidecar_reads == [sidecar_names(second.object_key)[0]]
    # A week after their last read, sidecars are read again, a slice at a time.
    settings.TALOWA_BACKUP_KEYS = [K1]
    from recovery.models import SidecarCheck

    SidecarCheck.objects.update(checked_at=timezone.now() - timedelta(days=8))
    sidecar_reads.clear()
    component("encryption_keys")
    assert sorted(sidecar_reads) == sorted(
        [*sidecar_names(first.object_key), sidecar_names(second.object_key)[0]]
    )


def test_the_keys_check_reads_for_a_bounded_time_and_goes_on_next_hour(
    world, sidecar_reads, settings, monkeypatch
):
    from recovery.services import health_keys

    settings.TALOWA_BACKUP_KEYS = [K1]
    first, second = (Backup.objects.get(pk=create_full_backup()) for _ in range(2))
    object_store().delete(sidecar_names(second.object_key)[1])
    monkeypatch.setattr(health_keys, "READ_SECONDS", -1.0)  # no time to read
    state = component("encryption_keys")
    assert sidecar_reads == []
    assert "2 backup(s) not read yet" in state["detail"]
    assert state["status"] == "degraded"  # the listing shows the missing copy
    settings.TALOWA_BACKUP_KEYS = [K2]
    state = component("encryption_keys")  # the catalog names their key
    assert state["status"] == "unhealthy"
    assert "Add key k1 back" in state["recommendation"]
    settings.TALOWA_BACKUP_KEYS = [K1]
    monkeypatch.setattr(health_keys, "READ_SECONDS", 5.0)
    state = component("encryption_keys")
    assert "not read yet" not in state["detail"]
    assert sorted(sidecar_reads) == sorted(
        [*sidecar_names(first.object_key), sidecar_names(second.object_key)[0]]
    )
