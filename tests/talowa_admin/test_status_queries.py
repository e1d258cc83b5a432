"""The status figures stay a fixed handful of queries as the catalog grows.

The catalog is written in bulk by ``bench.catalog`` (the dashboard
benchmark's seeding): chains, failures, expiries and a history of schedules,
runs and health checks, at two sizes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backups.models import Backup
from backups.services.scheduling import create_backup_schedule
from backups.services.usage import storage_usage
from bench.catalog import seed_backups, seed_history
from recovery.services.health import latest_health
from recovery.services.health_checks import CHECKS
from talowa_admin import roles
from talowa_admin.services import get_backup_status

pytestmark = pytest.mark.django_db
# Cold: at most this many queries for the whole status; warm (storage usage
# cached): this many fewer.
STATUS_QUERIES = 10
CACHED_QUERIES = 3


def queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


def counts(client) -> dict[str, int]:
    def api():
        assert client.get("/api/status/").status_code == 200

    cache.clear()
    cold = queries(get_backup_status)
    warm = queries(get_backup_status)

    def backup_list():
        assert client.get("/admin/backups/backup/").status_code == 200

    cache.clear()
    return {
        "status cold": cold,
        "status warm": warm,
        "api cold": queries(api),
        "api warm": queries(api),
        "latest health": queries(latest_health),
        "backup list": queries(backup_list),
    }


def test_status_and_api_queries_are_the_same_at_two_catalog_sizes(
    client, make_user, role_user
):
    for number in range(12):
        make_user(f"owner{number}")
    client.force_login(role_user(roles.BACKUP_VIEWER))
    seed_history(days=6)
    seed_backups(30, days=6)
    small = counts(client)

    seed_backups(300, days=6)
    for number in range(4):
        create_backup_schedule(
            schedule_name=f"extra {number}", interval=timedelta(hours=number + 1)
        )
    seed_history(days=6)  # the new schedules' runs, more health checks
    large = counts(client)

    assert Backup.objects.count() == 330
    assert large == small
    assert small["status cold"] <= STATUS_QUERIES
    assert small["status warm"] <= small["status cold"] - CACHED_QUERIES
    assert small["latest health"] == 1


def test_storage_usage_adds_up_the_catalog(make_user):
    for number in range(12):
        make_user(f"owner{number}")
    seed_backups(400, days=120)
    usage = storage_usage(days=90)

    held = list(Backup.objects.filter(status=Backup.Status.COMPLETED))
    assert usage["total"] == {
        "bytes": sum(b.stored_bytes for b in held),
        "objects": len(held),
    }
    by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for backup in held:
        for name in backup.data_types:
            by_type[name][0] += backup.stored_bytes
            by_type[name][1] += 1
    assert usage["by_data_type"] == {
        name: {"bytes": size, "objects": n} for name, (size, n) in by_type.items()
    }
    for scope in ("system", "user"):
        mine = [b for b in held if b.scope == scope]
        assert usage["by_scope"][scope] == {
            "bytes": sum(b.stored_bytes for b in mine),
            "objects": len(mine),
        }
    per_user: dict[str, int] = defaultdict(int)
    for backup in held:
        if backup.owner_id:
            per_user[backup.owner.username] += backup.stored_bytes
    assert [u["bytes"] for u in usage["top_users"]] == sorted(
        per_user.values(), reverse=True
    )[:10]
    today = timezone.localdate()
    assert usage["daily"][-1]["date"] == today.isoformat()
    assert usage["daily"][-1]["total_bytes"] == usage["total"]["bytes"]
    for entry in usage["daily"][-30:]:
        that_day = [
            b
            for b in held
            if timezone.localtime(b.created_at).date().isoformat() == entry["date"]
        ]
        assert entry["added_objects"] == len(that_day)
        assert entry["added_bytes"] == sum(b.stored_bytes for b in that_day)
    first = today - timedelta(days=89)
    assert usage["daily"][0]["total_bytes"] == sum(
        b.stored_bytes for b in held if timezone.localtime(b.created_at).date() <= first
    )


def test_latest_health_is_each_components_newest_snapshot():
    seed_history(days=3)
    from recovery.models import HealthSnapshot

    newest = latest_health()
    assert list(newest) == [check.name for check in CHECKS]
    for name, snapshot in newest.items():
        expected = (
            HealthSnapshot.objects.filter(component=name)
            .order_by("-checked_at", "-id")
            .first()
        )
        assert snapshot.pk == expected.pk


def test_backup_list_checkboxes_are_djangos_markup(make_user):
    from django.contrib import admin

    make_user("owner")
    seed_backups(3, days=1)
    backup_admin = admin.site._registry[Backup]
    for backup in Backup.objects.all():
        assert backup_admin.action_checkbox(backup) == admin.ModelAdmin.action_checkbox(
            backup_admin, backup
        )
