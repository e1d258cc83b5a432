"""Jobs whose worker died are failed as "worker died" by whoever reads them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backups.models import Backup, ExportJob
from recovery.models import MaintenanceRun, RecoveryRun, RestoreDrill
from talowa_admin import liveness
from talowa_admin.liveness import HOST
from tests.backups.conftest import world  # noqa: F401
from tests.backups.test_backup_faults import child_env, killed_child, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def ended_process() -> str:
    """Return the worker name of a process of this host that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{HOST}:{child.pid}"


def test_a_worker_of_this_host_lives_as_long_as_its_process(settings):
    settings.TALOWA_WORKER_HEARTBEAT_LIMIT = 1
    now = timezone.now()
    assert liveness.worker_is_alive(liveness.this_worker(), last_seen=now)
    # Silent for longer than the limit, but its process runs (a long
    # transaction may hold its heartbeat back): alive.
    since_start = liveness._process_start(os.getpid())
    time.sleep(max(0.0, 1.1 - (now - since_start).total_seconds()))
    assert liveness.worker_is_alive(liveness.this_worker(), last_seen=since_start)
    assert not liveness.worker_is_alive(ended_process(), last_seen=now)


def test_a_reused_pid_is_not_the_worker_that_died():
    started = liveness._process_start(os.getpid())
    assert started is not None and started <= timezone.now()
    before_this_process = started - timedelta(minutes=5)
    # This process's pid, on a job last heard of before the process started.
    assert not liveness.worker_is_alive(
        liveness.this_worker(), last_seen=before_this_process
    )


def test_a_worker_elsewhere_lives_as_long_as_its_heartbeat(settings):
    limit = timedelta(seconds=settings.TALOWA_WORKER_HEARTBEAT_LIMIT)
    now = timezone.now()
    other = "another-host:4242"
    assert liveness.worker_is_alive(other, last_seen=now - limit / 2)
    assert not liveness.worker_is_alive(other, last_seen=now - limit)
    assert not liveness.worker_is_alive(other, last_seen=None)


def running_backup(worker: str, user) -> Backup:
    # One running backup per scope: each test's jobs are of their own user.
    return Backup.objects.create(
        kind="full",
        scope="user",
        owner=user,
        status="running",
        lock_key=f"user:{user.pk}",
        worker=worker,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )


def running_run(worker: str, user) -> RecoveryRun:
    return RecoveryRun.objects.create(
        backup_id="backup_x",
        status="running",
        steps=[{"action": "restore", "status": "running"}],
        worker=worker,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )


def running_export(worker: str, user) -> ExportJob:
    return ExportJob.objects.create(
        user=user,
        format="json",
        status="running",
        worker=worker,
        heartbeat_at=timezone.now(),
    )


def running_drill(worker: str, user) -> RestoreDrill:
    return RestoreDrill.objects.create(
        engine="sqlite", worker=worker, heartbeat_at=timezone.now()
    )


def running_maintenance(worker: str, user) -> MaintenanceRun:
    return MaintenanceRun.objects.create(
        steps={"cleanup_expired_backups": {"status": "completed"}},
        worker=worker,
        heartbeat_at=timezone.now(),
    )


@pytest.mark.parametrize(
    ("page", "make"),
    [
        ("backups_backup", running_backup),
        ("recovery_recoveryrun", running_run),
        ("backups_exportjob", running_export),
        ("recovery_restoredrill", running_drill),
    ],
)
def test_the_admin_pages_fail_jobs_whose_worker_died(
    page, make, admin_client, make_user, data_dir
):
    alive = make(liveness.this_worker(), make_user())
    dead = make(ended_process(), make_user())

    response = admin_client.get(reverse(f"admin:{page}_changelist"))

    assert response.status_code == 200
    alive.refresh_from_db()
    dead.refresh_from_db()
    assert alive.status == "running"
    assert dead.status == "failed"
    assert dead.error.startswith(f"worker died: {dead.worker} stopped")


def test_the_dashboard_shows_running_only_jobs_whose_worker_lives(
    admin_client, make_user, data_dir
):
    jobs = {
        make: (
            make(liveness.this_worker(), make_user()),
            make(ended_process(), make_user()),
        )
        for make in (running_backup, running_drill, running_maintenance)
    }

    page = admin_client.get(reverse("admin:index")).content.decode()

    live = page[page.index('id="dash-jobs"') : page.index("refreshes by itself")]
    for alive, dead in jobs.values():
        alive.refresh_from_db()
        dead.refresh_from_db()
        assert alive.status == "running"
        assert dead.status == "failed" and dead.finished_at is not None
        assert dead.error.startswith(f"worker died: {dead.worker} stopped")
    backup, drill, maintenance = (alive for alive, _ in jobs.values())
    dead_backup, dead_drill, dead_maintenance = (dead for _, dead in jobs.values())
    assert backup.id in live and dead_backup.id not in live
    assert f"drill {drill.pk} " in live and f"drill {dead_drill.pk} " not in live
    assert f"maintenance run {maintenance.pk} " in live
    assert f"maintenance run {dead_maintenance.pk} " not in live
    # What the dead run had done is kept.
    assert dead_maintenance.steps == {
        "cleanup_expired_backups": {"status": "completed"}
    }


@pytest.mark.postgres
def test_a_heartbeat_renews_while_its_block_runs(monkeypatch, make_user):
    monkeypatch.setattr(liveness, "heartbeat_every", lambda: timedelta(seconds=0.05))
    run = running_run(liveness.this_worker(), None)
    first = run.heartbeat_at

    with liveness.Heartbeat(RecoveryRun.objects.filter(pk=run.pk)):
        time.sleep(0.5)

    run.refresh_from_db()
    assert run.heartbeat_at > first


