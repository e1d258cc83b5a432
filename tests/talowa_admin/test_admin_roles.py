"""Every admin page as each role: who sees what, and who can change nothing."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from talowa_admin.models import DEFAULT_RETENTION_PERIODS as DEFAULT_RETENTION
from talowa_admin.models import SystemSettings
from talowa_admin.roles import BACKUP_OPERATOR, BACKUP_VIEWER, RECOVERY_ADMIN

pytestmark = pytest.mark.django_db

VIEWER_SEES = {
    "backups.backup",
    "backups.backupschedule",
    "backups.backupschedulerun",
    "backups.exportjob",
    "backups.storagemigration",
    "django_q.failure",
    "django_q.schedule",
    "django_q.success",
    "recovery.recoveryplan",
    "recovery.recoveryrun",
    "recovery.restoredrill",
    "recovery.maintenancerun",
    "recovery.healthsnapshot",
    "retention.retentionpolicy",
    "talowa_admin.systemsettings",
}
OPERATOR_SEES = VIEWER_SEES | {"talowa_admin.auditevent", "auth.user"}
RECOVERY_SEES = OPERATOR_SEES | {
    "messaging.callrecord",
    "messaging.conversation",
    "messaging.mediafile",
    "messaging.message",
    "messaging.participant",
    "messaging.tombstone",
    "retention.legalhold",
    "retention.legalbound",
    "retention.cleanuprun",
    "retention.archivebatch",
}
EXPECTED = {
    BACKUP_VIEWER: VIEWER_SEES,
    BACKUP_OPERATOR: OPERATOR_SEES,
    RECOVERY_ADMIN: RECOVERY_SEES,
}


def staff_client(client, django_user_model, role):
    user = django_user_model.objects.create_user(
        role.lower().replace(" ", "_"), password="x" * 12, is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return client


def changelist(label: str) -> str:
    app_label, model = label.split(".")
    return reverse(f"admin:{app_label}_{model}_changelist")


@pytest.mark.parametrize("role", list(EXPECTED))
def test_each_role_sees_exactly_its_pages(client, django_user_model, role):
    client = staff_client(client, django_user_model, role)
    assert client.get(reverse("admin:index")).status_code == 200
    for model in admin.site._registry:
        label = model._meta.label_lower
        response = client.get(changelist(label), follow=True)
        expected = 200 if label in EXPECTED[role] else 403
        assert response.status_code == expected, f"{role} on {label}"


def test_backup_viewer_cannot_change_anything(client, django_user_model):
    client = staff_client(client, django_user_model, BACKUP_VIEWER)
    SystemSettings.load()
    url = reverse("admin:talowa_admin_systemsettings_change", args=[1])
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    response = client.post(url, {"max_backups_per_user": 999})
    assert response.status_code == 403
    assert SystemSettings.load().max_backups_per_user == 10
    # Refused outright: a redirect (to the login page, or anywhere) would mean
    # the admin does not know who is asking or sends a viewer on elsewhere.
    for model in admin.site._registry:
        app_label, name = model._meta.label_lower.split(".")
        add = client.get(reverse(f"admin:{app_label}_{name}_add"))
        assert add.status_code == 403, (model._meta.label_lower, add.get("Location"))


def test_recovery_admin_changes_settings_through_the_service(client, django_user_model):
    from talowa_admin.models import AuditEvent

    client = staff_client(client, django_user_model, RECOVERY_ADMIN)
    url = reverse("admin:talowa_admin_systemsettings_change", args=[1])
    SystemSettings.load()
    form = {
        "default_backup_interval": "06:00:00",
        "enable_automatic_cleanup": "on",
        "max_backups_per_user": "20",
        "max_storage_per_user_0": "500",
        "max_storage_per_user_1": "MiB",
        **{f"retention_{kind}": str(days) for kind, days in DEFAULT_RETENTION.items()},
        "retention_call_history": "200",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content[:2000]
    current = SystemSettings.load()
    assert current.max_backups_per_user == 20
    assert current.max_storage_per_user == 500 * 1024 * 1024
    assert current.default_retention_periods["call_history"] == 200
    assert current.default_retention_periods["regular_messages"] == 365
    event = AuditEvent.objects.get(action="settings.change")
    assert event.source_address == "127.0.0.1"


def test_end_user_is_kept_out_of_the_admin(client, django_user_model):
    user = django_user_model.objects.create_user("asha", password="x" * 12)
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_audit_log_is_read_only_even_for_superusers(admin_client):
    from talowa_admin.audit import record_audit_event

    event = record_audit_event(action="backup.create")
    url = reverse("admin:talowa_admin_auditevent_change", args=[event.id])
    assert admin_client.get(url).status_code == 200
    assert admin_client.post(url, {"action": "forged"}).status_code == 403
    delete = reverse("admin:talowa_admin_auditevent_delete", args=[event.id])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
