"""The dashboard on the admin index: its figures, its buttons per role, its cost."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backups.models import Backup
from backups.selectors import chain_of
from backups.services import create_full_backup, create_incremental_backup
from backups.services.history import daily_outcomes, newest_chain
from backups.services.scheduling.defaults import ensure_default_schedules
from messaging.models import Message
from recovery.models import HealthSnapshot, MaintenanceRun, RestoreDrill
from recovery.services.health_checks import CHECKS
from talowa_admin import roles
from talowa_admin.models import AuditEvent

QUERY_BUDGET = 30
BUTTONS = {
    roles.BACKUP_VIEWER: [],
    roles.BACKUP_OPERATOR: ["back-up-now", "verify"],
    roles.RECOVERY_ADMIN: ["back-up-now", "verify", "maintenance", "drill"],
}
REFUSED = [
    (role, name)
    for role, allowed in BUTTONS.items()
    for name in BUTTONS[roles.RECOVERY_ADMIN]
    if name not in allowed
]


def buttons_on(html: str) -> list[str]:
    return re.findall(r'id="dashboard-([a-z-]+)" title=', html)


def fill_catalog(count: int, owner) -> None:
    """Add ``count`` catalog rows over 120 days: fulls, failures, user backups."""
    now = timezone.now()
    rows = []
    for number in range(count):
        created = now - timedelta(days=number % 120, minutes=number)
        failed = number % 10 == 9
        rows.append(
            Backup(
                id=f"backup_test_{uuid.uuid4().hex[:16]}",
                kind=Backup.Kind.FULL,
                scope=Backup.Scope.USER if number % 3 == 0 else Backup.Scope.SYSTEM,
                owner=owner if number % 3 == 0 else None,
                status=Backup.Status.FAILED if failed else Backup.Status.COMPLETED,
                stored_bytes=0 if failed else 1000 + number,
                created_at=created,
                started_at=created,
                finished_at=created + timedelta(seconds=5 + number % 50),
            )
        )
    Backup.objects.bulk_create(rows, batch_size=1000)


def fill_history() -> None:
    """Store a health check of every component and a passed drill."""
    check = uuid.uuid4()
    HealthSnapshot.objects.bulk_create(
        HealthSnapshot(check_id=check, component=c.name, status="healthy", detail="ok")
        for c in CHECKS
    )
    RestoreDrill.objects.create(
        engine=connection.vendor, status="passed", rto_seconds=2.5
    )


def dashboard_queries(client) -> tuple[int, int]:
    """Return the queries of the index cold (cache emptied) and warm."""
    counts = []
    cache.clear()
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/admin/")
        assert response.status_code == 200
        assert b'id="dash-storage"' in response.content
        counts.append(len(queries))
    return counts[0], counts[1]


@pytest.mark.django_db
def test_the_dashboard_costs_the_same_queries_at_100_and_at_10000_backups(
    client, role_user, make_user, data_dir
):
    ensure_default_schedules()
    fill_history()
    owner = make_user("asha")
    client.force_login(role_user(roles.BACKUP_VIEWER))
    fill_catalog(100, owner)
    small = dashboard_queries(client)
    fill_catalog(9_900, owner)
    large = dashboard_queries(client)

    assert Backup.objects.count() == 10_000
    assert small == large
    assert max(large) <= QUERY_BUDGET
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/dashboard/live/").status_code == 200
    assert len(queries) <= QUERY_BUDGET


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(BUTTONS))
def test_each_role_gets_exactly_its_buttons(client, role_user, data_dir, role):
    client.force_login(role_user(role))
    response = client.get("/admin/")
    html = response.content.decode()
    assert 'id="dash-health"' in html
    assert buttons_on(html) == BUTTONS[role]
    # The stock list of admin pages stays on the page.
    assert 'id="app-list-section"' in html and "/admin/backups/backup/" in html


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "name"), REFUSED)
def test_a_button_of_another_role_is_refused(client, role_user, data_dir, role, name):
    client.force_login(role_user(role))
    before = AuditEvent.objects.count()
    response = client.post(f"/admin/dashboard/{name}/")
    assert response.status_code == 403
    assert AuditEvent.objects.count() == before
    assert not Backup.objects.exists()


@pytest.mark.django_db
def test_staff_without_a_role_and_end_users_get_no_dashboard(
    client, django_user_model, make_user, data_dir
):
    staff = django_user_model.objects.create_user("helper", is_staff=True)
    client.force_login(staff)
    page = client.get("/admin/")
    assert page.status_code == 200 and b'id="dash-storage"' not in page.content
    assert client.get("/admin/dashboard/live/").status_code == 403
    assert client.post("/admin/dashboard/back-up-now/").status_code == 403
    client.force_login(make_user())
    live = client.get("/admin/dashboard/live/")
    assert live.status_code == 302 and "/admin/login/" in live["Location"]


@pytest.mark.django_db
def test_buttons_need_the_csrf_token(role_user, data_dir):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(role_user(roles.BACKUP_OPERATOR))
    assert client.post("/admin/dashboard/back-up-now/").status_code == 403
    assert not AuditEvent.objects.filter(action="backup.queue").exists()


@pytest.mark.django_db(transaction=True)
def test_back_up_now_runs_a_backup_and_is_audited(client, role_user, world, sync_tasks):
    operator = role_user(roles.BACKUP_OPERATOR)
    client.force_login(operator)
    response = client.post(
        "/admin/dashboard/back-up-now/", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 202
    assert "full backup was queued" in response.json()["message"]
    backup = Backup.objects.get()
    assert (backup.kind, backup.scope, backup.status) == ("full", "system", "completed")
    event = AuditEvent.objects.get(action="backup.queue")
    assert event.actor == operator and event.details["from"] == "dashboard"
    live = client.get("/admin/dashboard/live/").json()
    assert live["running"] is False and backup.id in live["html"]


@pytest.mark.django_db(transaction=True)
def test_verify_checks_every_archive_of_the_newest_chain(
    client, role_user, world, sync_tasks
):
    full = create_full_backup()
    Message.objects.update(is_edited=True)
    incremental = create_incremental_backup()
    client.force_login(role_user(roles.BACKUP_OPERATOR))
    response = client.post("/admin/dashboard/verify/")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert set(Backup.objects.values_list("id", "verify_ok")) == {
        (full, True),
        (incremental, True),
    }
    event = AuditEvent.objects.get(action="backup.verify_queue")
    assert event.target_id == incremental
    assert event.details["backups"] == [full, incremental]


@pytest.mark.django_db(transaction=True)
def test_a_recovery_admin_runs_a_drill_and_maintenance(
    client, role_user, world, sync_tasks
):
    create_full_backup()
    admin = role_user(roles.RECOVERY_ADMIN)
    client.force_login(admin)
    assert client.post("/admin/dashboard/drill/").status_code == 302
    drill = RestoreDrill.objects.get()
    assert drill.status == "passed" and drill.requested_by == admin
    assert client.post("/admin/dashboard/maintenance/").status_code == 302
    assert MaintenanceRun.objects.get().actor_label == admin.get_username()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"restore_drill.queue", "maintenance.queue"} <= actions
    page = client.get("/admin/").content.decode()
    assert 'id="dash-drill"' in page and drill.backup_id in page


@pytest.mark.django_db(transaction=True)
def test_the_history_counts_outcomes_per_day_and_follows_the_newest_chain(world):
    full = create_full_backup()
    Message.objects.update(is_edited=True)
    incremental = create_incremental_backup()
    failed = create_full_backup(user=world.asha)
    Backup.objects.filter(pk=failed).update(status=Backup.Status.FAILED)
    Backup.objects.filter(pk=full).update(created_at=timezone.now() - timedelta(days=2))

    days = daily_outcomes()
    assert len(days) == 30
    assert (days[-1]["completed"], days[-1]["failed"]) == (1, 1)
    assert (days[-3]["completed"], days[-3]["failed"]) == (1, 0)
    assert days[-1]["longest_seconds"] is not None
    chain = newest_chain()
    head = Backup.objects.get(pk=incremental)
    assert [b["id"] for b in chain["backups"]] == [b.id for b in chain_of(head)]
    assert [b["id"] for b in chain["backups"]] == [full, incremental]
    assert chain["verified"] is False and chain["unverified"] == 2


@pytest.mark.django_db
def test_the_schedules_show_next_and_last_runs_of_backups_and_jobs(
    client, role_user, data_dir
):
    from django_q.models import Schedule, Task

    ensure_default_schedules()
    health = Schedule.objects.get(name="talowa: health check")
    finished = timezone.now() - timedelta(minutes=7)
    Task.objects.create(
        id="a" * 32,
        name="health",
        func=health.func,
        started=finished,
        stopped=finished,
        success=False,
    )
    Schedule.objects.filter(pk=health.pk).update(task="a" * 32)
    client.force_login(role_user(roles.BACKUP_VIEWER))

    page = client.get("/admin/").context
    jobs = {job["name"]: job for job in page["dashboard"]["jobs_schedules"]}
    assert jobs["talowa: health check"]["last_result"] == "failed"
    assert jobs["talowa: health check"]["last_run"] == finished
    assert jobs["talowa: restore drill"]["next_run"] is not None
    backups = page["dashboard"]["schedules"]
    assert {s["name"] for s in backups} == {"Daily full backup", "Incremental backups"}


def data_value(html: str, element_id: str) -> str:
    return re.search(rf'id="{element_id}"[^>]*data-value="([^"]*)"', html).group(1)


@pytest.mark.django_db
def test_a_warm_dashboard_reads_its_figures_from_the_cache(
    client, role_user, make_user, data_dir
):
    ensure_default_schedules()
    fill_history()
    fill_catalog(300, make_user("asha"))
    client.force_login(role_user(roles.BACKUP_VIEWER))
    cold, warm = dashboard_queries(client)

    # The session, the user and their role's permissions (two), the
    # fingerprint, the jobs under way (backups, drills, maintenance runs, the
    # queue): nothing that reads the figures.
    assert warm <= 9 < cold


@pytest.mark.django_db
def test_the_warm_dashboard_shows_at_once_what_another_process_finished(
    client, role_user, make_user, data_dir
):
    """A worker's changes reach the page on the next request, not after a delay.

    Each change is made as another process makes it, in the database only
    (``update``, ``create``), never through this process's cache.
    """
    ensure_default_schedules()
    fill_history()
    fill_catalog(30, make_user("asha"))
    client.force_login(role_user(roles.BACKUP_VIEWER))
    page = lambda: client.get("/admin/").content.decode()  # noqa: E731
    before = page()
    assert data_value(page(), "dash-total-bytes") == data_value(
        before, "dash-total-bytes"
    )

    held = int(data_value(before, "dash-total-bytes"))
    running = Backup.objects.create(
        id="backup_test_new",
        kind="full",
        scope=Backup.Scope.SYSTEM,
        status=Backup.Status.RUNNING,
    )
    assert 'data-backup="backup_test_new"' in page()
    Backup.objects.filter(pk=running.pk).update(
        status=Backup.Status.COMPLETED,
        stored_bytes=4096,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    assert int(data_value(page(), "dash-total-bytes")) == held + 4096

    Backup.objects.filter(pk=running.pk).update(status=Backup.Status.EXPIRED)
    assert int(data_value(page(), "dash-total-bytes")) == held

    HealthSnapshot.objects.create(
        check_id=uuid.uuid4(), component=CHECKS[0].name, status="unhealthy"
    )
    assert 'id="dash-health-overall">Unhealthy<' in page()

    RestoreDrill.objects.create(
        engine=connection.vendor,
        status="passed",
        rto_seconds=7.25,
        finished_at=timezone.now(),
    )
    assert data_value(page(), "dash-drill-rto") == "7.25"
