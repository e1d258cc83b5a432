from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django_q.models import Schedule

pytestmark = pytest.mark.django_db


def run() -> dict:
    out = io.StringIO()
    call_command("setup_schedules", "--json", stdout=out)
    return json.loads(out.getvalue())["schedules"]


def test_setup_schedules_is_idempotent_and_repairs():
    assert set(run().values()) == {"created"}
    assert set(run().values()) == {"ok"}
    schedule = Schedule.objects.get(name="talowa: expire exports")
    assert schedule.func == "backups.tasks.cleanup_expired_exports"
    Schedule.objects.filter(pk=schedule.pk).update(minutes=5)
    assert run()["talowa: expire exports"] == "updated"
    assert Schedule.objects.get(pk=schedule.pk).minutes == 60
    assert Schedule.objects.count() == 1
