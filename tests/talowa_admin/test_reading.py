"""Recorded JSON values read as tables and lists on the admin's record pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from recovery.models import RecoveryRun
from retention.models import CleanupRun
from talowa_admin.audit import record_audit_event
from talowa_admin.humanize import readable
from talowa_admin.models import AuditEvent


def test_objects_read_as_tables_and_lists_as_lists():
    html = readable(
        {
            "dry_run": False,
            "regular_messages": 12345,
            "chain": ["backup_a", "backup_b"],
            "steps": [{"action": "restore"}],
            "note": "<script>",
            "backup_20261202T143843_d5b67e05": "kept",
        }
    )
    assert '<th scope="row">Dry run</th><td>No</td>' in html
    assert '<th scope="row">Regular messages</th><td>12,345</td>' in html
    assert "<td>backup_a, backup_b</td>" in html
    assert '<ol><li><table class="talowa-table talowa-reading">' in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert '<th scope="row">backup_20261202T143843_d5b67e05</th>' in html
    assert readable({}) == readable(None) == readable([]) == "–"


@pytest.mark.django_db
def test_a_records_json_fields_read_as_tables_on_its_page(admin_client):
    run = CleanupRun.objects.create(
        status="completed", counts={"regular_messages": 1200, "media_files": 3}
    )
    record_audit_event(
        actor="test", action="demo.check", details={"dry_run": True, "count": 2}
    )
    event = AuditEvent.objects.get(action="demo.check")
    pages = {
        reverse("admin:retention_cleanuprun_change", args=[run.pk]): (
            '<th scope="row">Regular messages</th><td>1,200</td>'
        ),
        reverse("admin:talowa_admin_auditevent_change", args=[event.pk]): (
            '<th scope="row">Dry run</th><td>Yes</td>'
        ),
    }
    for url, row in pages.items():
        page = admin_client.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert row in html
        assert "{&quot;" not in html and '{"' not in html  # no JSON text


@pytest.mark.django_db
def test_a_recovery_runs_steps_are_shown_once_in_their_own_table(admin_client):
    run = RecoveryRun.objects.create(
        backup_id="backup_x",
        status="completed",
        options={"keep_past_retention": False},
        steps=[
            {"action": "verify_chain", "title": "Verify the backup chain",
             "status": "completed", "result": "1 backup(s) verified"},
            {"action": "restore", "title": "Restore", "status": "completed",
             "result": {"tables": {"messaging.message": {"loaded": 3000}}}},
        ],
    )  # fmt: skip

    page = admin_client.get(reverse("admin:recovery_recoveryrun_change", args=[run.pk]))

    html = page.content.decode()
    assert '<th scope="row">Keep past retention</th><td>No</td>' in html
    assert html.count("Verify the backup chain") == 1  # the steps' table only
    restore = html[html.index('data-action="restore"') :]
    assert "<details><summary>Details</summary>" in restore
    assert '<th scope="row">Loaded</th><td>3,000</td>' in restore
