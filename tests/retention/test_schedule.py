"""The daily cleanup as a django-q2 schedule: registered idempotently, and the
task obeys the system setting. A real cluster runs it in
tests/test_schedules_in_a_real_cluster.py."""

from __future__ import annotations

import pytest
from django_q.models import Schedule

from retention.services import get_cleanup_statistics, schedule_automatic_cleanup
from retention.services.scheduling import CLEANUP_SCHEDULE_NAME, CLEANUP_TASK
from retention.tasks import run_scheduled_cleanup
from talowa_admin.models import SystemSettings
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
