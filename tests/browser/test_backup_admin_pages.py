"""The backup list and a backup's page in Chromium at 1366x768."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backups.models import Backup
from backups.services import create_full_backup, create_incremental_backup
from messaging.models import Message
from talowa_admin.models import AuditEvent
from talowa_admin.roles import BACKUP_VIEWER, RECOVERY_ADMIN

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 1366, 768
KEY_COLUMNS = ["ID", "KIND", "OF", "STATUS", "STORED", "CREATED AT", "TOOK", "VERIFIED"]


def log_in(page: Page, live_server, user) -> None:
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(user.raw_password)
    page.get_by_role("button", name="Log in").click()


def test_the_backup_list_shows_its_key_columns_at_1366_px(
    page: Page, live_server, role_user, world
):
    create_full_backup()
    Message.objects.update(is_edited=True)
    create_incremental_backup()
    failed = Backup.objects.get(pk=create_full_backup(user=world.asha))
    Backup.objects.filter(pk=failed.pk).update(status=Backup.Status.FAILED)
    log_in(page, live_server, role_user(BACKUP_VIEWER))
    page.goto(f"{live_server.url}/admin/backups/backup/")

    headers = page.locator("#result_list thead th")
    # A viewer has no actions, so no checkbox column.
    expect(headers).to_have_text(KEY_COLUMNS, ignore_case=True)
    # The list scrolls sideways inside its box when too wide: every column
    # must end inside that box, and the page must not scroll either.
    results = page.locator("#changelist .results")
    visible = results.bounding_box()
    assert visible is not None
    for index in range(len(KEY_COLUMNS)):
        box = headers.nth(index).bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= visible["x"] + visible["width"], index
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH

    badges = page.locator("#result_list .badge")
    expect(badges).to_have_count(3)
    completed = page.locator("#result_list .badge-completed").first
    failed_badge = page.locator("#result_list .badge-failed")
    expect(failed_badge).to_have_text("Failed")
    colour = failed_badge.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour != completed.evaluate("e => getComputedStyle(e).backgroundColor")
    # Nothing runs, so the page does not reload itself.
    expect(page.locator("#talowa-refresh")).to_have_count(0)


def test_a_backups_page_has_its_buttons_and_downloads_the_manifest(
    page: Page, live_server, role_user, world, tmp_path: Path
):
    backup_id = create_full_backup()
    log_in(page, live_server, role_user(RECOVERY_ADMIN))
    page.goto(f"{live_server.url}/admin/backups/backup/")
    page.get_by_role("link", name=backup_id).click()

    buttons = page.locator("#backup-buttons")
    for name in ("Verify", "Restore…", "Download manifest"):
        expect(buttons.get_by_text(name, exact=True)).to_be_visible()
    expect(page.locator("#manifest-tables")).to_contain_text("messaging.message")

    with page.expect_download() as download_info:
        page.locator("#download-manifest").click()
    saved = tmp_path / "manifest.json"
    download_info.value.save_as(saved)
    assert download_info.value.suggested_filename == f"{backup_id}-manifest.json"
    assert json.loads(saved.read_text())["backup_id"] == backup_id
    assert AuditEvent.objects.filter(action="backup.manifest_download").exists()

    page.locator("#restore-backup").click()
    expect(page.locator("#restore-chain")).to_contain_text(backup_id)


def test_the_list_reloads_while_a_backup_runs_and_stops_after(
    page: Page, live_server, role_user, world
):
    backup = Backup.objects.get(pk=create_full_backup())
    Backup.objects.filter(pk=backup.pk).update(status=Backup.Status.RUNNING)
    log_in(page, live_server, role_user(BACKUP_VIEWER))
    page.goto(f"{live_server.url}/admin/backups/backup/")
    expect(page.locator("#backup-activity .badge-running")).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")
    Backup.objects.filter(pk=backup.pk).update(status=Backup.Status.COMPLETED)

    # The page reloads by itself and shows the finished backup.
    expect(page.locator("#backup-activity .badge-running")).to_have_count(
        0, timeout=15_000
    )
    assert page.evaluate("window.stillTheSamePage") is None
    expect(page.locator("#result_list .badge-completed")).to_have_count(1)
    # Nothing runs any more: no further reload is scheduled.
    expect(page.locator("#talowa-refresh")).to_have_count(0)
