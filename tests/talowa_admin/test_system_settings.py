from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from talowa_admin.models import DEFAULT_RETENTION_PERIODS, AuditEvent, SystemSettings
from talowa_admin.services import configure_system_settings

pytestmark = pytest.mark.django_db


def test_defaults_are_the_briefs():
    current = SystemSettings.load()
    assert current.default_backup_interval == timedelta(days=1)
    assert current.default_retention_periods == DEFAULT_RETENTION_PERIODS
    assert current.enable_automatic_cleanup is True
    assert current.max_backups_per_user == 10
    assert current.max_storage_per_user == 100 * 1024 * 1024


def test_briefs_production_values_are_accepted_and_audited(django_user_model):
    admin = django_user_model.objects.create_user("root", password="x" * 12)
    configure_system_settings(
        default_backup_interval=timedelta(hours=6),
        enable_automatic_cleanup=True,
        max_backups_per_user=20,
        max_storage_per_user=500 * 1024 * 1024,
        default_retention_periods={"call_history": 200},
        actor=admin,
    )
    current = SystemSettings.load()
    assert current.default_backup_interval == timedelta(hours=6)
    assert current.max_backups_per_user == 20
    assert current.default_retention_periods["call_history"] == 200
    # Unnamed types keep their values.
    assert current.default_retention_periods["regular_messages"] == 365
    assert current.updated_by == admin
    event = AuditEvent.objects.get(action="settings.change")
    assert event.actor_label == "root"
    assert set(event.details["changed"]) == {
        "default_backup_interval",
        "default_retention_periods",
        "max_backups_per_user",
        "max_storage_per_user",
    }


def test_unchanged_settings_write_no_audit_entry():
    configure_system_settings(max_backups_per_user=10)
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        (
            {"default_backup_interval": timedelta(minutes=1)},
            "default_backup_interval",
            "15 minutes to 31 days",
        ),
        (
            {"default_backup_interval": timedelta(days=90)},
            "default_backup_interval",
            "15 minutes to 31 days",
        ),
        ({"max_backups_per_user": 0}, "max_backups_per_user", "greater than or equal"),
        ({"max_backups_per_user": 5000}, "max_backups_per_user", "less than or equal"),
        ({"max_storage_per_user": 10}, "max_storage_per_user", "greater than or equal"),
        (
            {"default_retention_periods": {"sms": 30}},
            "default_retention_periods",
            "Unknown retention type(s): sms",
        ),
        (
            {"default_retention_periods": {"call_history": 0}},
            "default_retention_periods",
            "from 1 to 36500 days",
        ),
        (
            {"default_retention_periods": {"call_history": "a year"}},
            "default_retention_periods",
            "whole number of days",
        ),
        (
            {"default_retention_periods": ["call_history"]},
            "default_retention_periods",
            "mapping",
        ),
    ],
)
def test_invalid_values_are_refused_and_nothing_changes(arguments, field, message):
    with pytest.raises(ValidationError) as caught:
        configure_system_settings(**arguments)
    assert field in caught.value.message_dict
    assert message in " ".join(caught.value.message_dict[field])
    assert SystemSettings.load().default_retention_periods == DEFAULT_RETENTION_PERIODS
    assert SystemSettings.load().max_backups_per_user == 10


def test_only_one_row_can_exist():
    from django.db import IntegrityError, transaction

    SystemSettings.load()
    with pytest.raises(IntegrityError), transaction.atomic():
        SystemSettings.objects.create(id=2)


def test_the_briefs_messages_key_sets_every_message_type():
    configure_system_settings(
        default_retention_periods={
            "messages": 200,
            "system_messages": 20,
            "call_history": 100,
        }
    )
    periods = SystemSettings.load().default_retention_periods
    assert periods == {
        **DEFAULT_RETENTION_PERIODS,
        "regular_messages": 200,
        "group_messages": 200,
        "anonymous_messages": 200,
        "voice_messages": 200,
        "system_messages": 20,
        "call_history": 100,
    }
