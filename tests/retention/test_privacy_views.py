"""The end users' privacy page, ``/me/privacy/``: retention, preferences, erasure."""

from __future__ import annotations

import re
from datetime import UTC

import pytest
from django.core import signing
from django.test import Client

from backups.services.creating import create_full_backup
from messaging.models import CallRecord, Message
from retention import views
from retention.models import LegalBound, LegalHold, RetentionPolicy
from retention.services import backups_holding_user_data, set_retention_policy
from talowa_admin.models import AuditEvent
from tests.retention.conftest import aged_call, aged_message

pytestmark = pytest.mark.django_db

PAGE = "/me/privacy/"
PREVIEW = "/me/privacy/preferences/preview/"
SAVE = "/me/privacy/preferences/save/"
ERASE_CALLS = "/me/privacy/erase/call-history/"


@pytest.fixture
def bounded(people):
    """``people`` with legal bounds on direct messages: 30 to 400 days."""
    LegalBound.objects.create(
        retention_type="regular_messages", min_days=30, max_days=400
    )
    return people


def text_of(response) -> str:
    """Return a page's text without tags, with runs of white space made one."""
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def row_of(response, rtype: str) -> str:
    """Return the HTML of one retention type's row."""
    html = response.content.decode()
    return re.search(rf'<tr data-type="{rtype}">(.*?)</tr>', html, re.S).group(1)


def preview(client, **periods) -> object:
    return client.post(PREVIEW, {name: str(days) for name, days in periods.items()})


def token_of(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', response.content.decode())[1]


# --- Who may see what -----------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "url"),
    [("get", PAGE), ("post", PREVIEW), ("post", SAVE), ("get", ERASE_CALLS)],
)
def test_logged_out_visitors_are_sent_to_log_in(client, people, method, url):
    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_my_data_links_to_the_privacy_page(client, people):
    client.force_login(people.asha)

    assert f'href="{PAGE}"' in client.get("/me/").content.decode()


def test_the_page_says_each_types_retention_reason_and_legal_bounds(client, bounded):
    w = bounded
    set_retention_policy(
        entity_id=w.asha.pk,
        entity_type="user",
        retention_periods={"group_messages": 20},
    )
    set_retention_policy(
        entity_id=w.ravi.pk, entity_type="user", retention_periods={"call_history": 7}
    )
    client.force_login(w.asha)

    page = client.get(PAGE)

    assert page.status_code == 200
    direct = row_of(page, "regular_messages")
    assert "365 days" in direct
    assert "The system default keeps it 365 days." in direct
    assert (
        "The law requires keeping it at least 30 days and allows at most 400 days."
        in direct
    )
    assert 'min="30"' in direct and 'max="400"' in direct
    assert "30 to 400 days" in direct
    group = row_of(page, "group_messages")
    assert "20 days" in group and "Your preference keeps it 20 days." in group
    assert 'value="20"' in group and "No law sets a limit." in group
    calls = row_of(page, "call_history")  # ravi's 7 days are his, not shown here
    assert 'value="7"' not in calls and "7 days" not in calls
    assert "180 days" in calls


# --- Preferences: every bad input refused with the field and the range ------------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"regular_messages": "abc"},
            "regular_messages (Direct messages): give a whole number of days from "
            "30 to 400.",
        ),
        (
            {"regular_messages": "-5"},
            "regular_messages (Direct messages): give a whole number of days from "
            "30 to 400.",
        ),
        (
            {"group_messages": "1.5"},
            "group_messages (Group messages): give a whole number of days from 1 "
            "to 36500.",
        ),
        (
            {"regular_messages": "10"},
            "regular_messages (Direct messages): 10 days is outside the allowed "
            "range, 30 to 400 days.",
        ),
        (
            {"regular_messages": "401"},
            "regular_messages (Direct messages): 401 days is outside the allowed "
            "range, 30 to 400 days.",
        ),
        (
            {"call_history": "0"},
            "call_history (Call history): 0 days is outside the allowed range, 1 "
            "to 36500 days.",
        ),
        (
            {"media_files": "36501"},
            "media_files (Media files): 36501 days is outside the allowed range, "
            "1 to 36500 days.",
        ),
        (
            {"missed_calls": "9" * 13},
            "missed_calls (Missed calls): give a whole number of days from 1 to 36500.",
        ),
    ],
)
def test_bad_preferences_are_refused_naming_the_field_and_range(
    client, bounded, fields, message
):
    client.force_login(bounded.asha)

    response = client.post(PREVIEW, fields)

    assert response.status_code == 400
    assert message in text_of(response)
    assert 'name="token"' not in response.content.decode()
    assert not RetentionPolicy.objects.filter(user=bounded.asha).exists()


