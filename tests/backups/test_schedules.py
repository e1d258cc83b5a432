"""Backup schedules: the row is the schedule, django-q2 follows, runs are recorded."""

from __future__ import annotations

import io
import json
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule, Task
from django_q.scheduler import scheduler

from backups.models import Backup, BackupSchedule, BackupScheduleRun
from backups.services import (
    create_backup_schedule,
    delete_backup_schedule,
    execute_backup_now,
    start_scheduler,
    update_backup_schedule,
)
from backups.services.catalog import claim_backup
from backups.services.scheduling import run_backup_schedule
from talowa_admin.models import AuditEvent
from tests.backups.conftest import drain_queue

pytestmark = pytest.mark.django_db(transaction=True)

KOLKATA = ZoneInfo("Asia/Kolkata")


def run_setup() -> dict:
    out = io.StringIO()
    call_command("setup_schedules", "--json", stdout=out)
    return json.loads(out.getvalue())["schedules"]


def q_schedule(schedule_id: int) -> Schedule | None:
    schedule = BackupSchedule.objects.get(pk=schedule_id)
    return Schedule.objects.filter(pk=schedule.q_schedule_id).first()


def make_due(schedule_id: int, *, ago: timedelta = timedelta(seconds=5)) -> None:
    Schedule.objects.filter(pk=q_schedule(schedule_id).pk).update(
        next_run=timezone.now() - ago
    )


def test_setup_schedules_is_idempotent_and_repairs():
    first = run_setup()
    assert first["Daily full backup"] == "created"
    assert first["talowa: expire backups"] == "created"
    assert first["talowa: verify newest chain"] == "created"
    assert first["retention: daily cleanup"] == "created"
    # The same schedule as the retention app's own registration.
    from retention.services import schedule_automatic_cleanup

    assert schedule_automatic_cleanup() == "ok"
    again = run_setup()
    assert {again[name] for name in again if not name.endswith(("cleanup", "check"))}
    assert "created" not in again.values()
    assert "updated" not in again.values()
    schedule = Schedule.objects.get(name="talowa: expire exports")
    assert schedule.func == "backups.tasks.cleanup_expired_exports"
    Schedule.objects.filter(pk=schedule.pk).update(minutes=5)
    assert run_setup()["talowa: expire exports"] == "updated"
    assert Schedule.objects.get(pk=schedule.pk).minutes == 60
    daily = BackupSchedule.objects.get(builtin="daily-full")
    assert (daily.kind, daily.at_time, daily.incremental) == ("daily", time(2), False)
    # A deploy keeps what an operator changed.
    update_backup_schedule(daily.pk, interval={"kind": "daily", "at": "01:15"})
    run_setup()
    assert BackupSchedule.objects.get(pk=daily.pk).at_time == time(1, 15)
    assert BackupSchedule.objects.count() == 2


def test_daily_full_at_two_and_incrementals_every_default_interval(settings):
    from talowa_admin.services import configure_system_settings

    settings.TIME_ZONE = "Asia/Kolkata"
    run_setup()
    daily = BackupSchedule.objects.get(builtin="daily-full")
    next_run = q_schedule(daily.pk).next_run.astimezone(KOLKATA)
    assert (next_run.hour, next_run.minute) == (2, 0)
    assert q_schedule(daily.pk).schedule_type == Schedule.DAILY
    incremental = BackupSchedule.objects.get(builtin="incremental")
    assert not incremental.enabled  # the default interval is a day
    configure_system_settings(default_backup_interval=timedelta(hours=6))
    incremental.refresh_from_db()
    assert incremental.enabled and incremental.incremental
    assert (incremental.kind, incremental.every) == ("hours", 6)
    q = q_schedule(incremental.pk)
    assert (q.schedule_type, q.minutes) == (Schedule.MINUTES, 360)
    assert q.next_run.astimezone(KOLKATA).hour in (0, 6, 12, 18)


