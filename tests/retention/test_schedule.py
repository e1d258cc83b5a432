"""The daily cleanup as a django-q2 schedule: registered idempotently, and run
by a real cluster."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection
from django_q.models import Schedule

from retention.services import get_cleanup_statistics, schedule_automatic_cleanup
from retention.services.scheduling import CLEANUP_SCHEDULE_NAME, CLEANUP_TASK
from retention.tasks import run_scheduled_cleanup
from talowa_admin.models import SystemSettings
from tests.recovery.conftest import ROOT, scratch  # noqa: F401 (fixture)
from tests.retention.conftest import aged_message


@pytest.mark.django_db
def test_the_schedule_is_created_once_and_corrected(people):
    assert schedule_automatic_cleanup() == "created"
    assert schedule_automatic_cleanup() == "ok"
    Schedule.objects.filter(name=CLEANUP_SCHEDULE_NAME).update(func="x.y")
    assert schedule_automatic_cleanup() == "updated"
    schedule = Schedule.objects.get(name=CLEANUP_SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type) == (CLEANUP_TASK, Schedule.DAILY)


@pytest.mark.django_db
def test_the_scheduled_task_obeys_the_system_setting(people):
    aged_message(people.group, None, kind="system", days=45)
    SystemSettings.objects.filter(pk=SystemSettings.load().pk).update(
        enable_automatic_cleanup=False
    )
    assert run_scheduled_cleanup() == {"skipped": "automatic cleanup is off"}
    SystemSettings.objects.update(enable_automatic_cleanup=True)
    result = run_scheduled_cleanup()
    assert result["deleted"]["system_messages"] == 1
    stats = get_cleanup_statistics()
    assert stats["types"]["system_messages"]["last_run"] == 1
    assert stats["types"]["system_messages"]["total"] == 1
    assert stats["types"]["system_messages"]["eligible_now"] == 0


SETUP = """
from datetime import timedelta
from django.contrib.auth.models import User
from django.utils import timezone
from django_q.models import Schedule
from messaging.models import Conversation, Message
from retention.services import schedule_automatic_cleanup
conv = Conversation.objects.create(kind="group")
m = Message.objects.create(conversation=conv, kind="system", body="old")
old = timezone.now() - timedelta(days=45)
Message.objects.filter(pk=m.pk).update(created_at=old)
schedule_automatic_cleanup()
Schedule.objects.update(next_run=timezone.now())
"""
RUNS = (
    "import json; from retention.models import CleanupRun; "
    "print(json.dumps(list(CleanupRun.objects.values('trigger', 'counts'))))"
)


@pytest.mark.django_db(transaction=True)
def test_a_real_cluster_runs_the_daily_cleanup(scratch):  # noqa: F811
    url = scratch.url(connection.vendor)
    scratch.manage(url, "migrate", "-v0")
    scratch.manage(url, "shell", "-c", SETUP)
    with scratch.cluster(url) as cluster:
        deadline = time.monotonic() + 120
        while True:
            out = scratch.manage(url, "shell", "-c", RUNS).stdout
            runs = json.loads(out.strip().splitlines()[-1])
            if runs:
                break
            assert cluster.poll() is None, cluster.stderr.read()
            assert time.monotonic() < deadline, "the cluster never ran the cleanup"
            time.sleep(2)
    assert runs[0]["trigger"] == "schedule"
    assert runs[0]["counts"]["system_messages"] == 1
