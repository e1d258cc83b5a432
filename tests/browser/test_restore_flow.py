"""A Recovery admin restores a backup in Chromium: options, dry run, run, rollback."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from backups.services import create_full_backup
from messaging.models import CallRecord, Message
from recovery.models import RecoveryRun
from talowa_admin.roles import RECOVERY_ADMIN
from tests.backups.conftest import SECRET_BODY, TELUGU

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in_and_open_the_restore_page(page: Page, live_server, admin, backup_id):
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(admin.raw_password)
    page.get_by_role("button", name="Log in").click()

    page.goto(f"{live_server.url}/admin/backups/backup/")
    page.locator(f'input.action-select[value="{backup_id}"]').check()
    page.locator('select[name="action"]').select_option("restore_selected")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("#restore-chain")).to_contain_text(backup_id)


def test_recovery_admin_restores_sees_the_run_complete_and_rolls_back(
    page: Page,
    live_server,
    role_user,
    world,
    sync_tasks,
):
    backup_id = create_full_backup()
    Message.objects.filter(body=TELUGU).update(body="changed after the backup")
    log_in_and_open_the_restore_page(
        page, live_server, role_user(RECOVERY_ADMIN), backup_id
    )

    expect(page.locator("#confirm-restore")).to_have_count(0)
    page.get_by_role("button", name="Run the dry run").click()
    expect(page.locator("#dry-run-scope")).to_contain_text("the whole system")
    expect(page.locator("#dry-run-report")).to_contain_text("messaging.message")
    page.locator("#confirm-restore").click()

    expect(page.locator("#run-status")).to_have_attribute("data-status", "completed")
    expect(page.locator("#run-steps .step-status")).to_have_text(["completed"] * 6)
    expect(page.locator("#run-steps tr[data-action=retention] td").first).to_have_text(
        "Archive restored rows already past their retention"
    )
    assert Message.objects.filter(body=TELUGU).exists()

    page.locator("#roll-back").click()
    page.locator("#confirm-rollback").click()
    expect(page.locator("#run-status")).to_have_attribute("data-status", "rolled_back")
    assert RecoveryRun.objects.get().status == "rolled_back"
    assert Message.objects.filter(body="changed after the backup").exists()


def test_recovery_admin_restores_one_users_messages(
    page: Page,
    live_server,
    role_user,
    world,
    sync_tasks,
):
    backup_id = create_full_backup()
    Message.objects.filter(body__in=[TELUGU, SECRET_BODY]).update(body="changed")
    CallRecord.objects.filter(status="completed").update(duration_seconds=1)
    log_in_and_open_the_restore_page(
        page, live_server, role_user(RECOVERY_ADMIN), backup_id
    )

    # The user field searches the accounts as the admin types.
    page.locator("#dry-run-options .select2-selection").click()
    page.locator(".select2-search__field").fill("ash")
    page.locator(".select2-results__option", has_text="asha").click()
    for name in ("call_history", "media_files"):
        page.get_by_label(name).uncheck()
    page.get_by_role("button", name="Run the dry run").click()

    scope = page.locator("#dry-run-scope")
    expect(scope).to_contain_text("asha's data only")
    expect(scope).to_contain_text("messages, conversations")
    expect(page.locator("#dry-run-report")).to_contain_text("messaging.message")
    expect(page.locator("#dry-run-report")).not_to_contain_text("callrecord")
    page.locator("#confirm-restore").click()

    expect(page.locator("#run-status")).to_have_attribute("data-status", "completed")
    run = RecoveryRun.objects.get()
    assert run.options["user"] == "asha"
    assert run.options["data_types"] == ["messages", "conversations"]
    assert Message.objects.filter(body=TELUGU).exists()  # asha's, restored
    assert not Message.objects.filter(body=SECRET_BODY).exists()  # ravi's
    assert CallRecord.objects.filter(duration_seconds=1).exists()  # not a chosen type
