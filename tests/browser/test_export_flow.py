"""An end user exports their data in Chromium, opens it offline, finds a message."""

from __future__ import annotations

import hashlib
import re
import struct
import zipfile
import zlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone
from playwright.sync_api import Page, expect

from messaging.models import Conversation, MediaFile, Message, Participant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KNOWN = "పొలం సర్వే రేపు 10 గంటలకు — bring the 1932 patta 🙏"
OTHERS = "ravi's own words stay with ravi"


def tiny_png() -> bytes:
    """Return a valid 2x2 green PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x00\xa0\x40" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def chat(make_user, data_dir):
    asha, ravi = make_user("asha"), make_user("ravi")
    direct = Conversation.objects.create(kind="direct", created_by=asha)
    for member in (asha, ravi):
        Participant.objects.create(
            conversation=direct, user=member, joined_at=timezone.now()
        )
    photo = Message.objects.create(
        conversation=direct, sender=asha, kind="regular", body=KNOWN
    )
    Message.objects.create(
        conversation=direct, sender=ravi, kind="regular", body=OTHERS
    )
    data = tiny_png()
    digest = hashlib.sha256(data).hexdigest()
    storages["media"].save(f"{digest[:2]}/{digest}", ContentFile(data))
    MediaFile.objects.create(
        owner=asha,
        message=photo,
        name="field.png",
        content_type="image/png",
        size=len(data),
        sha256=digest,
        file=f"{digest[:2]}/{digest}",
    )
    return asha, ravi, direct


def log_in(page: Page, base: str, user) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(user.raw_password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/me/")


def test_export_download_open_offline_and_find_a_message(
    page: Page, live_server, chat, sync_tasks, tmp_path
):
    asha, ravi, direct = chat
    base = live_server.url
    log_in(page, base, asha)

    page.get_by_role("link", name="Download your data").click()
    expect(page).to_have_url(f"{base}/me/data/")
    expect(page.locator('td[data-type="messages"]')).to_have_text("1")
    page.get_by_label(re.compile("^HTML")).check()
    page.get_by_role("button", name="Ask for an export").click()

    expect(page).to_have_url(re.compile(r"/me/data/exports/\d+/$"))
    expect(page.locator("[data-status]")).to_have_attribute(
        "data-status", "completed", timeout=30_000
    )
    link = page.get_by_role("link", name="Download your data")
    href = link.get_attribute("href")
    with page.expect_download() as caught:
        link.click()
    archive_path = tmp_path / caught.value.suggested_filename
    caught.value.save_as(archive_path)
    assert archive_path.name.startswith("talowa-export-asha-")

    folder = tmp_path / "opened"
    with zipfile.ZipFile(archive_path) as archive:
        assert archive.testzip() is None
        archive.extractall(folder)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((folder / "index.html").as_uri())
    expect(page.locator('td[data-type="messages"]')).to_have_text("1")
    page.get_by_role("link", name="Messages you sent").click()
    page.get_by_role("link", name=f"Direct conversation {direct.pk}").click()
    message = page.locator("article.message").filter(has_text=KNOWN)
    expect(message).to_have_count(1)
    expect(message.locator(".sender")).to_have_text("asha")
    image = message.locator("img")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 2
    expect(page.get_by_text(OTHERS)).to_have_count(0)
    assert requests and all(url.startswith("file://") for url in requests)

    # Someone else holding the link gets nothing.
    page.goto(f"{base}/me/")
    page.get_by_role("button", name="Log out").click()
    log_in(page, base, ravi)
    response = page.goto(f"{base}{href}")
    assert response is not None and response.status == 404