def test_a_preview_says_what_would_be_deleted_and_saves_nothing(client, people):
    w = people
    aged_message(w.direct, w.asha, days=40)
    aged_message(w.group, w.asha, kind="group", days=40)
    aged_message(w.direct, w.asha, days=10)
    aged_message(w.direct, w.ravi, days=40)  # ravi's, not asha's
    aged_call(w.asha, w.ravi, days=50)
    client.force_login(w.asha)

    response = preview(client, regular_messages=30, call_history=45)

    assert response.status_code == 200
    assert (
        "Saving this would delete 1 of your messages, 1 of your calls and 0 of "
        "your media files now." in text_of(response)
    )
    assert re.search(r'class="number deleted">1<', row_of(response, "regular_messages"))
    assert re.search(r'class="number deleted">0<', row_of(response, "group_messages"))
    assert not RetentionPolicy.objects.filter(user=w.asha).exists()
    assert not AuditEvent.objects.filter(action="retention.policy_change").exists()


def test_saving_a_preview_keeps_the_preferences_and_audits(client, people):
    w = people
    client.force_login(w.asha)
    shown = preview(client, regular_messages=30, media_files=45)
    assert "Saving this would delete none of your data now." in text_of(shown)

    response = client.post(SAVE, {"token": token_of(shown)})

    assert response.status_code == 302 and response["Location"] == PAGE
    policy = RetentionPolicy.objects.get(user=w.asha)
    assert policy.retention_periods == {"regular_messages": 30, "media_files": 45}
    event = AuditEvent.objects.get(action="retention.policy_change")
    assert event.actor == w.asha
    page = client.get(PAGE)
    assert "Your retention preferences are saved." in text_of(page)
    assert "Your preference keeps it 30 days." in row_of(page, "regular_messages")


def test_an_empty_field_removes_a_preference(client, people):
    w = people
    set_retention_policy(
        entity_id=w.asha.pk,
        entity_type="user",
        retention_periods={"regular_messages": 30, "media_files": 45},
    )
    client.force_login(w.asha)
    token = token_of(
        client.post(PREVIEW, {"regular_messages": "", "media_files": "45"})
    )

    client.post(SAVE, {"token": token})

    policy = RetentionPolicy.objects.get(user=w.asha)
    assert policy.retention_periods == {"media_files": 45}


def test_saving_needs_this_users_own_fresh_preview(client, people, monkeypatch):
    w = people
    client.force_login(w.ravi)
    ravis = token_of(preview(client, regular_messages=5))
    client.force_login(w.asha)
    forged = signing.dumps(
        {"user": w.asha.pk, "periods": {"regular_messages": 1}}, salt="another salt"
    )
    refusal = "This preview has expired or is not yours"

    for token in (ravis, forged, "", ravis[:-3] + "abc"):
        response = client.post(SAVE, {"token": token})
        assert response.status_code == 400 and refusal in text_of(response)
    mine = token_of(preview(client, regular_messages=5))
    monkeypatch.setattr(views, "PREVIEW_MAX_AGE", -1)
    response = client.post(SAVE, {"token": mine})
    assert response.status_code == 400 and refusal in text_of(response)
    assert not RetentionPolicy.objects.exists()


def test_a_bound_changed_since_the_preview_is_refused_on_save(client, people):
    client.force_login(people.asha)
    token = token_of(preview(client, regular_messages=10))
    LegalBound.objects.create(retention_type="regular_messages", min_days=30)

    response = client.post(SAVE, {"token": token})

    assert response.status_code == 400
    assert "10 days is outside the allowed range, 30 to 36500 days" in text_of(response)
    assert not RetentionPolicy.objects.exists()


