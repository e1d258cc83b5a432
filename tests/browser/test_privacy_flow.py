"""An end user in Chromium changes a retention preference and erases call history."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from messaging.models import CallRecord, Message
from retention.models import RetentionPolicy
from talowa_admin.models import AuditEvent
from tests.browser.test_export_flow import log_in
from tests.retention.conftest import aged_call, aged_message, people  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_change_a_preference_with_its_preview_then_erase_call_history(
    page: Page,
    live_server,
    people,  # noqa: F811
):
    w = people
    aged_message(w.direct, w.asha, days=40, body="forty days old")
    aged_message(w.direct, w.asha, days=5, body="five days old")
    aged_message(w.direct, w.ravi, days=40, body="ravi's own")
    aged_call(w.asha, w.ravi, days=2)
    aged_call(w.meena, w.asha, status="missed")
    theirs = aged_call(w.ravi, w.meena)
    base = live_server.url
    log_in(page, base, w.asha)

    page.get_by_role("link", name="Privacy and retention").click()
    expect(page).to_have_url(f"{base}/me/privacy/")
    direct = page.locator('tr[data-type="regular_messages"]')
    expect(direct.locator(".days")).to_have_text("365 days")
    expect(direct.locator(".reason")).to_have_text(
        "The system default keeps it 365 days."
    )

    # A bad number is refused with the field and the range; nothing is saved.
    page.get_by_label("Direct messages").fill("0")
    page.get_by_role("button", name="Preview the change").click()
    expect(page.get_by_role("alert").first).to_contain_text(
        "0 days is outside the allowed range, 1 to 36500 days"
    )

    page.get_by_label("Direct messages").fill("30")
    page.get_by_role("button", name="Preview the change").click()
    expect(page.locator(".summary")).to_have_text(
        "Saving this would delete 1 of your messages, 0 of your calls and 0 of "
        "your media files now."
    )
    expect(page.locator('tr[data-type="regular_messages"] .deleted')).to_have_text("1")
    assert not RetentionPolicy.objects.exists()
    page.get_by_role("button", name="Save my preferences").click()

    expect(page).to_have_url(f"{base}/me/privacy/")
    expect(page.locator(".messages")).to_contain_text(
        "Your retention preferences are saved."
    )
    expect(direct.locator(".reason")).to_have_text("Your preference keeps it 30 days.")
    expect(page.get_by_label("Direct messages")).to_have_value("30")
    assert RetentionPolicy.objects.get(user=w.asha).retention_periods == {
        "regular_messages": 30
    }

    page.get_by_role("link", name="Delete my call history now").click()
    expect(page).to_have_url(f"{base}/me/privacy/erase/call-history/")
    expect(page.locator("[data-erase]")).to_contain_text("2 item(s)")
    expect(page.locator("[data-erase]")).to_contain_text("No backup holds your data.")
    assert CallRecord.objects.count() == 3
    page.get_by_role("button", name="Delete my call history now").click()

    expect(page).to_have_url(f"{base}/me/privacy/")
    expect(page.locator(".messages")).to_contain_text(
        re.compile(r"Deleted your call history: 2 item\(s\)\. No backup holds them\.")
    )
    assert list(CallRecord.objects.values_list("id", flat=True)) == [theirs.pk]
    assert Message.objects.count() == 3  # only calls were erased
    assert AuditEvent.objects.filter(action="retention.erasure", actor=w.asha).exists()