def test_the_row_is_the_schedule_and_django_q2_follows(settings, admin_user):
    settings.TIME_ZONE = "Asia/Kolkata"
    schedule_id = create_backup_schedule(
        schedule_name="Nightly",
        interval={"kind": "daily", "at": "02:30"},
        data_types=["messages", "conversations"],
        actor=admin_user,
    )
    q = q_schedule(schedule_id)
    assert q.func == "backups.tasks.run_backup_schedule"
    assert q.schedule_type == Schedule.DAILY
    local = q.next_run.astimezone(KOLKATA)
    assert (local.hour, local.minute) == (2, 30)
    assert q.next_run > timezone.now()

    update_backup_schedule(
        schedule_id, interval={"kind": "weekly", "weekday": "sunday", "at": "03:00"}
    )
    q = q_schedule(schedule_id)
    local = q.next_run.astimezone(KOLKATA)
    assert (q.schedule_type, local.weekday(), local.hour) == (Schedule.WEEKLY, 6, 3)

    update_backup_schedule(
        schedule_id, interval={"kind": "monthly", "day": 1, "at": "04:00"}
    )
    local = q_schedule(schedule_id).next_run.astimezone(KOLKATA)
    assert (local.day, local.hour) == (1, 4)

    update_backup_schedule(schedule_id, enabled=False)
    assert q_schedule(schedule_id) is None
    assert not Schedule.objects.filter(
        func="backups.tasks.run_backup_schedule"
    ).exists()
    update_backup_schedule(schedule_id, enabled=True)
    assert q_schedule(schedule_id) is not None

    delete_backup_schedule(schedule_id, actor=admin_user)
    assert not BackupSchedule.objects.filter(pk=schedule_id).exists()
    assert not Schedule.objects.filter(
        func="backups.tasks.run_backup_schedule"
    ).exists()
    actions = list(
        AuditEvent.objects.filter(target_type="backups.backupschedule")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[0] == "schedule.create" and actions[-1] == "schedule.delete"
    assert actions.count("schedule.change") == 4


def test_setup_schedules_repairs_rows_written_behind_its_back():
    """Rows a migration or a script wrote get their django-q2 schedule at deploy."""
    written = BackupSchedule.objects.create(
        name="From a migration", kind="hours", every=2
    )
    stray = Schedule.objects.create(
        name="left over",
        func="backups.tasks.run_backup_schedule",
        args=repr((9999,)),
        schedule_type=Schedule.MINUTES,
        minutes=5,
        next_run=timezone.now(),
    )
    outcome = run_setup()
    assert outcome["From a migration"] == "created"
    assert q_schedule(written.pk).minutes == 120
    assert not Schedule.objects.filter(pk=stray.pk).exists()


def test_the_briefs_example_schedule():
    schedule_id = create_backup_schedule(
        schedule_name="Daily Backup",
        interval=timedelta(days=1),
        data_types=["messages", "conversations"],
        backup_config={
            "includeMessages": True,
            "includeConversations": True,
            "includeCallHistory": False,
        },
    )
    schedule = BackupSchedule.objects.get(pk=schedule_id)
    assert schedule.data_types == ["messages", "conversations"]
    assert (schedule.kind, schedule.every) == ("hours", 24)


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        ({"data_types": ["messages", "sms"]}, "data_types", "Unknown data type “sms”"),
        ({"interval": timedelta(minutes=2)}, "every", "at least 5 minutes"),
        ({"data_types": []}, "data_types", "at least one data type"),
        (
            {
                "data_types": ["messages"],
                "backup_config": {"includeMessages": False},
            },
            "data_types",
            "at least one data type",
        ),
        ({"schedule_name": "  "}, "name", "Give the schedule a name"),
        ({"interval": {"kind": "daily"}}, "at_time", "time of day"),
        ({"interval": {"kind": "daily", "at": "25:99"}}, "at_time", "HH:MM"),
        ({"interval": {"kind": "weekly", "at": "01:00"}}, "weekday", "day of the week"),
        (
            {"interval": {"kind": "monthly", "day": 31, "at": "01:00"}},
            "day_of_month",
            "from 1 to 28",
        ),
        ({"interval": {"kind": "yearly"}}, "kind", "Unknown interval kind"),
        ({"interval": "daily"}, "kind", "timedelta or as a mapping"),
        ({"backup_config": {"includeSms": True}}, "backup_config", "includeSms"),
        ({"backup_config": {"scope": "user", "user": "nobody"}}, "owner", "nobody"),
        ({"backup_config": {"full_every": 7}}, "full_every_days", "incremental"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_field(
    arguments, field, message
):
    given = {
        "schedule_name": "Refused",
        "interval": timedelta(hours=6),
        "data_types": None,
        **arguments,
    }
    with pytest.raises(ValidationError) as caught:
        create_backup_schedule(**given)
    assert field in caught.value.message_dict, caught.value.message_dict
    assert message in " ".join(caught.value.message_dict[field])
    assert not BackupSchedule.objects.exists()
    assert not Schedule.objects.exists()


def test_a_duplicate_name_and_an_unknown_change_are_refused():
    first = create_backup_schedule(schedule_name="Twice", interval=timedelta(hours=1))
    with pytest.raises(ValidationError, match="already exists"):
        create_backup_schedule(schedule_name="Twice", interval=timedelta(hours=2))
    with pytest.raises(ValidationError, match="cannot change"):
        update_backup_schedule(first, colour="red")
    with pytest.raises(ValidationError, match="No backup schedule"):
        update_backup_schedule(first + 100, enabled=False)


def test_the_minimum_interval_is_a_setting(settings):
    settings.TALOWA_SCHEDULE_MIN_MINUTES = 1
    schedule_id = create_backup_schedule(
        schedule_name="Every minute", interval=timedelta(minutes=1)
    )
    assert q_schedule(schedule_id).minutes == 1


# --- runs ---------------------------------------------------------------------


def test_the_django_q2_scheduler_runs_a_due_schedule(world):
    schedule_id = create_backup_schedule(
        schedule_name="Hourly",
        interval=timedelta(hours=1),
        backup_config={"note": "from the schedule"},
    )
    make_due(schedule_id)
    scheduler()
    drain_queue()
    run = BackupScheduleRun.objects.get()
    assert run.result == "succeeded", run.message
    assert run.trigger == "scheduled" and run.slot is not None
    backup = Backup.objects.get()
    assert run.backup == backup and backup.kind == "full"
    assert backup.note == "from the schedule"
    assert backup.metadata["schedule"] == "Hourly"
    assert backup.status == Backup.Status.COMPLETED
    schedule = BackupSchedule.objects.get(pk=schedule_id)
    assert schedule.last_backup == backup and schedule.last_run_at
    assert q_schedule(schedule_id).next_run > timezone.now()


def test_an_incremental_schedule_builds_on_the_chain_and_takes_a_full_when_due(
    world, sync_tasks
):
    schedule_id = create_backup_schedule(
        schedule_name="Incrementals",
        interval=timedelta(hours=1),
        backup_config={"incremental": True, "full_every": timedelta(days=7)},
    )
    kinds = []
    for _ in range(2):
        execute_backup_now(schedule_id)
        kinds.append(Backup.objects.order_by("-created_at").first().kind)
    assert kinds == ["full", "incremental"]
    Backup.objects.filter(kind="full").update(
        created_at=timezone.now() - timedelta(days=8)
    )
    execute_backup_now(schedule_id)
    assert Backup.objects.order_by("-created_at").first().kind == "full"


def test_after_downtime_one_catch_up_run_not_one_per_missed_slot(world):
    schedule_id = create_backup_schedule(
        schedule_name="Hourly", interval=timedelta(hours=1)
    )
    make_due(schedule_id, ago=timedelta(hours=5, minutes=1))
    for _ in range(3):  # the cluster is back: the scheduler looks again and again
        scheduler()
        drain_queue()
    drain_queue()
    run = BackupScheduleRun.objects.get()
    assert run.trigger == "catch_up" and run.result == "succeeded"
    assert Backup.objects.count() == 1
    assert q_schedule(schedule_id).next_run > timezone.now()


def test_a_slot_whose_previous_run_holds_the_scope_lock_is_skipped(world):
    schedule_id = create_backup_schedule(
        schedule_name="Often", interval=timedelta(minutes=10)
    )
    running = claim_backup(
        kind="full", scope="system", owner=None, data_types=["messages"]
    )
    make_due(schedule_id)
    scheduler()
    drain_queue()
    run = BackupScheduleRun.objects.get()
    assert run.result == "skipped"
    assert run.message.startswith("skipped: previous run still going")
    assert running.id in run.message
    assert list(Backup.objects.values_list("id", flat=True)) == [running.id]
    task = Task.objects.get(group__startswith="backup schedule")
    assert task.success  # a skip is not a failure


def test_one_slot_runs_once_however_often_it_is_delivered(world):
    schedule_id = create_backup_schedule(
        schedule_name="Twice delivered", interval=timedelta(hours=1)
    )
    slot = timezone.now().replace(microsecond=0).isoformat()
    first = run_backup_schedule(schedule_id=schedule_id, slot=slot)
    second = run_backup_schedule(schedule_id=schedule_id, slot=slot)
    assert first.result == "succeeded" and second is None
    assert Backup.objects.count() == 1
    assert BackupScheduleRun.objects.count() == 1


def test_a_disabled_or_deleted_schedule_runs_nothing(world):
    schedule_id = create_backup_schedule(
        schedule_name="Off", interval=timedelta(hours=1)
    )
    BackupSchedule.objects.filter(pk=schedule_id).update(enabled=False)
    assert run_backup_schedule(schedule_id=schedule_id, slot=None) is None
    assert q_schedule(schedule_id) is None  # the stray task put django-q2 in step
    assert run_backup_schedule(schedule_id=schedule_id + 1, slot=None) is None
    assert not Backup.objects.exists()


def test_a_failed_run_is_recorded_and_fails_its_task(world, settings):
    settings.TALOWA_BACKUP_KEYS = []
    settings.TALOWA_ENV = "production"  # no key: KeyUnavailable, never retried
    schedule_id = create_backup_schedule(
        schedule_name="Keyless", interval=timedelta(hours=1)
    )
    make_due(schedule_id)
    scheduler()
    drain_queue()
    run = BackupScheduleRun.objects.get()
    assert run.result == "failed" and run.attempts == 1
    assert "no backup keys are configured" in run.message
    task = Task.objects.get(group__startswith="backup schedule")
    assert task.success is False
    assert "no backup keys are configured" in task.result


def test_run_now_returns_the_backup_and_records_who_asked(
    world, sync_tasks, admin_user
):
    schedule_id = create_backup_schedule(
        schedule_name="On demand",
        interval=timedelta(hours=12),
        backup_config={"scope": "user", "user": world.asha.username},
    )
    handle = execute_backup_now(schedule_id, actor=admin_user)
    backup = Backup.objects.get(pk=handle["backup_id"])
    assert backup.scope == "user" and backup.owner == world.asha
    run = BackupScheduleRun.objects.get(pk=handle["run_id"])
    assert (run.trigger, run.result, run.requested_by) == (
        "manual",
        "succeeded",
        admin_user,
    )
    assert run.slot is None


def test_start_scheduler_says_when_no_cluster_runs():
    schedule_id = create_backup_schedule(
        schedule_name="Waiting", interval=timedelta(hours=1)
    )
    status = start_scheduler()
    assert status["running"] is False
    assert "manage.py qcluster" in status["message"]
    make_due(schedule_id, ago=timedelta(minutes=10))
    status = start_scheduler()
    assert status["overdue"] and "overdue" in status["message"]


def test_initialize_backup_system_with_the_briefs_arguments():
    from talowa_admin.models import SystemSettings
    from talowa_admin.services import initialize_backup_system

    report = initialize_backup_system(
        create_default_schedules=True,
        enable_auto_cleanup=False,
        custom_retention_periods={
            "messages": 365,
            "call_history": 180,
            "media_files": 90,
        },
    )
    current = SystemSettings.load()
    assert current.enable_automatic_cleanup is False
    assert current.default_retention_periods["group_messages"] == 365
    assert report["schedules"]["Daily full backup"] == "created"
    assert Schedule.objects.filter(name="talowa: expire backups").exists()
    assert report["scheduler"]["running"] is False
    again = initialize_backup_system()
    assert again["schedules"]["Daily full backup"] == "ok"


def test_scheduled_expiry_follows_the_cleanup_switch(world):
    from backups.tasks import expire_backups_by_keep_rules
    from talowa_admin.services import configure_system_settings

    configure_system_settings(enable_automatic_cleanup=False)
    assert "skipped" in expire_backups_by_keep_rules()
    configure_system_settings(enable_automatic_cleanup=True)
    assert expire_backups_by_keep_rules() == {"expired": []}


def test_the_weekly_verification_fails_loudly_on_a_corrupted_parent(world):
    from backups.services import create_full_backup, create_incremental_backup
    from backups.storage import object_store

    run_setup()
    full = Backup.objects.get(pk=create_full_backup())
    create_incremental_backup()
    path = object_store().root / full.object_key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    Schedule.objects.filter(name="talowa: verify newest chain").update(
        next_run=timezone.now() - timedelta(seconds=5)
    )
    scheduler()
    drain_queue()
    task = Task.objects.get(func="backups.tasks.verify_newest_chain")
    assert task.success is False
    assert f"{full.id}:" in task.result and "chunk" in task.result
    full.refresh_from_db()
    assert full.verify_ok is False


def test_a_run_now_delivered_twice_runs_once(world, sync_tasks):
    schedule_id = create_backup_schedule(
        schedule_name="Once", interval=timedelta(hours=1)
    )
    handle = execute_backup_now(schedule_id)
    again = run_backup_schedule(schedule_id=schedule_id, run_id=handle["run_id"])
    assert again is None
    assert Backup.objects.count() == 1
