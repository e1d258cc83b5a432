"""get_backup_status: storage usage, history, schedules and recommendations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backups.models import Backup
from backups.services import create_full_backup
from recovery.services.health_checks import CHECKS
from talowa_admin.services import check_system_health, get_backup_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_status_reports_usage_by_scope_type_user_and_day(world):
    system = Backup.objects.get(pk=create_full_backup())
    mine = Backup.objects.get(
        pk=create_full_backup(user=world.asha, include_call_history=False)
    )
    status = get_backup_status()
    usage = status["storage_usage"]
    total = system.stored_bytes + mine.stored_bytes
    assert usage["total"] == {"bytes": total, "objects": 2}
    assert usage["by_scope"]["system"] == {"bytes": system.stored_bytes, "objects": 1}
    assert usage["by_scope"]["user"] == {"bytes": mine.stored_bytes, "objects": 1}
    assert usage["by_data_type"]["messages"] == {"bytes": total, "objects": 2}
    assert usage["by_data_type"]["call_history"]["objects"] == 1
    assert usage["top_users"] == [
        {"user": "asha", "bytes": mine.stored_bytes, "objects": 1}
    ]
    assert len(usage["daily"]) == 90
    assert usage["daily"][-1]["total_bytes"] == total
    assert usage["daily"][-1]["added_objects"] == 2
    newest = status["backup_history"][0]
    assert newest["id"] == mine.id
    assert newest["kind"] == "full" and newest["status"] == "completed"
    assert newest["size_bytes"] == mine.stored_bytes
    assert newest["seconds"] is not None


def test_status_lists_schedules_with_next_run_and_last_result(world):
    from backups.models import BackupScheduleRun
    from backups.services.scheduling import create_backup_schedule

    backup = Backup.objects.get(pk=create_full_backup())
    schedule_id = create_backup_schedule(
        schedule_name="nightly", interval=timedelta(days=1)
    )
    BackupScheduleRun.objects.create(
        schedule_id=schedule_id,
        trigger="scheduled",
        result="succeeded",
        backup=backup,
        finished_at=backup.finished_at,
    )
    (schedule,) = get_backup_status()["schedules"]
    assert schedule["name"] == "nightly"
    assert schedule["interval_seconds"] == 86400
    assert schedule["next_run"] > timezone.now()
    assert schedule["last_result"]["result"] == "succeeded"
    assert schedule["last_result"]["backup"] == backup.id


def test_recommendations_come_from_health_and_storage_growth(world, settings):
    old = Backup.objects.get(pk=create_full_backup())
    Backup.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=10)
    )
    new = Backup.objects.get(pk=create_full_backup())
    settings.TALOWA_BACKUP_STORAGE_QUOTA_BYTES = old.stored_bytes + 3 * new.stored_bytes
    (trend,) = get_backup_status()["recommendations"]
    assert trend.startswith("Backup storage grows ")
    assert "is reached in 2 weeks" in trend
    check_system_health(checks=tuple(c for c in CHECKS if c.name == "verification"))
    assert get_backup_status()["recommendations"] == [
        "No backup was ever verified: run `verify_backup --all`.",
        trend,
    ]


def test_storage_figures_are_cached_until_a_backup_finishes_or_expires(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from backups.services import expire_backup

    create_full_backup()
    with CaptureQueriesContext(connection) as first:
        assert get_backup_status()["storage_usage"]["total"]["objects"] == 1
    with CaptureQueriesContext(connection) as second:
        assert get_backup_status()["storage_usage"]["total"]["objects"] == 1
    assert len(second) < len(first) - 3  # the usage came from the cache
    newer = create_full_backup()
    assert get_backup_status()["storage_usage"]["total"]["objects"] == 2
    expire_backup(Backup.objects.get(pk=newer))
    assert get_backup_status()["storage_usage"]["total"]["objects"] == 1
