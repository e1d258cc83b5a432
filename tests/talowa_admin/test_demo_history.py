"""``setup_demo`` leaves every backup, recovery, export and audit page with rows."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from backups.models import Backup, ExportJob
from recovery.models import RecoveryRun
from talowa_admin.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = {
    "admin:backups_backup_changelist": Backup,
    "admin:backups_exportjob_changelist": ExportJob,
    "admin:recovery_recoveryrun_changelist": RecoveryRun,
    "admin:talowa_admin_auditevent_changelist": AuditEvent,
}


def test_the_demo_fills_the_pages_once(data_dir, monkeypatch, client):
    monkeypatch.setenv("TALOWA_DEMO_PASSWORD", "demo-password-for-tests")
    out = io.StringIO()
    call_command("setup_demo", "--json", stdout=out)
    history = json.loads(out.getvalue())["history"]

    kinds = set(Backup.objects.values_list("kind", flat=True))
    assert kinds == {"full", "incremental"}
    assert set(Backup.objects.values_list("status", flat=True)) == {"completed"}
    assert Backup.objects.filter(verify_ok=True).count() >= 2
    assert Backup.objects.filter(owner__username="asha").exists()
    assert RecoveryRun.objects.get().status == "completed"
    export = ExportJob.objects.get()
    assert export.status == "completed" and export.requested_by.username == "operator"
    assert history["recovery_run"]["status"] == "completed"

    client.login(username="recovery", password="demo-password-for-tests")
    for name, model in PAGES.items():
        page = client.get(reverse(name))
        assert page.status_code == 200, name
        assert b'id="result_list"' in page.content, name
        assert model.objects.exists()

    # A second run adds nothing.
    backups = Backup.objects.count()
    out = io.StringIO()
    call_command("setup_demo", "--json", stdout=out)
    assert json.loads(out.getvalue())["history"] is None
    assert Backup.objects.count() == backups
