"""The backup admin: back up now, verify, expire, the detail page, as each role."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backups.models import Backup
from backups.services import create_full_backup, create_incremental_backup
from backups.storage import object_store
from talowa_admin.models import AuditEvent
from talowa_admin.roles import BACKUP_OPERATOR, BACKUP_VIEWER, RECOVERY_ADMIN

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "admin:backups_backup_changelist"


def as_role(client, role_user, role):
    user = role_user(role)
    client.force_login(user)
    return user


def test_operator_backs_up_now_through_the_queue(client, role_user, world, sync_tasks):
    user = as_role(client, role_user, BACKUP_OPERATOR)
    page = client.get(reverse(CHANGELIST))
    assert b"Back up now" in page.content
    response = client.post(
        reverse("admin:backups_backup_back_up_now"), {"kind": "full"}, follow=True
    )
    assert b"was queued" in response.content
    backup = Backup.objects.get()
    assert backup.status == "completed" and backup.requested_by == user
    assert AuditEvent.objects.filter(action="backup.queue", actor=user).exists()
    assert AuditEvent.objects.filter(action="backup.create", actor=user).exists()
    # The activity panel shows the finished task.
    assert b"full backup by" in client.get(reverse(CHANGELIST)).content


def test_viewer_sees_history_but_cannot_act(client, role_user, world):
    create_full_backup()
    as_role(client, role_user, BACKUP_VIEWER)
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert b"Back up now" not in page.content
    assert b"verify_selected" not in page.content
    assert (
        client.post(
            reverse("admin:backups_backup_back_up_now"), {"kind": "full"}
        ).status_code
        == 403
    )
    assert Backup.objects.count() == 1


def test_verify_action_records_the_outcome(client, role_user, world, sync_tasks):
    backup = Backup.objects.get(pk=create_full_backup())
    operator = as_role(client, role_user, BACKUP_OPERATOR)
    client.post(
        reverse(CHANGELIST),
        {"action": "verify_selected", ACTION_CHECKBOX_NAME: [backup.pk]},
    )
    backup.refresh_from_db()
    assert backup.verify_ok is True
    # Who asked, for which backups, and the task that did it.
    queued = AuditEvent.objects.get(action="backup.verify_queue")
    assert queued.actor == operator
    assert queued.details["backups"] == [backup.pk] and queued.details["task"]


def test_expire_needs_a_recovery_admin_and_a_confirmation(client, role_user, world):
    backup = Backup.objects.get(pk=create_full_backup())
    form = {"action": "expire_selected", ACTION_CHECKBOX_NAME: [backup.pk]}
    as_role(client, role_user, BACKUP_OPERATOR)
    client.post(reverse(CHANGELIST), form)
    assert Backup.objects.get().status == "completed"  # not offered to operators

    as_role(client, role_user, RECOVERY_ADMIN)
    confirm = client.post(reverse(CHANGELIST), form)
    assert b"cannot be undone" in confirm.content
    assert Backup.objects.get().status == "completed"
    client.post(reverse(CHANGELIST), {**form, "confirmed": "yes"})
    backup.refresh_from_db()
    assert backup.status == "expired"
    assert not object_store().exists(backup.object_key)


def test_detail_page_shows_chain_and_manifest(client, role_user, world, monkeypatch):
    # "_2a" in an id reads as an escape to the admin: links must be quoted.
    tricky = "backup_20261126T084143_2a92480f"
    monkeypatch.setattr(Backup._meta.get_field("id"), "_get_default", lambda: tricky)
    backup = Backup.objects.get(pk=create_full_backup())
    assert backup.pk == tricky
    as_role(client, role_user, BACKUP_VIEWER)
    listing = client.get(reverse(CHANGELIST)).content.decode()
    url = reverse("admin:backups_backup_change", args=[quote(backup.pk)])
    assert f'href="{url}"' in listing
    page = client.get(url)
    content = page.content.decode()
    assert page.status_code == 200
    assert "source_engine" in content and "messaging.message" in content
    assert "Chain" in content


def test_changelist_queries_do_not_grow_with_rows(client, role_user, world):
    def listing_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            page = client.get(reverse(CHANGELIST))
        assert page.status_code == 200
        shown = page.content.decode().count('<input type="checkbox" name="_selected')
        assert shown == Backup.objects.count()  # every row is on the page
        return len(queries)

    as_role(client, role_user, BACKUP_OPERATOR)  # sees every column
    for _ in range(2):
        create_full_backup(user=world.asha)
    few = listing_queries()
    for user in (world.ravi, world.meena, world.ravi, world.meena):
        create_full_backup(user=user)
    create_incremental_backup(user=world.asha)
    assert listing_queries() == few
