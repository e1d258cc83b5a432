"""The schedules' admin: human widgets, run now, enable/disable, as each role."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django_q.models import Schedule

from backups.models import Backup, BackupSchedule, BackupScheduleRun
from backups.services import create_backup_schedule
from talowa_admin.models import AuditEvent
from talowa_admin.roles import BACKUP_OPERATOR, BACKUP_VIEWER

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "admin:backups_backupschedule_changelist"
ADD = "admin:backups_backupschedule_add"


def form_data(**overrides) -> dict:
    data = {
        "name": "Nightly",
        "enabled": "on",
        "kind": "daily",
        "every": "",
        "at_time": "02:30",
        "weekday": "",
        "day_of_month": "",
        "incremental": "False",
        "full_every_days": "",
        "data_types": ["messages", "conversations"],
        "owner": "",
        "note": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def login(client, role_user, role):
    user = role_user(role)
    client.force_login(user)
    return user


def test_operator_creates_a_schedule_with_plain_widgets(client, role_user):
    user = login(client, role_user, BACKUP_OPERATOR)
    page = client.get(reverse(ADD)).content.decode()
    assert 'type="checkbox" name="data_types" value="call_history"' in page
    assert 'type="time"' in page and 'name="every"' in page
    assert "q_schedule" not in page and "backup_config" not in page
    assert "<textarea" not in page.split('name="note"')[0]  # no raw JSON field
    response = client.post(reverse(ADD), form_data())
    assert response.status_code == 302, response.content.decode()[:3000]
    schedule = BackupSchedule.objects.get()
    assert (schedule.kind, schedule.at_time) == ("daily", time(2, 30))
    assert schedule.data_types == ["messages", "conversations"]
    assert schedule.created_by == user
    q = Schedule.objects.get(pk=schedule.q_schedule_id)
    assert q.schedule_type == Schedule.DAILY
    assert AuditEvent.objects.filter(action="schedule.create", actor=user).exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "minutes", "every": "2", "at_time": ""}, "at least 5 minutes"),
        ({"kind": "hours", "every": "", "at_time": ""}, "how many hours"),
        ({"kind": "hours", "every": "0", "at_time": ""}, "Give how many hours"),
        ({"kind": "minutes", "every": "0", "at_time": ""}, "Give how many minutes"),
        ({"data_types": None}, "Choose at least one data type"),
        ({"data_types": ["messages", "sms"]}, "sms"),
        ({"kind": "weekly"}, "day of the week"),
        ({"kind": "monthly", "day_of_month": "30"}, "from 1 to 28"),
        ({"kind": "daily", "at_time": ""}, "time of day"),
        ({"full_every_days": "7"}, "Only an incremental schedule"),
    ],
)
def test_the_form_refuses_bad_input_with_its_message(
    client, role_user, overrides, message
):
    login(client, role_user, BACKUP_OPERATOR)
    response = client.post(reverse(ADD), form_data(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not BackupSchedule.objects.exists()
    assert not Schedule.objects.exists()


def test_the_list_shows_next_run_and_last_result_and_runs_now(
    client, role_user, world, sync_tasks
):
    user = login(client, role_user, BACKUP_OPERATOR)
    schedule_id = create_backup_schedule(
        schedule_name="Six-hourly", interval=timedelta(hours=6)
    )
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert "every 6 hours" in page and "never run" in page
    assert "Run now" in page
    url = reverse("admin:backups_backupschedule_run_now", args=[schedule_id])
    assert "Yes, run it now" in client.get(url).content.decode()
    response = client.post(url, follow=True)
    assert "succeeded" in response.content.decode()
    run = BackupScheduleRun.objects.get()
    assert run.result == "succeeded" and run.requested_by == user
    assert Backup.objects.get() == run.backup
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert "Succeeded" in page
    detail = client.get(
        reverse("admin:backups_backupschedule_change", args=[schedule_id])
    ).content.decode()
    assert run.backup_id in detail and "Recent runs" in detail


def test_enable_and_disable_actions_keep_django_q2_in_step(client, role_user):
    login(client, role_user, BACKUP_OPERATOR)
    ids = [
        create_backup_schedule(schedule_name=name, interval=timedelta(hours=1))
        for name in ("A", "B")
    ]
    client.post(
        reverse(CHANGELIST),
        {"action": "disable_selected", ACTION_CHECKBOX_NAME: ids},
    )
    assert not BackupSchedule.objects.filter(enabled=True).exists()
    assert not Schedule.objects.exists()
    client.post(
        reverse(CHANGELIST),
        {"action": "enable_selected", ACTION_CHECKBOX_NAME: ids[:1]},
    )
    assert Schedule.objects.count() == 1
    assert BackupSchedule.objects.get(pk=ids[0]).enabled


def test_deleting_in_the_admin_removes_the_django_q2_schedule(client, role_user):
    login(client, role_user, BACKUP_OPERATOR)
    schedule_id = create_backup_schedule(
        schedule_name="Gone", interval=timedelta(hours=1)
    )
    url = reverse("admin:backups_backupschedule_delete", args=[schedule_id])
    client.post(url, {"post": "yes"})
    assert not BackupSchedule.objects.exists()
    assert not Schedule.objects.exists()
    assert AuditEvent.objects.filter(action="schedule.delete").exists()


def test_viewer_sees_schedules_and_their_runs_but_changes_nothing(client, role_user):
    schedule_id = create_backup_schedule(
        schedule_name="Watched",
        interval={"kind": "weekly", "weekday": "sunday", "at": "03:00"},
        data_types=["messages", "call_history"],
    )
    login(client, role_user, BACKUP_VIEWER)
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert "weekly on Sunday at 03:00" in page
    assert "Run now" not in page and "disable_selected" not in page
    detail_url = reverse("admin:backups_backupschedule_change", args=[schedule_id])
    detail = client.get(detail_url).content.decode()
    assert "messages, call history" in detail
    assert '"messages"' not in detail  # no raw JSON
    assert 'name="_save"' not in detail
    run_now = reverse("admin:backups_backupschedule_run_now", args=[schedule_id])
    assert client.post(run_now).status_code == 403
    assert client.post(detail_url, form_data(name="Hijacked")).status_code == 403
    assert client.get(reverse(ADD)).status_code == 403
    runs = client.get(reverse("admin:backups_backupschedulerun_changelist"))
    assert runs.status_code == 200
    assert not BackupScheduleRun.objects.exists()
    assert BackupSchedule.objects.get().name == "Watched"
