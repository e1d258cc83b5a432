"""End to end through a real django-q2 cluster: a queued backup runs in a worker."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection

from tests.recovery.conftest import ROOT, scratch  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE_BACKUP = (
    "from talowa_admin.queue import enqueue; "
    "print(enqueue('backups.tasks.run_backup', 'full', None, None, "
    "name='queued by the test', group='backups'))"
)


def test_a_real_qcluster_runs_a_queued_backup(scratch):  # noqa: F811
    url = scratch.url(connection.vendor)
    scratch.manage(url, "migrate", "-v0")
    scratch.manage(
        url,
        "seed_messaging",
        "--users",
        "5",
        "--conversations",
        "5",
        "--messages",
        "200",
        "--calls",
        "10",
        "--media",
        "3",
        "--noinput",
    )
    scratch.manage(url, "shell", "-c", QUEUE_BACKUP)
    with scratch.cluster(url) as cluster:
        deadline = time.monotonic() + 90
        while True:
            listed = json.loads(scratch.manage(url, "list_backups", "--json").stdout)
            done = [b for b in listed["backups"] if b["status"] == "completed"]
            if done:
                break
            assert cluster.poll() is None, cluster.stderr.read()
            assert time.monotonic() < deadline, "the worker never ran the backup"
            time.sleep(1)
    assert done[0]["counts"]["messages"] == 200
    verified = json.loads(
        scratch.manage(url, "verify_backup", done[0]["id"], "--json").stdout
    )
    assert verified["ok"] is True
