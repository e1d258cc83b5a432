"""The backup's page and the export jobs as administrators read them.

Buttons per role, the manifest download, human units, and an export's
download by the administrator who asked for it.
"""

from __future__ import annotations

import json

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import results
from django.contrib.admin.utils import quote
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backups.models import Backup, ExportJob
from backups.services import create_full_backup, exporting
from talowa_admin.humanize import human_size
from talowa_admin.models import AuditEvent
from talowa_admin.roles import BACKUP_OPERATOR, BACKUP_VIEWER, RECOVERY_ADMIN

pytestmark = pytest.mark.django_db(transaction=True)


def log_in(client, role_user, role):
    user = role_user(role)
    client.force_login(user)
    return user


def backup_page(backup_id: str) -> str:
    return reverse("admin:backups_backup_change", args=[quote(backup_id)])


@pytest.mark.parametrize(
    ("role", "buttons"),
    [
        (BACKUP_VIEWER, {"download-manifest"}),
        (BACKUP_OPERATOR, {"download-manifest", "verify-backup"}),
        (RECOVERY_ADMIN, {"download-manifest", "verify-backup", "restore-backup"}),
    ],
)
def test_each_role_sees_its_buttons_on_a_backups_page(
    client, role_user, world, role, buttons
):
    backup_id = create_full_backup()
    log_in(client, role_user, role)
    content = client.get(backup_page(backup_id)).content.decode()
    shown = {
        name
        for name in ("download-manifest", "verify-backup", "restore-backup")
        if f'id="{name}"' in content
    }
    assert shown == buttons
    # Counts and manifest are tables, not JSON.
    assert 'id="backup-counts"' in content and 'id="manifest-tables"' in content
    assert "<td>messaging.message</td>" in content
    assert '"tables"' not in content


def test_the_manifest_downloads_as_json_read_from_the_storage(client, role_user, world):
    backup = Backup.objects.get(pk=create_full_backup())
    log_in(client, role_user, BACKUP_VIEWER)
    url = reverse("admin:backups_backup_manifest", args=[quote(backup.pk)])
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert f'filename="{backup.id}-manifest.json"' in response["Content-Disposition"]
    manifest = json.loads(response.content)
    assert manifest["backup_id"] == backup.id
    assert manifest["counts"] == {**manifest["counts"], **backup.counts}
    assert manifest["tables"]["messaging.message"]["rows"] == backup.counts["messages"]
    assert AuditEvent.objects.filter(
        action="backup.manifest_download", target_id=backup.id
    ).exists()


def test_a_backup_without_archive_offers_no_manifest(client, role_user, world):
    backup = Backup.objects.get(pk=create_full_backup())
    backup.status = Backup.Status.FAILED
    backup.save(update_fields=["status"])
    log_in(client, role_user, RECOVERY_ADMIN)
    content = client.get(backup_page(backup.id)).content.decode()
    assert 'id="download-manifest"' not in content
    assert 'id="verify-backup"' not in content
    url = reverse("admin:backups_backup_manifest", args=[quote(backup.pk)])
    response = client.get(url)
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="backup.manifest_download").exists()


def test_verify_button_needs_an_operator_and_is_audited(
    client, role_user, world, sync_tasks
):
    backup_id = create_full_backup()
    url = reverse("admin:backups_backup_verify", args=[quote(backup_id)])
    log_in(client, role_user, BACKUP_VIEWER)
    assert client.post(url).status_code == 403
    assert Backup.objects.get(pk=backup_id).verify_ok is None
    log_in(client, role_user, BACKUP_OPERATOR)
    response = client.post(url, follow=True)
    assert b"was queued" in response.content
    assert Backup.objects.get(pk=backup_id).verify_ok is True
    assert AuditEvent.objects.filter(
        action="backup.verify_queue", target_id=backup_id
    ).exists()


def test_list_shows_badges_human_units_and_one_date_format(client, role_user, world):
    backup = Backup.objects.get(pk=create_full_backup())
    log_in(client, role_user, BACKUP_VIEWER)
    content = client.get(reverse("admin:backups_backup_changelist")).content.decode()
    assert 'class="badge badge-completed"' in content
    assert f"{backup.created_at:%Y-%m-%d %H:%M:%S}" in content
    size = human_size(backup.stored_bytes)
    assert size.endswith(("KB", "MB", "bytes")) and f">{size}<" in content
    assert 'id="talowa-refresh"' not in content  # nothing is running


# The backup list as a viewer: session, user, the viewer's permissions (one),
# the running backups, the queue's size, recent tasks, the owners for the
# filter, the count and the page. Nothing per row, nothing per date.
BACKUP_LIST_QUERIES = 9


