"""A schedule firing in two real django-q2 clusters (slow: the scheduler looks
every 30 s), and the helpers of the tests that start clusters.

Two clusters on two data directories share one PostgreSQL database, one Redis
and one S3 endpoint (moto's server): the schedule fires once per slot, never
twice, and both clusters take jobs. The database is read from this process
while they run. One cluster on the ORM broker running every app's schedules:
tests/test_schedules_in_a_real_cluster.py.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connections

from tests.recovery.conftest import ROOT, reached, scratch  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

# A Redis database of its own where several runs share one server.
REDIS_URL = os.environ.get("TALOWA_REDIS_URL", "redis://127.0.0.1:6379/7")
SEED = ("--users", "8", "--conversations", "6", "--messages", "300", "--calls", "10")

CREATE = """
from datetime import timedelta
from talowa_admin.services import create_backup_schedule
print(create_backup_schedule(schedule_name=%r, interval=timedelta(minutes=1)))
"""
# Disable, enable, then delete both: the django-q2 schedules after each step.
TOGGLE_AND_DELETE = """
import json
from django_q.models import Schedule
from talowa_admin.services import delete_backup_schedule, update_backup_schedule
q = lambda: Schedule.objects.filter(func="backups.tasks.run_backup_schedule").count()
counts = []
for enabled in (False, True):
    update_backup_schedule(%(id)d, enabled=enabled)
    counts.append(q())
for gone in %(ids)r:
    delete_backup_schedule(gone)
