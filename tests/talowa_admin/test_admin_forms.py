"""The admin's forms take numbers and units, not bytes or JSON, and say why not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from talowa_admin.models import DEFAULT_RETENTION_PERIODS, AuditEvent, SystemSettings
from talowa_admin.roles import BACKUP_VIEWER, RECOVERY_ADMIN

pytestmark = pytest.mark.django_db

SETTINGS_PAGE = "admin:talowa_admin_systemsettings_change"


def settings_form(**changes: str) -> dict[str, str]:
    form = {
        "default_backup_interval": "1 00:00:00",
        "enable_automatic_cleanup": "on",
        "max_backups_per_user": "10",
        "max_storage_per_user_0": "100",
        "max_storage_per_user_1": "MiB",
        **{
            f"retention_{kind}": str(days)
            for kind, days in DEFAULT_RETENTION_PERIODS.items()
        },
    }
    return form | changes


@pytest.fixture
def recovery_admin(client, role_user):
    client.force_login(role_user(RECOVERY_ADMIN))
    SystemSettings.load()
    return client


def test_settings_page_shows_units_and_one_field_per_retention_type(recovery_admin):
    content = recovery_admin.get(reverse(SETTINGS_PAGE, args=[1])).content.decode()
    assert 'name="max_storage_per_user_0" value="100"' in content
    assert '<option value="MiB" selected>' in content
    for kind, days in DEFAULT_RETENTION_PERIODS.items():
        assert f'name="retention_{kind}" value="{days}"' in content
    assert "default_retention_periods" not in content
    assert "104857600" not in content  # no bytes to read or type


def test_quota_in_gib_is_stored_in_bytes_and_audited(recovery_admin):
    url = reverse(SETTINGS_PAGE, args=[1])
    form = settings_form(max_storage_per_user_0="2", max_storage_per_user_1="GiB")
    response = recovery_admin.post(url, form)
    assert response.status_code == 302
    assert SystemSettings.load().max_storage_per_user == 2 * 1024**3
    event = AuditEvent.objects.get(action="settings.change")
    assert set(event.details["changed"]) == {"max_storage_per_user"}
    page = recovery_admin.get(url).content.decode()
    assert 'name="max_storage_per_user_0" value="2"' in page
    assert '<option value="GiB" selected>' in page


def test_retention_days_are_merged_into_the_mapping(recovery_admin):
    url = reverse(SETTINGS_PAGE, args=[1])
    response = recovery_admin.post(url, settings_form(retention_missed_calls="14"))
    assert response.status_code == 302
    periods = SystemSettings.load().default_retention_periods
    assert periods == {**DEFAULT_RETENTION_PERIODS, "missed_calls": 14}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_storage_per_user_0": "0"}, "The quota must be more than zero."),
        ({"max_storage_per_user_0": "-5"}, "The quota must be more than zero."),
        (
            {"max_storage_per_user_0": "-1", "max_storage_per_user_1": "GiB"},
            "The quota must be more than zero.",
        ),
        (
            {"default_backup_interval": "00:00:00"},
            "The backup interval must be from 15 minutes to 31 days.",
        ),
        ({"max_storage_per_user_0": "lots"}, "Enter the size as a number."),
        (
            {"max_storage_per_user_0": "2000", "max_storage_per_user_1": "GiB"},
            "The quota must be from 1 MiB to 1024 GiB.",
        ),
        (
            {"retention_group_messages": "30.5"},
            "Enter a whole number of days for group messages.",
        ),
        ({"retention_group_messages": "ten"}, "Enter a whole number of days"),
        ({"retention_voice_messages": "0"}, "Keep voice messages at least 1 day."),
        ({"retention_voice_messages": ""}, "Give the days to keep voice messages."),
    ],
)
def test_settings_form_refuses_bad_input_with_its_message(
    recovery_admin, changes, message
):
    url = reverse(SETTINGS_PAGE, args=[1])
    response = recovery_admin.post(url, settings_form(**changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    current = SystemSettings.load()
    assert current.default_backup_interval == timedelta(days=1)
    assert current.max_storage_per_user == 100 * 1024 * 1024
    assert current.default_retention_periods == DEFAULT_RETENTION_PERIODS
    assert not AuditEvent.objects.filter(action="settings.change").exists()


def test_an_unknown_retention_type_never_reaches_the_settings(recovery_admin):
    """The form has one field per known type: a posted unknown one is dropped."""
    url = reverse(SETTINGS_PAGE, args=[1])
    form = settings_form(retention_sms="30", retention_missed_calls="14")
    assert recovery_admin.post(url, form).status_code == 302
    periods = SystemSettings.load().default_retention_periods
    assert periods == {**DEFAULT_RETENTION_PERIODS, "missed_calls": 14}


def test_viewer_reads_the_settings_in_units(client, role_user):
    client.force_login(role_user(BACKUP_VIEWER))
    SystemSettings.load()
    content = client.get(reverse(SETTINGS_PAGE, args=[1])).content.decode()
    assert "100 MiB" in content
    assert 'id="retention-periods"' in content
    assert "<td>Regular messages</td><td>365</td>" in content
    assert 'name="max_storage_per_user_0"' not in content
    assert 'name="_save"' not in content