@pytest.mark.parametrize("url", [PREVIEW, SAVE])
def test_changes_are_posts_only(client, people, url):
    client.force_login(people.asha)

    assert client.get(url).status_code == 405


def test_every_form_needs_its_csrf_token(people):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people.asha)
    aged_call(people.asha, people.ravi)

    for url, data in (
        (PREVIEW, {"regular_messages": "30"}),
        (SAVE, {"token": "x"}),
        (ERASE_CALLS, {}),
    ):
        assert client.post(url, data).status_code == 403
    assert CallRecord.objects.count() == 1
    page = client.get(PAGE).content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= 2


# --- Erasure ---------------------------------------------------------------------
def test_erasing_call_history_asks_first_then_deletes_only_hers(client, people):
    w = people
    aged_call(w.asha, w.ravi, days=3)
    aged_call(w.meena, w.asha, status="missed")
    theirs = aged_call(w.ravi, w.meena)
    mine = aged_message(w.direct, w.asha)
    client.force_login(w.asha)

    confirm = client.get(ERASE_CALLS)

    assert confirm.status_code == 200
    assert "every call you made or received, missed calls included: 2 item(s)" in (
        text_of(confirm)
    )
    assert "No backup holds your data." in text_of(confirm)
    assert CallRecord.objects.count() == 3  # nothing happens on GET
    done = client.post(ERASE_CALLS, follow=True)

    assert list(CallRecord.objects.values_list("id", flat=True)) == [theirs.pk]
    assert Message.objects.filter(pk=mine.pk).exists()
    assert "Deleted your call history: 2 item(s). No backup holds them." in text_of(
        done
    )
    event = AuditEvent.objects.get(action="retention.erasure")
    assert event.actor == w.asha


def test_erasure_is_refused_under_a_legal_hold(client, people):
    w = people
    aged_call(w.asha, w.ravi)
    LegalHold.objects.create(user=w.asha, reason="court order 12/2026")
    client.force_login(w.asha)

    confirm = client.get(ERASE_CALLS)
    refused = client.post(ERASE_CALLS)

    assert "A legal hold keeps your data" in text_of(confirm)
    assert "Delete my call history now</button>" not in confirm.content.decode()
    assert refused.status_code == 409
    assert "Not deleted: a legal hold keeps your data" in text_of(refused)
    assert "court order" not in text_of(refused)  # the hold's reason is not hers
    assert CallRecord.objects.count() == 1
    assert not AuditEvent.objects.filter(action="retention.erasure").exists()
    assert "A legal hold keeps your data" in text_of(client.get(PAGE))


def test_an_unknown_kind_of_data_is_not_found(client, people):
    client.force_login(people.asha)

    assert client.get("/me/privacy/erase/contacts/").status_code == 404
    assert client.post("/me/privacy/erase/contacts/").status_code == 404


# --- Backups that hold the user's data ---------------------------------------------
@pytest.mark.django_db(transaction=True)  # a backup reads outside transactions
def test_the_page_lists_the_backups_holding_her_data_and_until_when(client, people):
    w = people
    aged_call(w.asha, w.ravi)
    system = create_full_backup(actor="test")
    hers = create_full_backup(user=w.asha, actor="test")
    his = create_full_backup(user=w.ravi, actor="test")
    client.force_login(w.asha)

    page = client.get(PAGE).content.decode()
    confirm = text_of(client.get(ERASE_CALLS))

    listed = re.findall(r'data-backup="([^"]+)"', page)
    assert listed == [hers, system]
    assert his not in page
    holding = backups_holding_user_data(w.asha)
    assert all(b["expires_at"] for b in holding)  # daily backups: predictable
    shown = f"{max(b['expires_at'] for b in holding).astimezone(UTC):%Y-%m-%d %H:%M}"
    assert f"still hold it until {shown} UTC" in confirm
    for backup in holding:
        assert f"{backup['expires_at'].astimezone(UTC):%Y-%m-%d %H:%M} UTC" in page
    done = text_of(client.post(ERASE_CALLS, follow=True))
    assert f"Old backups still hold them until {shown} UTC" in done