counts.append(q())
print(json.dumps(counts))
"""
RUNS = """
import json
from backups.models import Backup, BackupScheduleRun
from django_q.models import Schedule, Task
print(json.dumps({
    "backups": [
        {"scope": b.scope, "status": b.status, "worker": b.worker}
        for b in Backup.objects.all()
    ],
    "runs": [
        {"schedule": r.schedule_id,
         "slot": r.slot and r.slot.isoformat(), "result": r.result,
         "message": r.message, "backup": r.backup_id, "worker": r.worker}
        for r in BackupScheduleRun.objects.order_by("id")
    ],
    "tasks": Task.objects.filter(func="backups.tasks.run_backup_schedule").count(),
    "q_schedules": list(Schedule.objects.filter(
        func="backups.tasks.run_backup_schedule").values_list("next_run", flat=True)),
}, default=str))
"""


class Env:
    """One installation's environment: a data directory, a database, a broker."""

    def __init__(self, base: dict[str, str], data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.values = dict(
            base,
            TALOWA_DATA_DIR=str(data_dir),
            TALOWA_LOG_LEVEL="info",
            TALOWA_SCHEDULE_MIN_MINUTES="1",
            TALOWA_WORKERS="2",
        )

    def manage(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.values,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert result.returncode == 0, f"manage.py {args[0]}: {result.stderr}"
        return result.stdout

    def shell(self, code: str) -> str:
        return self.manage("shell", "-c", code).strip().splitlines()[-1]

    def state(self) -> dict:
        return json.loads(self.shell(RUNS))


def read_state(alias: str) -> dict:
    """What ``RUNS`` prints, read in this process through connection ``alias``."""
    from django_q.models import Schedule, Task

    from backups.models import Backup, BackupScheduleRun

    func = "backups.tasks.run_backup_schedule"
    runs = BackupScheduleRun.objects.using(alias).order_by("id")
    return {
        "backups": list(
            Backup.objects.using(alias).values("scope", "status", "worker")
        ),
        "runs": [
            {
                "schedule": r.schedule_id,
                "slot": r.slot and r.slot.isoformat(),
                "result": r.result,
                "message": r.message,
                "backup": r.backup_id,
                "worker": r.worker,
            }
            for r in runs
        ],
        "tasks": Task.objects.using(alias).filter(func=func).count(),
        "q_schedules": list(
            Schedule.objects.using(alias)
            .filter(func=func)
            .values_list("next_run", flat=True)
        ),
    }


def wait_for(url: str, condition, *, seconds: float, clusters=(), what: str) -> dict:
    """Poll the database at ``url`` (from this process) until ``condition`` holds."""
    deadline = time.monotonic() + seconds
    with reached(url) as alias:
        while True:
            state = read_state(alias)
            connections[alias].close()  # no connection held between looks
            if condition(state):
                return state
            for process in clusters:
                assert process.poll() is None, "a cluster stopped"
            assert time.monotonic() < deadline, f"{what} did not happen: {state}"
            time.sleep(1)


def descendants(pid: int) -> set[int]:
    """The process ids below ``pid`` (a cluster's sentinel, workers, monitor)."""
    listing = subprocess.run(
        ["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True
    ).stdout
    children: dict[int, list[int]] = {}
    for line in listing.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def done_by_users(state: dict) -> list[dict]:
    return [
        b
        for b in state["backups"]
        if b["scope"] == "user" and b["status"] == "completed"
    ]


def succeeded(state: dict) -> list[dict]:
    return [run for run in state["runs"] if run["result"] == "succeeded"]


@pytest.mark.postgres
def test_two_clusters_share_one_database_redis_and_s3(
    scratch,  # noqa: F811
    tmp_path,
    django_db_blocker,
):
    import redis
    from moto.server import ThreadedMotoServer

    from tests.backups.test_storage_s3 import make_client

    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    make_client(endpoint).create_bucket(Bucket="shared-backups")
    queue = f"talowa-test-{uuid.uuid4().hex[:8]}"
    url = scratch.url("postgresql", migrated=True)
    base = dict(
        scratch.env(url),
        REDIS_URL=REDIS_URL,
        TALOWA_QUEUE_NAME=queue,
        TALOWA_BACKUP_STORAGE="s3",
        AWS_STORAGE_BUCKET_NAME="shared-backups",
        AWS_S3_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_S3_REGION_NAME="us-east-1",
        TALOWA_BACKUP_KEYS="k1:" + base64.b64encode(os.urandom(32)).decode(),
    )
    first, second = Env(base, tmp_path / "a"), Env(base, tmp_path / "b")
    first.manage("seed_messaging", *SEED, "--noinput")
    first.shell(CREATE % "Every minute")
    try:
        with (
            scratch.cluster(url, env=first.values, log=tmp_path / "a.log") as one,
            scratch.cluster(url, env=second.values, log=tmp_path / "b.log") as two,
        ):
            time.sleep(5)  # both clusters are listening before the jobs come
            first.shell(
                "from django.contrib.auth.models import User; "
                "from talowa_admin.queue import enqueue; "
                "[enqueue('backups.tasks.run_backup', 'full', u.pk, None, "
                "name=f'user {u.pk}', group='backups') "
                "for u in User.objects.all()]; print('ok')"
            )
            with django_db_blocker.unblock():
                state = wait_for(
                    url,
                    lambda s: len(succeeded(s)) >= 2 and len(done_by_users(s)) == 8,
                    seconds=200,
                    clusters=[one, two],
                    what="two scheduled backups",
                )
            workers = {
                "a": descendants(one.pid),
                "b": descendants(two.pid),
            }
            verified = json.loads(second.manage("verify_backup", "--all", "--json"))
    finally:
        s3.stop()
        redis.Redis.from_url(REDIS_URL).delete(queue)
    slots = [run["slot"] for run in state["runs"]]
    assert len(slots) == len(set(slots)), "a slot ran twice"
    assert state["tasks"] == len(state["runs"]), "the scheduler fired a slot twice"
    assert all(run["result"] == "succeeded" for run in state["runs"]), state
    pids = {int(b["worker"].rpartition(":")[2]) for b in state["backups"]}
    assert pids & workers["a"] and pids & workers["b"], (pids, workers)
    assert verified["ok"] is True