def test_list_runs_a_fixed_handful_of_queries_and_filters_by_date(
    client, role_user, make_user, world
):
    for _ in range(3):
        create_full_backup()
    create_full_backup(user=make_user("asha-owner"))
    log_in(client, role_user, BACKUP_VIEWER)
    url = reverse("admin:backups_backup_changelist")
    client.get(url)  # warm: content types and the like are cached
    with CaptureQueriesContext(connection) as captured:
        content = client.get(url).content.decode()
    sql = [query["sql"] for query in captured]
    assert len(sql) <= BACKUP_LIST_QUERIES, sql
    # The page of backups (unfiltered: no WHERE) reads the columns shown.
    (page,) = [
        one
        for one in sql
        if 'FROM "backups_backup"' in one and "WHERE" not in one and "COUNT" not in one
    ]
    assert '"backups_backup"."counts"' not in page
    assert '"auth_user"."password"' not in page
    # The owners' filter reads their names, not whole user rows.
    (owners,) = [one for one in sql if 'FROM "auth_user"' in one and " IN (" in one]
    assert '"auth_user"."password"' not in owners
    # The creation date is still a filter ("Today", "Past 7 days", ...).
    assert "created_at__gte=" in content and "Past 7 days" in content
    owner = Backup.objects.get(owner__username="asha-owner").owner_id
    assert f'href="?owner__id__exact={owner}">asha-owner</a>' in content


@pytest.mark.parametrize("role", [BACKUP_VIEWER, BACKUP_OPERATOR])
def test_list_rows_are_the_markup_djangos_admin_writes(
    rf, role_user, make_user, world, role
):
    asha = make_user("asha-rows")
    ids = [create_full_backup(), create_full_backup(user=asha), create_full_backup()]
    Backup.objects.filter(pk=ids[0]).update(verify_ok=True)
    Backup.objects.filter(pk=ids[1]).update(
        verify_ok=False, status=Backup.Status.FAILED, stored_bytes=0
    )
    Backup.objects.filter(pk=ids[2]).update(started_at=None, finished_at=None)
    backup_admin = admin.site._registry[Backup]
    for query in ({}, {"o": "-6"}, {"kind__exact": "full", "q": "backup"}):
        request = rf.get("/admin/backups/backup/", query)
        request.user = role_user(role)
        cl = backup_admin.get_changelist_instance(request)
        cl.formset = None
        expected = [list(row) for row in results(cl)]
        assert len(expected) == 3
        assert [list(row) for row in backup_admin.result_rows(cl)] == expected
    # The page shows them.
    content = backup_admin.changelist_view(request).render().content.decode()
    assert all(str(cell) in content for cell in expected[0])


def test_list_shows_the_recent_backup_tasks_and_their_results(client, role_user, world):
    from django.utils import timezone
    from django_q.models import Task

    now = timezone.now()
    Task.objects.create(
        id="a" * 32,
        name="full backup by operator",
        func="backups.tasks.run_backup",
        args=("full", None, 1),
        group="backups",
        started=now,
        stopped=now,
        success=False,
        result="the storage refused the write",
    )
    log_in(client, role_user, BACKUP_VIEWER)
    content = client.get(reverse("admin:backups_backup_changelist")).content.decode()
    assert "full backup by operator" in content
    assert "the storage refused the write" in content
    assert 'class="badge badge-failed">Failed<' in content


def test_list_refreshes_itself_while_a_backup_runs(client, role_user, world):
    backup = Backup.objects.get(pk=create_full_backup())
    Backup.objects.filter(pk=backup.pk).update(status=Backup.Status.PENDING)
    log_in(client, role_user, BACKUP_VIEWER)
    content = client.get(reverse("admin:backups_backup_changelist")).content.decode()
    assert content.count('id="talowa-refresh"') == 1  # one timer, one script
    assert "talowa/refresh.js" in content


# --- Export jobs ---------------------------------------------------------------
def export_asked_by(staff, user) -> ExportJob:
    result = exporting.export_user_data(user, format="json")
    job = ExportJob.objects.get(pk=result.export_id)
    job.requested_by = staff
    job.save(update_fields=["requested_by"])
    return job


def test_the_requesting_administrator_downloads_the_export(client, role_user, world):
    operator = log_in(client, role_user, BACKUP_OPERATOR)
    job = export_asked_by(operator, world.asha)
    url = reverse("admin:backups_exportjob_download", args=[job.pk])
    listing = client.get(reverse("admin:backups_exportjob_changelist")).content
    assert f'href="{url}"'.encode() in listing
    response = client.get(url)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body[:2] == b"PK" and len(body) == job.size_bytes
    assert "asha" in response["Content-Disposition"]
    event = AuditEvent.objects.get(action="export.download", target_id=str(job.pk))
    assert event.actor == operator
    assert event.details["user"] == "asha"


def test_no_other_administrator_downloads_an_export(client, role_user, world):
    asker = role_user(BACKUP_OPERATOR)
    job = export_asked_by(asker, world.asha)
    url = reverse("admin:backups_exportjob_download", args=[job.pk])
    log_in(client, role_user, RECOVERY_ADMIN)
    listing = client.get(reverse("admin:backups_exportjob_changelist")).content
    assert url.encode() not in listing
    assert client.get(url).status_code == 404
    log_in(client, role_user, BACKUP_VIEWER)
    assert client.get(url).status_code == 403
    assert not AuditEvent.objects.filter(action="export.download").exists()
