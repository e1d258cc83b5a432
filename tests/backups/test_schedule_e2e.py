"""Schedules firing in real django-q2 clusters (slow: the scheduler looks every 30 s).

- One cluster on the ORM broker runs a one-minute schedule, and not a
  disabled one due at the same minute; disabling the schedule removes its
  django-q2 schedule, enabling it brings it back, deleting it removes it.
- Two clusters on two data directories share one PostgreSQL database, one
  Redis and one S3 endpoint (moto's server): the schedule fires once per
  slot, never twice, and both clusters take jobs.
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
from django.db import connection

from tests.recovery.conftest import ROOT, scratch  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REDIS_URL = "redis://127.0.0.1:6379/7"
SEED = ("--users", "8", "--conversations", "6", "--messages", "300", "--calls", "10")

CREATE = """
from datetime import timedelta
from talowa_admin.services import create_backup_schedule
print(create_backup_schedule(schedule_name=%r, interval=timedelta(minutes=1)))
"""
# Two schedules due at the same minute; the second disabled before it.
CREATE_TWO = """
import json
from datetime import timedelta
from django_q.models import Schedule
from talowa_admin.services import create_backup_schedule, update_backup_schedule
ids = [create_backup_schedule(schedule_name=name, interval=timedelta(minutes=1))
       for name in ("Every minute", "Every minute, disabled")]
update_backup_schedule(ids[1], enabled=False)
q = Schedule.objects.filter(func="backups.tasks.run_backup_schedule").count()
print(json.dumps({"ids": ids, "q_schedules": q}))
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

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.values,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"manage.py {args[0]}: {result.stderr}"
        return result.stdout

    def shell(self, code: str) -> str:
        return self.manage("shell", "-c", code).strip().splitlines()[-1]

    def state(self) -> dict:
        return json.loads(self.shell(RUNS))


def wait_for(env: Env, condition, *, seconds: float, clusters=(), what: str) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        state = env.state()
        if condition(state):
            return state
        for process in clusters:
            assert process.poll() is None, "a cluster stopped"
        assert time.monotonic() < deadline, f"{what} did not happen: {state}"
        time.sleep(3)


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


def test_a_one_minute_schedule_in_a_real_qcluster(scratch, tmp_path):  # noqa: F811
    url = scratch.url(connection.vendor)
    env = Env(scratch.env(url), tmp_path / "data")
    env.manage("migrate", "-v0")
    env.manage("seed_messaging", *SEED, "--noinput")
    # The second is due at the same minute as the first, and disabled: the
    # look of the scheduler that runs the first would run it too, if enabled.
    made = json.loads(env.shell(CREATE_TWO))
    (schedule_id, disabled_id), q_schedules = made["ids"], made["q_schedules"]
    assert q_schedules == 1
    log = tmp_path / "qcluster.log"
    with scratch.cluster(url, env=env.values, log=log) as cluster:
        state = wait_for(
            env,
            lambda s: succeeded(s) and s["tasks"] >= 1,
            seconds=150,
            clusters=[cluster],
            what="a scheduled backup",
        )
        time.sleep(3)  # a task of the same look would have been taken by now
        after = env.state()
        assert cluster.poll() is None
    first = succeeded(state)[0]
    assert first["schedule"] == schedule_id
    assert {run["schedule"] for run in after["runs"]} == {schedule_id}, after
    assert after["tasks"] == len(after["runs"])
    assert first["backup"].startswith("backup_") and first["slot"]
    listed = json.loads(env.manage("list_backups", "--json"))["backups"]
    assert {b["id"] for b in listed} >= {first["backup"]}
    text = log.read_text()
    assert "from schedule [backup schedule" in text
    steps = TOGGLE_AND_DELETE % {"id": schedule_id, "ids": [schedule_id, disabled_id]}
    # Disabled: no django-q2 schedule; enabled: one again; deleted: none.
    assert json.loads(env.shell(steps)) == [0, 1, 0]
    final = env.state()
    assert (final["runs"], final["q_schedules"]) == ([], [])


@pytest.mark.postgres
def test_two_clusters_share_one_database_redis_and_s3(scratch, tmp_path):  # noqa: F811
    import redis
    from moto.server import ThreadedMotoServer

    from tests.backups.test_storage_s3 import make_client

    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    make_client(endpoint).create_bucket(Bucket="shared-backups")
    queue = f"talowa-test-{uuid.uuid4().hex[:8]}"
    url = scratch.url("postgresql")
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
    first.manage("migrate", "-v0")
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
            state = wait_for(
                first,
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