def test_a_schedule_run_whose_worker_was_killed_is_failed_by_its_readers(
    admin_client, data_dir
):
    from backups.models import BackupSchedule, BackupScheduleRun

    schedule = BackupSchedule.objects.create(name="hourly", kind="hours", every=1)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        run = BackupScheduleRun.objects.create(
            schedule=schedule,
            trigger="scheduled",
            result="running",
            worker=f"{HOST}:{worker.pid}",
            started_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
        changelist = reverse("admin:backups_backupschedulerun_changelist")
        assert admin_client.get(changelist).status_code == 200
        run.refresh_from_db()
        assert run.result == "running"  # its worker lives
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        worker.kill()
        worker.wait()

    page = reverse("admin:backups_backupschedule_change", args=[schedule.pk])
    assert admin_client.get(page).status_code == 200
    run.refresh_from_db()
    assert run.result == "failed"
    assert run.message.startswith(f"worker died: {HOST}:{worker.pid} stopped")
    assert run.finished_at is not None


def test_a_schedule_run_of_another_host_dies_with_its_heartbeat(settings, db):
    from backups.models import BackupSchedule, BackupScheduleRun
    from recovery.services.health_checks import check_backup_schedules

    limit = timedelta(seconds=settings.TALOWA_WORKER_HEARTBEAT_LIMIT)
    schedule = BackupSchedule.objects.create(name="daily", kind="hours", every=24)
    beating, silent = (
        BackupScheduleRun.objects.create(
            schedule=schedule,
            trigger="manual",
            result="running",
            worker="another-host:4242",
            started_at=timezone.now() - limit * 3,
            heartbeat_at=timezone.now() - age,
        )
        for age in (limit / 2, limit * 2)
    )
    check_backup_schedules()  # the hourly health check reads the runs
    assert BackupScheduleRun.objects.get(pk=beating.pk).result == "running"
    assert BackupScheduleRun.objects.get(pk=silent.pk).result == "failed"


# Runs in a child process: a schedule's run whose backup writer is slowed down,
# so the parent can kill it mid-way. The slowdown is the test's, not the product's.
SLOW_SCHEDULED_RUN = """
import sys, time, django
django.setup()
from backups.archive import ArchiveWriter
original = ArchiveWriter.write
def slow(self, data):
    time.sleep(0.2)
    return original(self, data)
ArchiveWriter.write = slow
from backups.services.scheduling import run_backup_schedule
run_backup_schedule(schedule_id=int(sys.argv[1]), slot="2026-01-01T00:00:00+00:00")
"""


@pytest.mark.postgres
@pytest.mark.usefixtures("world")
def test_a_killed_scheduled_run_is_failed_and_the_next_run_succeeds(data_dir):
    from backups.models import BackupScheduleRun
    from backups.services import create_backup_schedule
    from backups.services.scheduling import run_backup_schedule

    schedule_id = create_backup_schedule(
        schedule_name="Hourly", interval=timedelta(hours=1)
    )
    env = child_env(data_dir)
    with killed_child(env, SLOW_SCHEDULED_RUN, str(schedule_id)) as child:
        wait_until(
            child,
            Backup.objects.filter(status="running").exists,
            "the scheduled backup never started",
        )
        run = BackupScheduleRun.objects.get()
        assert (run.result, run.worker) == ("running", f"{HOST}:{child.pid}")

    done = run_backup_schedule(schedule_id=schedule_id)  # the next slot

    run.refresh_from_db()
    assert run.result == "failed"
    assert run.message.startswith(f"worker died: {HOST}:{child.pid} stopped")
    assert done.result == "succeeded"
    assert Backup.objects.filter(status="completed").count() == 1


# Run in a child process and killed there: a restore drill and a maintenance
# run, each held up part-way by the test (the sleeps are the test's).
STUCK_DRILL = """
import time, django
django.setup()
from recovery.services import drills
drills._drill = lambda *args, **kwargs: time.sleep(120)
drills.run_restore_drill()
"""
STUCK_MAINTENANCE = """
import time, django
django.setup()
from recovery.services import maintenance
maintenance._STEP_FUNCTIONS["optimize_storage"] = lambda **kwargs: time.sleep(120)
maintenance.perform_system_maintenance(dry_run=True)
"""


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("script", "model", "done_steps"),
    [
        (STUCK_DRILL, RestoreDrill, None),
        (STUCK_MAINTENANCE, MaintenanceRun, ["cleanup_expired_backups",
                                             "cleanup_expired_messages"]),
    ],
)  # fmt: skip
def test_a_killed_drill_or_maintenance_run_is_failed_on_the_dashboard(
    script, model, done_steps, admin_client, data_dir
):
    with killed_child(child_env(data_dir), script) as child:
        # Held up: the drill in its restore, the maintenance in its third step.
        held_up = model.objects.filter(
            status="running",
            **({"steps__has_key": done_steps[-1]} if done_steps else {}),
        )
        wait_until(child, held_up.exists, "the job never got under way")
        run = model.objects.get()
        assert run.worker == f"{HOST}:{child.pid}"
        page = admin_client.get(reverse("admin:index")).content.decode()
        assert "Running</span>" in page  # under way while its worker lives

    page = admin_client.get(reverse("admin:index")).content.decode()

    assert "No backup, drill or maintenance is running or queued." in page
    run.refresh_from_db()
    assert run.status == "failed" and run.finished_at is not None
    assert run.error.startswith(f"worker died: {HOST}:{child.pid} stopped")
    if done_steps:  # what it finished before it was killed is kept
        assert sorted(run.steps) == sorted(done_steps)
