"""The demo registers schedules so that its worker backs up by itself."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from backups.models import BackupSchedule

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_demo_schedules_incrementals_every_five_minutes(data_dir, monkeypatch):
    monkeypatch.setenv("TALOWA_DEMO_PASSWORD", "demo-password-for-tests")
    for _ in range(2):  # idempotent
        out = io.StringIO()
        call_command("setup_demo", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["schedules"]["Daily full backup"] == "ok"
    incremental = BackupSchedule.objects.get(builtin="incremental")
    assert incremental.enabled and (incremental.kind, incremental.every) == (
        "minutes",
        5,
    )
    q = Schedule.objects.get(pk=incremental.q_schedule_id)
    assert (q.func, q.minutes) == ("backups.tasks.run_backup_schedule", 5)
    assert BackupSchedule.objects.count() == 2
