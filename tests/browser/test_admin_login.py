"""Logging in through a real browser: staff to the admin, end users to /me/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from messaging.models import Conversation, Message, Participant
from talowa_admin.roles import BACKUP_VIEWER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page: Page, url: str, user) -> None:
    page.goto(url)
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(user.raw_password)
    page.get_by_role("button", name="Log in").click()


def test_backup_viewer_sees_backups_and_cannot_add_anything(
    page: Page, live_server, role_user, output_path
):
    viewer = role_user(BACKUP_VIEWER)

    log_in(page, f"{live_server.url}/admin/login/", viewer)

    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page).to_have_title(re.compile("TALOWA Admin"))
    expect(page.locator("#site-name")).to_have_text("TALOWA Admin")
    backups_section = page.get_by_role("link", name="Backups", exact=True).and_(
        page.locator('a[href$="/admin/backups/"]')
    )
    expect(backups_section).to_be_visible()
    expect(page.locator("a.addlink")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile(r"^Add\b"))).to_have_count(0)
    expect(page.get_by_text("Messaging data")).to_have_count(0)

    # What a screenshot of the page would show a reviewer, checked: the admin's
    # stylesheet is served and applied (the header has its own colour, not the
    # browser's transparent default nor the page's), the site name sits in the
    # header, and nothing overflows the window sideways.
    header = page.locator("#header")
    header_colour = header.evaluate("e => getComputedStyle(e).backgroundColor")
    page_colour = page.locator("body").evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert header_colour not in {"rgba(0, 0, 0, 0)", "transparent", page_colour}
    assert header.locator("#site-name").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # The screenshot itself, for a human: test-results/<this test>/.
    page.screenshot(
        path=Path(output_path) / "admin-index-backup-viewer.png", full_page=True
    )


def test_end_user_sees_own_data_and_is_kept_out_of_the_admin(
    page: Page, live_server, make_user
):
    user = make_user("asha")
    other = make_user("ravi")
    chat = Conversation.objects.create(kind=Conversation.Kind.DIRECT, created_by=user)
    for member in (user, other):
        Participant.objects.create(
            conversation=chat, user=member, joined_at=timezone.now()
        )
    for sender, body in ((user, "hello"), (other, "hi"), (user, "how are you?")):
        Message.objects.create(
            conversation=chat, sender=sender, kind=Message.Kind.REGULAR, body=body
        )

    log_in(page, f"{live_server.url}/accounts/login/", user)

    expect(page).to_have_url(f"{live_server.url}/me/")
    expect(page.get_by_role("heading", name="My data")).to_be_visible()
    expect(page.locator('td[data-type="messages"]')).to_have_text("2")
    expect(page.locator('td[data-type="conversations"]')).to_have_text("1")
    expect(page.locator('td[data-type="call_history"]')).to_have_text("0")
    expect(page.locator('td[data-type="media_files"]')).to_have_text("0")

    page.goto(f"{live_server.url}/admin/")

    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    expect(
        page.get_by_text(re.compile("not authorized to access this page"))
    ).to_be_visible()
    expect(page.get_by_role("link", name="Backups", exact=True)).to_have_count(0)
