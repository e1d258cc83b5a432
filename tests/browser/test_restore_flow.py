"""A Recovery admin restores a backup in Chromium, follows the run, rolls back."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from backups.services import create_full_backup
from messaging.models import Message
from recovery.models import RecoveryRun
from talowa_admin.roles import RECOVERY_ADMIN
from tests.backups.conftest import TELUGU

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_recovery_admin_restores_sees_the_run_complete_and_rolls_back(
    page: Page,
    live_server,
    role_user,
    world,
    sync_tasks,
):
    backup_id = create_full_backup()
    Message.objects.filter(body=TELUGU).update(body="changed after the backup")
    admin = role_user(RECOVERY_ADMIN)

    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(admin.raw_password)
    page.get_by_role("button", name="Log in").click()

    page.goto(f"{live_server.url}/admin/backups/backup/")
    page.locator(f'input.action-select[value="{backup_id}"]').check()
    page.locator('select[name="action"]').select_option("restore_selected")
    page.get_by_role("button", name="Go").click()

    expect(page.locator("#restore-chain")).to_contain_text(backup_id)
    expect(page.locator("#dry-run-report")).to_contain_text("messaging.message")
    page.locator("#confirm-restore").click()

    expect(page.locator("#run-status")).to_have_attribute("data-status", "completed")
    expect(page.locator("#run-steps .step-status")).to_have_text(["completed"] * 5)
    assert Message.objects.filter(body=TELUGU).exists()

    page.locator("#roll-back").click()
    page.locator("#confirm-rollback").click()
    expect(page.locator("#run-status")).to_have_attribute("data-status", "rolled_back")
    assert RecoveryRun.objects.get().status == "rolled_back"
    assert Message.objects.filter(body="changed after the backup").exists()
