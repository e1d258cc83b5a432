"""``setup_demo`` leaves every admin page with rows, and a re-run adds none."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from backups.models import Backup, ExportJob
from recovery.models import HealthSnapshot, MaintenanceRun, RecoveryRun, RestoreDrill
from retention.models import CleanupRun, RetentionPolicy
from talowa_admin.demo_history import DEMO_MARK, HEALTH_HISTORY_DAYS
from talowa_admin.models import SystemSettings

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "demo-password-for-tests"
# Changelists the demo leaves empty, and why.
EMPTY_BY_DESIGN = {
    # django-q2's own pages: the worker cluster, which `make run` starts after
    # setup_demo (and whose first health check is due at once), fills them.
    "django_q.success": "the worker's finished tasks",
    "django_q.failure": "the worker's failed tasks: none in a healthy demo",
    "django_q.ormq": "tasks waiting for the worker: none once it runs",
}
# One row only: the changelist opens that row's change page.
SINGLETONS = {"talowa_admin.systemsettings": SystemSettings}


def _setup_demo() -> dict:
    out = io.StringIO()
    call_command("setup_demo", "--json", stdout=out)
    return json.loads(out.getvalue())


def _row_counts() -> dict[str, int]:
    return {
        model._meta.label_lower: model._default_manager.count()
        for model in admin.site._registry
    }


def test_the_demo_fills_every_admin_page_once(data_dir, monkeypatch, client):
    monkeypatch.setenv("TALOWA_DEMO_PASSWORD", PASSWORD)
    history = _setup_demo()["history"]

    completed = Backup.objects.filter(status="completed")
    assert set(completed.values_list("kind", flat=True)) == {"full", "incremental"}
    assert Backup.objects.filter(verify_ok=True).count() >= 2
    assert Backup.objects.filter(owner__username="asha").exists()
    assert RecoveryRun.objects.get().status == "completed"
    export = ExportJob.objects.get()
    assert export.status == "completed" and export.requested_by.username == "operator"
    assert history["backups"]["recovery_run"]["status"] == "completed"
    assert history["schedule_run"]["result"] == "succeeded"
    assert set(RetentionPolicy.objects.values_list("entity_type", flat=True)) == {
        "user",
        "conversation",
    }
    cleanup = CleanupRun.objects.get(dry_run=False, trigger="command")
    assert sum(cleanup.counts.values()) > 0  # the demo's policies put rows past
    drill = RestoreDrill.objects.get()
    assert drill.status == "passed" and drill.rto_seconds > 0
    assert MaintenanceRun.objects.get().status == "completed"
    measured = HealthSnapshot.objects.exclude(detail__startswith=DEMO_MARK)
    assert measured.values("check_id").distinct().count() == 1
    made_up = HealthSnapshot.objects.filter(detail__startswith=DEMO_MARK)
    oldest = made_up.order_by("checked_at").first().checked_at
    assert timezone.now() - oldest > timedelta(days=HEALTH_HISTORY_DAYS - 2)

    assert client.login(username="admin", password=PASSWORD)
    for model in admin.site._registry:
        label, meta = model._meta.label_lower, model._meta
        url = f"admin:{meta.app_label}_{meta.model_name}_changelist"
        page = client.get(reverse(url))
        if label in SINGLETONS:
            assert page.status_code == 302, label
            assert client.get(page.url).status_code == 200, label
            continue
        assert page.status_code == 200, label
        rows = page.context["cl"].result_count
        if label in EMPTY_BY_DESIGN:
            continue
        assert rows >= 1, f"{label}: the demo leaves its admin page empty"

    # A second run adds nothing and fails on nothing.
    before = _row_counts()
    assert _setup_demo()["history"] is None
    assert _row_counts() == before
