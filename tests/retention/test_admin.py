"""Retention in the admin: Recovery admins edit policies (after a preview),
bounds and holds; runs are read-only; an archive batch can be restored."""

from __future__ import annotations

import pytest
from django.urls import reverse

from messaging.models import Message
from retention.models import ArchiveBatch, LegalBound, LegalHold, RetentionPolicy
from retention.services import cleanup_expired_messages
from retention.types import RETENTION_TYPES
from talowa_admin.models import AuditEvent
from talowa_admin.roles import BACKUP_VIEWER, RECOVERY_ADMIN
from tests.retention.conftest import aged_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def recovery(client, role_user):
    client.force_login(role_user(RECOVERY_ADMIN))
    return client


def _policy_form(user, **days):
    form = {"entity_type": "user", "user": str(user.pk), "auto_cleanup": "on"}
    for rtype in RETENTION_TYPES:
        form[f"days_{rtype}"] = str(days.get(rtype, ""))
    return form


def test_a_recovery_admin_sees_the_preview_then_saves_a_policy(recovery, people):
    for days in (20, 30, 200):
        aged_message(people.direct, people.asha, days=days)
    url = reverse("admin:retention_retentionpolicy_add")
    page = recovery.get(url)
    assert page.status_code == 200
    assert b'name="days_regular_messages"' in page.content
    assert b"default_retention_periods" not in page.content  # no raw JSON
    form = _policy_form(people.asha, regular_messages=25)
    preview = recovery.post(url, form)
    assert preview.status_code == 200
    assert b"this change would delete 2 row(s) now" in preview.content
    assert not RetentionPolicy.objects.exists()
    saved = recovery.post(url, {**form, "confirm_preview": "on"})
    assert saved.status_code == 302, saved.content[:3000]
    policy = RetentionPolicy.objects.get(user=people.asha)
    assert policy.retention_periods == {"regular_messages": 25}
    assert AuditEvent.objects.filter(action="retention.policy_change").exists()
    assert Message.objects.count() == 3  # the cleanup deletes, not the save


def test_the_admin_form_refuses_a_period_outside_the_legal_bounds(recovery, people):
    LegalBound.objects.create(retention_type="call_history", min_days=90)
    url = reverse("admin:retention_retentionpolicy_add")
    form = _policy_form(people.asha, call_history=30)
    response = recovery.post(url, {**form, "confirm_preview": "on"})
    assert response.status_code == 200
    assert b"30 days is outside the allowed range, 90 to 36500 days" in response.content
    assert not RetentionPolicy.objects.exists()
    response = recovery.post(url, {**_policy_form(people.asha, call_history="x")})
    assert b"Enter a whole number" in response.content


def test_a_recovery_admin_places_a_legal_hold_on_a_conversation(recovery, people):
    url = reverse("admin:retention_legalhold_add")
    response = recovery.post(
        url, {"conversation": str(people.group.pk), "reason": "inquiry 7"}
    )
    assert response.status_code == 302, response.content[:3000]
    hold = LegalHold.objects.get()
    assert hold.conversation == people.group and hold.created_by is not None
    assert AuditEvent.objects.filter(action="retention.hold_place").exists()
    both = recovery.post(
        url,
        {
            "conversation": str(people.group.pk),
            "user": str(people.asha.pk),
            "reason": "x",
        },
    )
    assert b"either one user or one conversation" in both.content


def test_a_recovery_admin_sets_legal_bounds_and_a_bad_one_is_refused(recovery):
    url = reverse("admin:retention_legalbound_add")
    bad = recovery.post(
        url, {"retention_type": "missed_calls", "min_days": "60", "max_days": "30"}
    )
    assert b"is below the minimum" in bad.content
    good = recovery.post(
        url, {"retention_type": "missed_calls", "min_days": "30", "max_days": "60"}
    )
    assert good.status_code == 302
    assert LegalBound.objects.get().max_days == 60


def test_runs_are_read_only_and_a_batch_is_restored(recovery, people, sync_tasks):
    aged_message(people.group, None, kind="system", days=45)
    result = cleanup_expired_messages()
    runs = recovery.get(reverse("admin:retention_cleanuprun_changelist"))
    assert runs.status_code == 200 and b"System messages: 1" in runs.content
    change = reverse("admin:retention_cleanuprun_change", args=[result["run"]])
    assert recovery.post(change, {"status": "failed"}).status_code == 403
    url = reverse("admin:retention_archivebatch_changelist")
    form = {"action": "restore_selected", "_selected_action": [str(result["batch"])]}
    confirm = recovery.post(url, form)
    assert b"Yes, restore batch" in confirm.content
    assert Message.objects.count() == 0
    recovery.post(url, {**form, "confirmed": "yes"})
    assert Message.objects.count() == 1
    assert ArchiveBatch.objects.get(pk=result["batch"]).state == "restored"
    queued = AuditEvent.objects.get(action="retention.restore_batch_queue")
    assert queued.target_id == str(result["batch"]) and queued.details["task"]


def test_the_policy_page_shows_how_long_backups_keep_deleted_data(recovery, people):
    page = recovery.get(reverse("admin:retention_retentionpolicy_changelist"))
    assert page.status_code == 200
    assert b"How long deleted data still lives in backups" in page.content


def test_a_viewer_cannot_edit_policies_or_holds(client, role_user, people):
    client.force_login(role_user(BACKUP_VIEWER))
    assert client.get(reverse("admin:retention_retentionpolicy_add")).status_code == 403
    assert client.get(reverse("admin:retention_legalhold_add")).status_code == 403


def test_a_viewer_reads_a_policy_without_a_form(client, role_user, people):
    from retention.services import set_retention_policy

    policy = set_retention_policy(
        entity_id=people.asha.pk,
        entity_type="user",
        retention_periods={"media_files": 12},
    )
    client.force_login(role_user(BACKUP_VIEWER))
    url = reverse("admin:retention_retentionpolicy_change", args=[policy.pk])
    page = client.get(url)
    assert page.status_code == 200 and b"media_files" in page.content


def test_system_settings_refuse_a_global_default_outside_the_bounds(recovery):
    from talowa_admin.models import DEFAULT_RETENTION_PERIODS, SystemSettings

    LegalBound.objects.create(retention_type="missed_calls", max_days=20)
    current = SystemSettings.load()
    periods = {**DEFAULT_RETENTION_PERIODS, **current.default_retention_periods}
    form = {
        "default_backup_interval": "1 00:00:00",
        "enable_automatic_cleanup": "on",
        "max_backups_per_user": "10",
        "max_storage_per_user_0": "500",
        "max_storage_per_user_1": "MiB",
        **{f"retention_{rtype}": str(days) for rtype, days in periods.items()},
    }
    url = reverse("admin:talowa_admin_systemsettings_change", args=[1])
    page = recovery.get(url)
    assert b'name="retention_missed_calls"' in page.content
    response = recovery.post(url, form)  # missed_calls is 30 > 20
    assert b"30 days is outside the allowed range, 1 to 20 days" in response.content
    assert SystemSettings.load().default_retention_periods["missed_calls"] == 30
    response = recovery.post(url, {**form, "retention_missed_calls": "15"})
    assert response.status_code == 302
    assert SystemSettings.load().default_retention_periods["missed_calls"] == 15
