"""Every app's scheduled work in one real django-q2 cluster, as a deployment runs it.

The scheduler looks at its schedules every 30 s, about 30 s after the cluster
starts, so each look costs half a minute: one cluster, started once for the
module on a database of the suite's engine (ORM broker, two workers), runs
everything below side by side, and each test asserts one outcome of it:

- a backup queued before the cluster starts runs in a worker;
- a one-minute backup schedule fires, and a disabled one due at the same
  minute does not; disabling the schedule removes its django-q2 schedule,
  enabling it brings it back, deleting it removes it;
- the daily retention cleanup runs as a schedule;
- the hourly health check and the weekly restore drill run as schedules, and
  the health check sees the cluster's workers (and no workers before).

The cleanup, health and drill schedules are registered as a deploy does and
made due at once; the backup schedule fires at its first slot. The database
is read directly while the cluster runs; every other step is a ``manage.py``
process, as an operator would run it. Two clusters sharing one database,
Redis and S3 are tested in tests/backups/test_schedule_e2e.py.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections

from tests.backups.test_schedule_e2e import SEED, TOGGLE_AND_DELETE, Env
from tests.recovery.conftest import Scratch, reached

pytestmark = pytest.mark.slow

# Longer than the scheduler's first look, a minute's slot and the next look.
DEADLINE_SECONDS = 180
QUEUED_NOTE = "queued by the test"
CLEANUP_SCHEDULE = "retention: daily cleanup"
HEALTH_SCHEDULE = "talowa: health check"
DRILL_SCHEDULE = "talowa: restore drill"

# Before the cluster starts, in one process: the seeded rows kept for ten
# years, so that the cleanup has exactly one row to archive (a system message
# eleven years old); two backup schedules due at the same minute, the second
# disabled; the maintenance schedules a deploy registers, the cleanup, health
# check and drill due now; a full backup queued for a worker.
SETUP = f"""
import json
from datetime import timedelta
from django.utils import timezone
from django_q.models import Schedule
from backups.services.scheduling.defaults import ensure_maintenance_schedules
from messaging.models import Conversation, Message
from retention.services import schedule_automatic_cleanup
from retention.services.policies import set_retention_policy
from retention.types import RETENTION_TYPES
from talowa_admin.queue import enqueue
from talowa_admin.services import create_backup_schedule, update_backup_schedule
set_retention_policy(entity_type="global", entity_id=None,
                     retention_periods=dict.fromkeys(RETENTION_TYPES, 3650))
conversation = Conversation.objects.create(kind="group")
old = Message.objects.create(conversation=conversation, kind="system", body="old")
Message.objects.filter(pk=old.pk).update(
    created_at=timezone.now() - timedelta(days=4000))
ids = [create_backup_schedule(schedule_name=name, interval=timedelta(minutes=1))
       for name in ("Every minute", "Every minute, disabled")]
update_backup_schedule(ids[1], enabled=False)
backup_schedules = Schedule.objects.filter(
    func="backups.tasks.run_backup_schedule").count()
schedule_automatic_cleanup()
ensure_maintenance_schedules()
Schedule.objects.filter(name__in={[CLEANUP_SCHEDULE, HEALTH_SCHEDULE, DRILL_SCHEDULE]!r}
                        ).update(next_run=timezone.now() - timedelta(minutes=1))
task = enqueue("backups.tasks.run_backup", "full", None, None, {QUEUED_NOTE!r},
               name={QUEUED_NOTE!r}, group="backups")
print(json.dumps({{"ids": ids, "q_schedules": backup_schedules, "old": old.pk,
                  "messages": Message.objects.count(), "task": task}}))
"""


@dataclass
class ClusterRun:
    """What the module's cluster did, read while it ran and when it stopped."""

    env: Env
    log: Path
    setup: dict[str, Any]
    idle_workers: dict[str, Any]
    busy_workers: dict[str, Any] | None = None
    seen: dict[str, Any] = field(default_factory=dict)
    cluster_alive: bool = True
    waited: float = 0.0
    # Seconds from the cluster's start to each outcome, for a reader of a failure.
    timeline: dict[str, float] = field(default_factory=dict)


def _seen(alias: str) -> dict[str, Any]:
    """Read what the cluster did so far through the ``alias`` connection."""
    from django_q.models import Schedule, Task

    from backups.models import Backup, BackupScheduleRun
    from recovery.models import HealthSnapshot, RestoreDrill
    from retention.models import CleanupRun

    def rows(model, *fields):
        return list(model.objects.using(alias).order_by("pk").values(*fields))

    func = "backups.tasks.run_backup_schedule"
    return {
        "backups": rows(Backup, "id", "scope", "status", "note", "counts"),
        "runs": [
            {**run, "slot": run["slot"] and run["slot"].isoformat()}
            for run in rows(
                BackupScheduleRun, "schedule_id", "slot", "result", "backup_id"
            )
        ],
        "tasks": Task.objects.using(alias).filter(func=func).count(),
        "cleanups": rows(CleanupRun, "status", "trigger", "counts", "error"),
        "snapshots": HealthSnapshot.objects.using(alias).count(),
        "drills": rows(RestoreDrill, "status", "backup_id", "error"),
        "q_schedules": Schedule.objects.using(alias).filter(func=func).count(),
    }


