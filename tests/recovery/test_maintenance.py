"""System maintenance: orphans past the grace period go, everything else stays."""

from __future__ import annotations

import json
import os
import time
from io import StringIO

import pytest
from django.core.management import call_command

from backups.models import Backup
from backups.services import create_full_backup
from backups.services.sidecars import sidecar_names
from recovery.models import MaintenanceRun
from recovery.services.maintenance import perform_system_maintenance
from talowa_admin.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

STORAGE_ONLY = {
    "cleanup_expired_backups": False,
    "cleanup_expired_messages": False,
    "validate_data_integrity": False,
}


def put(root, name: str, *, hours_old: float) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"leftover")
    moment = time.time() - hours_old * 3600
    os.utime(path, (moment, moment))


def stored(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def storage(world, data_dir, settings):
    settings.TALOWA_MAINTENANCE_ORPHAN_GRACE_HOURS = 24
    backup = Backup.objects.get(pk=create_full_backup())
    root = data_dir / "backups"
    # Referenced objects, made to look old: never touched.
    for name in (backup.object_key, *sidecar_names(backup.object_key)):
        os.utime(root / name, (time.time() - 90 * 86400,) * 2)
    put(root, "health/probe-old", hours_old=48)  # an orphan past the grace
    put(root, "health/probe-young", hours_old=1)  # an orphan within it
    put(root, "archives/backup_19990101T000000_deadbeef.tbk", hours_old=48)
    put(root, "archives/.x.tbk.partial-0001", hours_old=48)
    return backup, root


def test_optimize_deletes_only_old_orphans_and_keeps_what_backups_need(storage):
    backup, root = storage
    before = stored(root)
    result = perform_system_maintenance(**STORAGE_ONLY, actor="test")
    step = result["steps"]["optimize_storage"]
    assert step["status"] == "completed"
    tidy = step["result"]["backup_storage"]
    assert tidy["orphans_deleted"] == ["health/probe-old"]
    assert tidy["orphans_kept_within_grace"] == 1
    # An archive the catalog does not know may be a backup from before a
    # disaster: kept and reported.
    assert tidy["uncatalogued_archives"] == [
        "archives/backup_19990101T000000_deadbeef.tbk"
    ]
    assert tidy["partials_removed"] == 1
    assert stored(root) == before - {"health/probe-old", "archives/.x.tbk.partial-0001"}
    for name in (backup.object_key, *sidecar_names(backup.object_key)):
        assert (root / name).is_file()
    run = MaintenanceRun.objects.get(pk=result["run"])
    assert run.status == "completed" and set(run.steps) == {"optimize_storage"}
    assert AuditEvent.objects.filter(action="maintenance.run").exists()


def test_objects_of_an_expired_backup_go_after_the_grace_period(storage):
    backup, root = storage
    Backup.objects.filter(pk=backup.pk).update(status=Backup.Status.EXPIRED)
    result = perform_system_maintenance(**STORAGE_ONLY)
    deleted = result["steps"]["optimize_storage"]["result"]["backup_storage"][
        "orphans_deleted"
    ]
    assert set(deleted) == {
        "health/probe-old",
        backup.object_key,
        *sidecar_names(backup.object_key),
    }


def test_dry_run_changes_nothing(storage):
    _backup, root = storage
    before = stored(root)
    out = StringIO()
    call_command("run_maintenance", "--dry-run", "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["dry_run"] is True
    assert set(payload["steps"]) == {
        "cleanup_expired_backups",
        "cleanup_expired_messages",
        "optimize_storage",
        "validate_data_integrity",
    }
    tidy = payload["steps"]["optimize_storage"]["result"]["backup_storage"]
    assert tidy["orphans_to_delete"] == ["health/probe-old"]
    assert stored(root) == before
    assert MaintenanceRun.objects.get().dry_run is True


def test_nothing_is_deleted_while_a_backup_runs(storage):
    backup, root = storage
    before = stored(root)
    Backup.objects.filter(pk=backup.pk).update(lock_key="system")
    result = perform_system_maintenance(**STORAGE_ONLY)
    tidy = result["steps"]["optimize_storage"]["result"]["backup_storage"]
    assert tidy == {"skipped": f"backup {backup.id} is running"}
    assert stored(root) == before


def test_command_runs_only_the_chosen_steps(storage):
    out = StringIO()
    call_command(
        "run_maintenance", "--validate-integrity", "--optimize-storage", "--json",
        stdout=out,
    )  # fmt: skip
    payload = json.loads(out.getvalue())
    assert set(payload["steps"]) == {"optimize_storage", "validate_data_integrity"}
    assert payload["status"] == "completed"


@pytest.mark.postgres
def test_a_staging_schema_left_by_a_killed_restore_is_dropped(storage):
    from django.db import connection

    from recovery.staging import SCHEMA

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {SCHEMA}")
        cursor.execute(f"CREATE TABLE {SCHEMA}.leftover (id int)")
    dry = perform_system_maintenance(**STORAGE_ONLY, dry_run=True)
    staging = dry["steps"]["optimize_storage"]["result"]["staging_schema"]
    assert staging == {"present": True, "dropped": False}
    result = perform_system_maintenance(**STORAGE_ONLY)
    optimized = result["steps"]["optimize_storage"]["result"]
    assert optimized["staging_schema"] == {"present": True, "dropped": True}
    assert optimized["database"] == {"ran": "VACUUM (ANALYZE)"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [SCHEMA])
        assert cursor.fetchone() is None


def test_a_viewer_reads_the_maintenance_runs_and_each_steps_result(
    storage, client, role_user
):
    from django.urls import reverse

    from talowa_admin.roles import BACKUP_VIEWER

    result = perform_system_maintenance(dry_run=True, **STORAGE_ONLY)
    client.force_login(role_user(BACKUP_VIEWER))

    listing = client.get(reverse("admin:recovery_maintenancerun_changelist"))
    page = client.get(
        reverse("admin:recovery_maintenancerun_change", args=[result["run"]])
    )

    assert listing.status_code == 200 and b"1 completed" in listing.content
    assert page.status_code == 200
    html = page.content.decode()
    assert '<th scope="row">Optimize storage</th>' in html
    assert '<th scope="row">Status</th><td>completed</td>' in html
    assert '{"' not in html  # the steps read as tables, not JSON
    assert b'name="_save"' not in page.content  # read, not changed
