"""The dashboard on the admin index in Chromium at 1366x768, as each role."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db.models import Sum
from playwright.sync_api import Page, expect

from backups.models import Backup
from backups.services import create_full_backup
from talowa_admin.roles import BACKUP_OPERATOR, BACKUP_VIEWER, RECOVERY_ADMIN

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 1366, 768
BUTTONS = {
    BACKUP_VIEWER: [],
    BACKUP_OPERATOR: ["Back up now", "Verify the newest chain"],
    RECOVERY_ADMIN: [
        "Back up now",
        "Verify the newest chain",
        "Run maintenance",
        "Run a restore drill",
    ],
}


def log_in(page: Page, live_server, user) -> None:
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(user.raw_password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/admin/")


def expect_figure(page: Page, element_id: str, value: int) -> None:
    """Expect the exact figure behind a shown number (sizes show rounded)."""
    expect(page.locator(f"#{element_id}")).to_have_attribute("data-value", str(value))


def held() -> tuple[int, int]:
    completed = Backup.objects.filter(status=Backup.Status.COMPLETED)
    return completed.count(), completed.aggregate(s=Sum("stored_bytes"))["s"] or 0


@pytest.mark.parametrize("role", list(BUTTONS))
def test_each_role_sees_the_dashboard_with_exactly_its_buttons(
    page: Page, live_server, role_user, world, role, tmp_path: Path
):
    create_full_backup()
    log_in(page, live_server, role_user(role))

    expect(page.locator("#dash-storage")).to_be_visible()
    expect(page.locator("#dash-history")).to_be_visible()
    expect(page.locator("#dash-schedules")).to_be_visible()
    expect(page.locator("#dash-health")).to_be_visible()
    expect(page.locator("#dash-drill-title")).to_be_visible()
    expect(page.locator("#dashboard-actions button")).to_have_text(BUTTONS[role])
    # The charts are drawn on the server and their figures are in tables.
    expect(page.locator("#dash-trend svg polyline")).to_have_count(1)
    expect(page.locator("#dash-outcomes svg rect.bar-completed")).to_have_count(1)
    expect(page.locator("#dash-trend details table tbody tr")).to_have_count(90)
    # The stock list of admin pages is still there.
    page.get_by_role("link", name="All admin pages").click()
    expect(page.locator("#app-list-section #backups-backup a").first).to_be_visible()
    # Readable at 1366 px: nothing scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    page.screenshot(path=tmp_path / "dashboard.png", full_page=True)


def test_an_operator_backs_up_now_and_sees_it_complete_without_reloading(
    page: Page, live_server, role_user, world, sync_tasks
):
    create_full_backup()
    log_in(page, live_server, role_user(BACKUP_OPERATOR))
    expect_figure(page, "dash-total-objects", held()[0])
    page.evaluate("window.stillTheSamePage = true")

    page.get_by_role("button", name="Back up now").click()

    expect(page.locator("#dashboard-message")).to_contain_text("full backup was queued")
    newest = Backup.objects.order_by("-created_at").first()
    row = page.locator(f'#dash-recent tr[data-backup="{newest.id}"]')
    expect(row.locator(".badge")).to_have_text("Completed", timeout=15_000)
    assert newest.status == Backup.Status.COMPLETED
    assert page.evaluate("window.stillTheSamePage") is True
    # The figures shown are the database's.
    count, size = held()
    expect_figure(page, "dash-total-objects", count)
    expect_figure(page, "dash-total-bytes", size)
    expect_figure(page, "dash-completed", count)
    expect_figure(page, "dash-failed", 0)
    expect(page.locator("#dash-recent tbody tr")).to_have_count(count)
    expect(page.locator("#dash-idle")).to_be_visible()


def test_the_live_parts_refresh_while_a_backup_runs_and_stop_after(
    page: Page, live_server, role_user, world
):
    backup = Backup.objects.get(pk=create_full_backup())
    Backup.objects.filter(pk=backup.pk).update(status=Backup.Status.RUNNING)
    log_in(page, live_server, role_user(BACKUP_VIEWER))
    expect(page.locator("#dash-jobs .badge-running")).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")

    Backup.objects.filter(pk=backup.pk).update(status=Backup.Status.COMPLETED)

    expect(page.locator("#dash-idle")).to_be_visible(timeout=15_000)
    assert page.evaluate("window.stillTheSamePage") is True
    expect(page.locator("#dashboard-live")).to_have_attribute("data-running", "false")
    row = page.locator(f'#dash-recent tr[data-backup="{backup.id}"]')
    expect(row.locator(".badge")).to_have_text("Completed")


def test_a_recovery_admin_runs_maintenance_and_a_drill_and_reads_their_reports(
    page: Page, live_server, role_user, world, sync_tasks
):
    create_full_backup()
    log_in(page, live_server, role_user(RECOVERY_ADMIN))

    page.get_by_role("button", name="Run maintenance").click()
    expect(page.locator("#dashboard-message")).to_contain_text("Maintenance runs")
    page.get_by_role("button", name="Run a restore drill").click()
    expect(page.locator("#dashboard-message")).to_contain_text("drill")

    # Maintenance runs, from the list of admin pages, then the newest run.
    page.get_by_role("link", name="All admin pages").click()
    page.get_by_role("link", name="Maintenance runs").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list .field-steps_summary")).to_have_text(
        "4 completed"
    )
    page.locator("#result_list tbody tr th a").first.click()
    for step in ("Cleanup expired backups", "Optimize storage"):
        expect(page.get_by_role("rowheader", name=step, exact=True)).to_be_visible()
    expect(page.locator("body")).not_to_contain_text('{"')

    # The drill's report: its chain and every table compared, equal.
    page.goto(f"{live_server.url}/admin/recovery/restoredrill/")
    page.locator("#result_list tbody tr th a").first.click()
    expect(page.locator(".field-status .readonly")).to_have_text("Passed")
    tables = page.locator("#drill-tables tbody tr")
    expect(tables.first).to_be_visible()
    expect(tables.locator(".badge")).to_have_text(["Equal"] * tables.count())
    page.locator(".field-chain_of_backups a").first.click()
    # The backup's own page (its id quoted in the address, as the admin does).
    expect(page.locator(".field-id .readonly").first).to_have_text(
        Backup.objects.get().pk
    )