def _outcomes(seen: dict[str, Any]) -> dict[str, bool]:
    """Which of the module's outcomes the cluster has reached (finished or not)."""
    queued = [b for b in seen["backups"] if b["note"] == QUEUED_NOTE]
    return {
        "queued backup": bool(queued)
        and queued[0]["status"] not in ("pending", "running"),
        "scheduled backup": seen["tasks"] >= 1
        and any(run["result"] == "succeeded" for run in seen["runs"]),
        "cleanup": any(c["status"] != "running" for c in seen["cleanups"]),
        "health check": seen["snapshots"] >= 1,
        "drill": any(d["status"] != "running" for d in seen["drills"]),
    }


def _workers(env: Env) -> dict[str, Any]:
    checked = json.loads(
        env.manage("check_health", "--json", "--no-record", check=False)
    )
    return checked["components"]["workers"]


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory, django_db_blocker):
    tmp_path = tmp_path_factory.mktemp("cluster")
    scratch = Scratch(tmp_path, tmp_path / "data")
    try:
        url = scratch.url(connection.vendor, migrated=True)
        env = Env(scratch.env(url), tmp_path / "data")
        env.manage("seed_messaging", *SEED, "--media", "2", "--noinput")
        run = ClusterRun(
            env=env,
            log=tmp_path / "qcluster.log",
            setup=json.loads(env.shell(SETUP)),
            idle_workers=_workers(env),
        )
        started = time.monotonic()
        with (
            scratch.cluster(url, env=env.values, log=run.log) as cluster,
            django_db_blocker.unblock(),
            reached(url) as alias,
        ):
            while time.monotonic() - started < DEADLINE_SECONDS:
                run.seen = _seen(alias)
                connections[alias].close()  # none held while the cluster writes
                outcomes = _outcomes(run.seen)
                for outcome in filter(outcomes.get, outcomes):
                    run.timeline.setdefault(outcome, time.monotonic() - started)
                run.cluster_alive = cluster.poll() is None
                if len(run.timeline) == len(outcomes) or not run.cluster_alive:
                    break
                time.sleep(1)
            run.waited = time.monotonic() - started
            if run.cluster_alive:
                run.busy_workers = _workers(env)
                # A task the scheduler queued at the look that ran the enabled
                # schedule would have been taken 3 s after it.
                fired = run.timeline.get("scheduled backup", run.waited)
                time.sleep(max(0.0, fired + 3 - (time.monotonic() - started)))
                run.seen = _seen(alias)
                run.cluster_alive = cluster.poll() is None
        yield run
    finally:
        scratch.drop()


def _failing(run: ClusterRun, what: str) -> str:
    return (
        f"{what} did not happen in {run.waited:.0f} s (cluster alive: "
        f"{run.cluster_alive}; seconds to each outcome: {run.timeline}): "
        f"{run.seen}\n{run.log.read_text()[-3000:]}"
    )


def test_a_queued_backup_runs_in_a_worker(cluster_run):
    run = cluster_run
    queued = [b for b in run.seen["backups"] if b["note"] == QUEUED_NOTE]
    assert queued and queued[0]["status"] == "completed", _failing(run, "the backup")
    assert queued[0]["counts"]["messages"] == run.setup["messages"]
    verified = json.loads(run.env.manage("verify_backup", queued[0]["id"], "--json"))
    assert verified["ok"] is True


def test_a_one_minute_schedule_fires_and_a_disabled_one_does_not(cluster_run):
    run, seen = cluster_run, cluster_run.seen
    (schedule_id, disabled_id) = run.setup["ids"]
    assert run.setup["q_schedules"] == 1  # none for the disabled schedule
    succeeded = [r for r in seen["runs"] if r["result"] == "succeeded"]
    assert succeeded and seen["tasks"] >= 1, _failing(run, "a scheduled backup")
    assert run.cluster_alive
    first = succeeded[0]
    assert first["schedule_id"] == schedule_id
    assert {r["schedule_id"] for r in seen["runs"]} == {schedule_id}, seen
    assert seen["tasks"] == len(seen["runs"])
    assert first["backup_id"].startswith("backup_") and first["slot"]
    listed = json.loads(run.env.manage("list_backups", "--json"))["backups"]
    assert {b["id"] for b in listed} >= {first["backup_id"]}
    assert "from schedule [backup schedule" in run.log.read_text()
    steps = TOGGLE_AND_DELETE % {"id": schedule_id, "ids": [schedule_id, disabled_id]}
    # Disabled: no django-q2 schedule; enabled: one again; deleted: none.
    assert json.loads(run.env.shell(steps)) == [0, 1, 0]
    final = run.env.state()
    assert (final["runs"], final["q_schedules"]) == ([], [])


def test_the_daily_cleanup_runs_as_a_schedule(cluster_run):
    run = cluster_run
    done = [c for c in run.seen["cleanups"] if c["status"] != "running"]
    assert done, _failing(run, "the scheduled cleanup")
    assert done[0]["status"] == "completed", done[0]
    assert done[0]["trigger"] == "schedule"
    # Only the eleven-year-old system message was past its retention period.
    assert {k: v for k, v in done[0]["counts"].items() if v} == {"system_messages": 1}


def test_the_health_check_and_the_drill_run_as_schedules_and_see_the_cluster(
    cluster_run,
):
    run = cluster_run
    drills = [d for d in run.seen["drills"] if d["status"] != "running"]
    assert run.seen["snapshots"] and drills, _failing(run, "the health check or drill")
    assert [d["status"] for d in drills] == ["passed"], drills
    assert run.idle_workers["status"] == "unhealthy"
    assert run.busy_workers and run.busy_workers["status"] == "healthy", run
